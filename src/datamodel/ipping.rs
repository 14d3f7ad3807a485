//! Device.IP.Diagnostics.IPPing: a real ping, run by the agent after the session that requested
//! it, with the system `ping` (iputils or BusyBox).
//!
//! CONTRACT (filled in by the host-provider work).

/// The IPPing inputs, as stored in the data model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingRequest {
    pub host: String,
    /// A TR-181 interface path, or empty for the routing table's choice. Resolved by the caller
    /// to a host interface name (`interface_name`).
    pub interface_name: Option<String>,
    pub repetitions: u32,
    /// Per-repetition timeout, milliseconds.
    pub timeout_ms: u32,
    pub data_block_size: u32,
    pub dscp: u32,
}

/// The IPPing results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingResult {
    /// The DiagnosticsState to set: Complete, Error_CannotResolveHostName, Error_Internal or
    /// Error_Other.
    pub state: &'static str,
    pub success_count: u32,
    pub failure_count: u32,
    /// Milliseconds, rounded; 0 when nothing answered.
    pub average_ms: u32,
    pub minimum_ms: u32,
    pub maximum_ms: u32,
}

/// Runs the ping; never fails (errors become an Error_* state).
pub async fn run_ping(request: &PingRequest) -> PingResult {
    let _ = request;
    unimplemented!("ipping: being written")
}
