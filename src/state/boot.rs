//! Telling a device reboot from a process restart (design rule 5).
//!
//! The kernel's boot id (`/proc/sys/kernel/random/boot_id`) changes on every boot and only then. A
//! new boot id means the device rebooted: `1 BOOT` is owed (plus `M Reboot` with the CommandKey
//! when the ACS had asked for the reboot, or `0 BOOTSTRAP` after a factory reset). The same boot id
//! means only the agent restarted: no BOOT, pending work resumes. The very first start owes
//! `0 BOOTSTRAP` and `1 BOOT`.

use super::{AgentState, event_raised, record};
use crate::cwmp::rpc::inform::event_code as ec;
use crate::records::proto::{self, record::Kind};

/// Where the boot id comes from: the kernel, or a file a test controls.
pub const KERNEL_BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

/// Reads the boot id from `path` (trimmed). An unreadable source is an error: guessing would
/// either invent reboots or hide them.
pub fn read_boot_id(path: &std::path::Path) -> std::io::Result<String> {
    let id = std::fs::read_to_string(path)?.trim().to_owned();
    if id.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is empty", path.display()),
        ));
    }
    Ok(id)
}

/// The reason of the failed `SessionEnded` a start writes for a session the dead process left
/// open.
pub const INTERRUPTED_SESSION_REASON: &str = "the agent stopped during the session";

/// The record a clean stop leaves (`reason`: "shutdown" or "reboot"): a start not preceded by one
/// follows a crash, a kill or a power loss (the post-mortem report shows it so).
pub fn stopped_record(reason: &str) -> proto::Record {
    record(Kind::AgentStopped(proto::AgentStopped {
        reason: reason.to_owned(),
    }))
}

/// The records to append when the agent starts, given what the kernel says now.
///
/// * A session that was in progress when the agent stopped ended in failure (its events are
///   kept or dropped by the failed-session rules, the retry count grows).
/// * First start: `BootObserved(new_boot)`, `0 BOOTSTRAP`, `1 BOOT`.
/// * New boot id: `BootObserved(new_boot)`, `0 BOOTSTRAP` when the reboot followed a factory
///   reset, `1 BOOT`, and `M Reboot <key>` when the ACS's Reboot was among its reasons.
/// * Same boot id: `BootObserved(not new)` for the post-mortem timeline, nothing owed.
pub fn startup_records(
    state: &AgentState,
    boot_id: &str,
    software_version: &str,
) -> Vec<proto::Record> {
    let mut out = Vec::new();
    if let Some(session_id) = &state.session_in_progress {
        out.push(record(Kind::SessionEnded(proto::SessionEnded {
            session_id: session_id.clone(),
            outcome: proto::SessionOutcome::Failed as i32,
            reason: INTERRUPTED_SESSION_REASON.to_owned(),
            retry_after_seconds: None,
            http_status: None,
            heartbeat: false,
        })));
    }
    let first_start = state.boot_id.is_empty();
    let new_boot = first_start || state.boot_id != boot_id;
    out.push(record(Kind::BootObserved(proto::BootObserved {
        boot_id: boot_id.to_owned(),
        software_version: software_version.to_owned(),
        new_boot,
    })));
    if first_start {
        out.push(event_raised(ec::BOOTSTRAP, ""));
        out.push(event_raised(ec::BOOT, ""));
    } else if new_boot {
        let pending = state.pending_reboot.as_ref();
        if pending.is_some_and(|r| r.factory_reset) {
            out.push(event_raised(ec::BOOTSTRAP, ""));
        }
        out.push(event_raised(ec::BOOT, ""));
        if let Some(r) = pending.filter(|r| r.reboot_rpc) {
            out.push(event_raised(ec::M_REBOOT, &r.command_key));
        }
    }
    out
}
