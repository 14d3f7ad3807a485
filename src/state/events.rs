//! TR-069's event retention rules (§3.7.1.5; the spec digest §3 table), in one place.
//!
//! An event is owed from the moment it is raised until the ACS acknowledges it. What happens to an
//! owed event when a session fails, when the device reboots, or when a `0 BOOTSTRAP` wipes the
//! slate depends on its code; this module is the only place that knows.

use crate::cwmp::rpc::inform::event_code as ec;

/// How one event code behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRules {
    /// Single (at most one instance in an Inform) or multiple (one per occurrence, each with its
    /// own CommandKey: the `M …` method events).
    pub multiple: bool,
    /// Kept and retried after a failed session (`6 CONNECTION REQUEST` and `14 HEARTBEAT` are not).
    pub kept_on_failed_session: bool,
    /// Survives a device reboot (journaled and still owed after the new boot).
    pub kept_on_reboot: bool,
    /// Survives a new `0 BOOTSTRAP` (only `1 BOOT`: BOOTSTRAP and BOOT travel together).
    pub kept_on_bootstrap: bool,
}

/// The rules for `code`. Unknown vendor events (`X <OUI> …`) are treated like ordinary single
/// events that are retried and survive reboots — the conservative reading of "never lose what is
/// owed".
pub fn rules(code: &str) -> EventRules {
    let multiple = code.starts_with("M ");
    let base = EventRules {
        multiple,
        kept_on_failed_session: true,
        kept_on_reboot: true,
        kept_on_bootstrap: false,
    };
    match code {
        ec::BOOTSTRAP => EventRules {
            kept_on_bootstrap: true,
            ..base
        },
        // A reboot raises a fresh BOOT; the old one is not carried over.
        ec::BOOT => EventRules {
            kept_on_reboot: false,
            kept_on_bootstrap: true,
            ..base
        },
        ec::VALUE_CHANGE | ec::DIAGNOSTICS_COMPLETE | ec::WAKEUP => EventRules {
            kept_on_reboot: false,
            ..base
        },
        ec::CONNECTION_REQUEST | "14 HEARTBEAT" => EventRules {
            kept_on_failed_session: false,
            kept_on_reboot: false,
            ..base
        },
        _ => base,
    }
}

/// Whether an Inform's event list may carry another instance of `code` next to events with
/// the codes `owed`.
pub fn coalesces<'a>(code: &str, owed: impl IntoIterator<Item = &'a str>) -> bool {
    !rules(code).multiple && owed.into_iter().any(|c| c == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert!(!rules(ec::CONNECTION_REQUEST).kept_on_failed_session);
        assert!(rules(ec::PERIODIC).kept_on_failed_session && rules(ec::PERIODIC).kept_on_reboot);
        assert!(!rules(ec::BOOT).kept_on_reboot && rules(ec::BOOT).kept_on_bootstrap);
        assert!(rules(ec::M_REBOOT).multiple && rules(ec::M_REBOOT).kept_on_reboot);
        assert!(!rules(ec::VALUE_CHANGE).kept_on_reboot);
        assert!(!rules(ec::SCHEDULED).kept_on_bootstrap);
        assert!(rules("X 00000C Foo").kept_on_reboot);
        assert!(coalesces(ec::PERIODIC, [ec::PERIODIC]));
        assert!(!coalesces(ec::PERIODIC, [ec::BOOT]));
        assert!(!coalesces(ec::M_SCHEDULE_INFORM, [ec::M_SCHEDULE_INFORM]));
    }
}
