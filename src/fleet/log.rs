//! What a device did, kept per device when the fleet is asked to (`FleetOptions::record`): the
//! evidence the chaos invariant checker needs besides what the ACS saw.

/// One device's history in this fleet process.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceLog {
    /// Agent starts so far (the first is 1).
    pub starts: u32,
    /// (session id, the start that ran it), in order.
    pub session_starts: Vec<(String, u32)>,
    /// How starts ended, other than by the fleet's shutdown.
    pub deaths: Vec<DeviceDeath>,
    /// Firmware applies: "<transfer id> <version>", in order.
    pub applies: Vec<String>,
    /// The core's folded state after its latest start-up or append: once the device has started
    /// again after a power cut, the fold of everything its journal kept.
    pub state: Option<crate::state::AgentState>,
}

/// One end of an agent start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceDeath {
    /// Which start (1-based) ended.
    pub start: u32,
    /// "reboot" (the ACS or a firmware upgrade asked) or "power cut".
    pub cause: &'static str,
    /// The next start is a new boot.
    pub new_boot: bool,
    pub at_ms: u64,
}
