//! How the ACS reaches the device behind a NAT: the values the core journals when the edge's
//! STUN binding or XMPP connection reports something new.
//!
//! * `Device.ManagementServer.UDPConnectionRequestAddress` and `NATDetected` are what the STUN
//!   binding learned. A new address is notified actively whatever the ACS set (without it the
//!   ACS sends its UDP connection requests to a binding that no longer exists): a
//!   `ValueChanged` and `4 VALUE CHANGE`, so a session starts at once.
//! * `Device.ManagementServer.ConnReqJabberID` is the JID the XMPP server bound, while the
//!   connection requests arrive over XMPP (TR-181: kept while the connection is lost, cleared when
//!   XMPP connection requests are off, no VALUE CHANGE when it comes back the same). It is
//!   actively notified by default (`forceDefaultEnabled`); the ACS may lower that.
//!
//! The values are journaled (`ParametersSet`, source Host) like every other value, so a restart
//! compares against what the ACS was last told.

use crate::connection_request::stun::{Mapping, udp_address_text};
use crate::cwmp::rpc::inform::event_code as ec;
use crate::datamodel::model::{effective_notification, param_def};
use crate::records::proto::{self, Record, record::Kind};
use crate::state::settings::Settings;
use crate::state::{AgentState, event_raised, record};

pub const UDP_CONNECTION_REQUEST_ADDRESS: &str =
    "Device.ManagementServer.UDPConnectionRequestAddress";
pub const NAT_DETECTED: &str = "Device.ManagementServer.NATDetected";
pub const CONN_REQ_JABBER_ID: &str = "Device.ManagementServer.ConnReqJabberID";

/// What the XMPP connection reports to the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmppReport {
    /// `Device.XMPP.Connection.1.Status` (one of `registry::XMPP_STATUSES`).
    pub status: &'static str,
    /// The full JID the server bound, once `Enabled`.
    pub jabber_id: Option<String>,
    pub tls_established: bool,
}

/// A journaled host value (the registry default when never written).
pub fn stored(state: &AgentState, name: &str, default: &str) -> String {
    state
        .parameters
        .get(name)
        .map(|p| p.value.clone())
        .unwrap_or_else(|| default.to_owned())
}

fn host_values(values: Vec<(&str, String, &str)>) -> Record {
    record(Kind::ParametersSet(proto::ParametersSet {
        values: values
            .into_iter()
            .map(|(name, value, xsd_type)| proto::ParameterValue {
                name: name.to_owned(),
                value,
                xsd_type: xsd_type.to_owned(),
            })
            .collect(),
        parameter_key: String::new(),
        source: proto::ChangeSource::Host as i32,
        status: 0,
    }))
}

fn value_changed(name: &str, value: &str, notification: u32) -> Record {
    record(Kind::ValueChanged(proto::ValueChanged {
        name: name.to_owned(),
        value: value.to_owned(),
        notification,
    }))
}

/// The records for what the STUN binding reports (`None`: STUN is off, nothing is mapped).
/// Empty when nothing changed.
pub fn nat_binding_records(state: &AgentState, mapping: Option<Mapping>) -> Vec<Record> {
    let (address, nat) = match mapping {
        Some(m) => (udp_address_text(m.mapped), m.nat_detected),
        None => (String::new(), false),
    };
    let nat_text = nat.to_string();
    let address_changed = stored(state, UDP_CONNECTION_REQUEST_ADDRESS, "") != address;
    let nat_changed = stored(state, NAT_DETECTED, "false") != nat_text;
    let mut values = Vec::new();
    if address_changed {
        values.push((
            UDP_CONNECTION_REQUEST_ADDRESS,
            address.clone(),
            "xsd:string",
        ));
    }
    if nat_changed {
        values.push((NAT_DETECTED, nat_text, "xsd:boolean"));
    }
    if values.is_empty() {
        return Vec::new();
    }
    let mut records = vec![host_values(values)];
    if address_changed {
        records.push(value_changed(UDP_CONNECTION_REQUEST_ADDRESS, &address, 2));
        records.push(event_raised(ec::VALUE_CHANGE, ""));
    }
    records
}

/// The records for ConnReqJabberID after an XMPP report. Empty when nothing changes.
pub fn jabber_id_records(
    state: &AgentState,
    settings: &Settings,
    report: &XmppReport,
) -> Vec<Record> {
    let current = stored(state, CONN_REQ_JABBER_ID, "");
    let wanted = if !settings.xmpp_connection_requests() {
        String::new()
    } else {
        match (&report.jabber_id, report.status) {
            (Some(jid), "Enabled") => jid.clone(),
            // Lost, reconnecting: the value stays until the connection is back.
            _ => return Vec::new(),
        }
    };
    if wanted == current {
        return Vec::new();
    }
    let mut records = vec![host_values(vec![(
        CONN_REQ_JABBER_ID,
        wanted.clone(),
        "xsd:string",
    )])];
    let notification = param_def(CONN_REQ_JABBER_ID)
        .map(|def| effective_notification(def, state, CONN_REQ_JABBER_ID))
        .unwrap_or(2);
    if notification > 0 {
        records.push(value_changed(CONN_REQ_JABBER_ID, &wanted, notification));
    }
    if notification == 2 {
        records.push(event_raised(ec::VALUE_CHANGE, ""));
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(state: &mut AgentState, records: &[Record]) {
        for r in records {
            let seq = state.last_seq + 1;
            state.apply(seq, 0, r);
        }
    }

    fn mapping(addr: &str, nat: bool) -> Option<Mapping> {
        Some(Mapping {
            mapped: addr.parse().unwrap(),
            nat_detected: nat,
        })
    }

    #[test]
    fn a_new_udp_address_is_journaled_and_notified_actively() {
        let mut state = AgentState::default();
        let records = nat_binding_records(&state, mapping("203.0.113.5:40000", true));
        assert_eq!(records.len(), 3, "{records:?}");
        fold(&mut state, &records);
        assert_eq!(
            stored(&state, UDP_CONNECTION_REQUEST_ADDRESS, ""),
            "203.0.113.5:40000"
        );
        assert_eq!(stored(&state, NAT_DETECTED, "false"), "true");
        assert_eq!(
            state.changed_parameters.get(UDP_CONNECTION_REQUEST_ADDRESS),
            Some(&"203.0.113.5:40000".to_owned())
        );
        assert!(state.has_owed_events());
        // The same binding again: nothing to write.
        assert!(nat_binding_records(&state, mapping("203.0.113.5:40000", true)).is_empty());
        // The NAT moved the binding.
        let moved = nat_binding_records(&state, mapping("203.0.113.5:41000", true));
        assert_eq!(moved.len(), 3);
        fold(&mut state, &moved);
        // STUN off: the address is withdrawn, NATDetected false.
        let off = nat_binding_records(&state, None);
        fold(&mut state, &off);
        assert_eq!(stored(&state, UDP_CONNECTION_REQUEST_ADDRESS, ""), "");
        assert_eq!(stored(&state, NAT_DETECTED, "false"), "false");
    }

    #[test]
    fn nat_detected_alone_changes_without_a_session() {
        let mut state = AgentState::default();
        let first = nat_binding_records(&state, mapping("10.0.0.2:7547", false));
        fold(&mut state, &first);
        let records = nat_binding_records(&state, mapping("10.0.0.2:7547", true));
        assert_eq!(records.len(), 1, "only the value: {records:?}");
    }

    #[test]
    fn conn_req_jabber_id_follows_the_bound_jid() {
        let mut state = AgentState::default();
        let mut settings = Settings::default();
        settings.set_journaled("xmpp-enabled", "true");
        let online = |jid: &str| XmppReport {
            status: "Enabled",
            jabber_id: Some(jid.to_owned()),
            tls_established: true,
        };
        let records = jabber_id_records(&state, &settings, &online("cpe@acs.test/cwmp"));
        assert_eq!(records.len(), 3, "{records:?}");
        fold(&mut state, &records);
        // Lost and back with the same JID: no change, no VALUE CHANGE.
        let lost = XmppReport {
            status: "Connecting",
            jabber_id: None,
            tls_established: false,
        };
        assert!(jabber_id_records(&state, &settings, &lost).is_empty());
        assert!(jabber_id_records(&state, &settings, &online("cpe@acs.test/cwmp")).is_empty());
        // XMPP connection requests off: cleared.
        settings.set_journaled("connection-request-xmpp-connection", "");
        let cleared = jabber_id_records(&state, &settings, &lost);
        fold(&mut state, &cleared);
        assert_eq!(stored(&state, CONN_REQ_JABBER_ID, ""), "");
    }

    #[test]
    fn passive_notification_of_conn_req_jabber_id_starts_no_session() {
        let mut state = AgentState::default();
        fold(
            &mut state,
            &[record(Kind::AttributesSet(proto::AttributesSet {
                items: vec![proto::AttributeItem {
                    name: CONN_REQ_JABBER_ID.into(),
                    notification_change: true,
                    notification: 1,
                    ..Default::default()
                }],
            }))],
        );
        let mut settings = Settings::default();
        settings.set_journaled("xmpp-enabled", "true");
        let records = jabber_id_records(
            &state,
            &settings,
            &XmppReport {
                status: "Enabled",
                jabber_id: Some("cpe@acs.test/x".into()),
                tls_established: true,
            },
        );
        assert_eq!(
            records.len(),
            2,
            "value + ValueChanged, no event: {records:?}"
        );
    }
}
