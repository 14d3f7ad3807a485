//! Inform (TR-069 §A.3.3.1): the first message of every session, CPE→ACS.
//!
//! It says who the CPE is (DeviceId), why it calls (the Event list: `0 BOOTSTRAP`, `1 BOOT`,
//! `2 PERIODIC`, …, each with the CommandKey that caused it), how many sessions failed before
//! this one (RetryCount, 0 only when the previous session succeeded), and carries the
//! forced-inform parameters plus every notified parameter that changed. The ACS answers
//! InformResponse; only then are the events delivered.

use crate::cwmp::datetime::DateTime;
use crate::cwmp::decode_util as du;
use crate::cwmp::value::ParameterValueStruct;
use crate::cwmp::xml::{Element, Writer};
use crate::cwmp::{ArgError, ArgResult, Rpc};

/// Standard event codes (cwmp-1-2.xsd EventCodeType documentation, TR-069 §3.7.1.5).
pub mod event_code {
    pub const BOOTSTRAP: &str = "0 BOOTSTRAP";
    pub const BOOT: &str = "1 BOOT";
    pub const PERIODIC: &str = "2 PERIODIC";
    pub const SCHEDULED: &str = "3 SCHEDULED";
    pub const VALUE_CHANGE: &str = "4 VALUE CHANGE";
    pub const KICKED: &str = "5 KICKED";
    pub const CONNECTION_REQUEST: &str = "6 CONNECTION REQUEST";
    pub const TRANSFER_COMPLETE: &str = "7 TRANSFER COMPLETE";
    pub const DIAGNOSTICS_COMPLETE: &str = "8 DIAGNOSTICS COMPLETE";
    pub const REQUEST_DOWNLOAD: &str = "9 REQUEST DOWNLOAD";
    pub const AUTONOMOUS_TRANSFER_COMPLETE: &str = "10 AUTONOMOUS TRANSFER COMPLETE";
    pub const DU_STATE_CHANGE_COMPLETE: &str = "11 DU STATE CHANGE COMPLETE";
    pub const AUTONOMOUS_DU_STATE_CHANGE_COMPLETE: &str = "12 AUTONOMOUS DU STATE CHANGE COMPLETE";
    pub const WAKEUP: &str = "13 WAKEUP";
    /// TR-069 Amendment 6 (HeartbeatPolicy); in none of the published CWMP XSDs' comments.
    pub const HEARTBEAT: &str = "14 HEARTBEAT";
    pub const M_REBOOT: &str = "M Reboot";
    pub const M_SCHEDULE_INFORM: &str = "M ScheduleInform";
    pub const M_DOWNLOAD: &str = "M Download";
    pub const M_SCHEDULE_DOWNLOAD: &str = "M ScheduleDownload";
    pub const M_UPLOAD: &str = "M Upload";
    pub const M_CHANGE_DU_STATE: &str = "M ChangeDUState";
}

/// Who the CPE is (TR-069 DeviceIdStruct).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct DeviceIdStruct {
    /// At most 64 characters.
    pub manufacturer: String,
    /// Exactly six upper-case hex digits (`[0-9A-F]{6}`).
    pub oui: String,
    /// At most 64 characters; may be empty.
    pub product_class: String,
    /// At most 64 characters.
    pub serial_number: String,
}

/// One event: its code (at most 64 characters) and the CommandKey that caused it (at most 32;
/// empty when the event has none).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventStruct {
    pub event_code: String,
    pub command_key: String,
}

impl EventStruct {
    pub fn new(event_code: impl Into<String>, command_key: impl Into<String>) -> EventStruct {
        EventStruct {
            event_code: event_code.into(),
            command_key: command_key.into(),
        }
    }
}

/// CPE→ACS request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Inform {
    pub device_id: DeviceIdStruct,
    /// At most 64 events.
    pub event: Vec<EventStruct>,
    /// Vestigial: always 1.
    pub max_envelopes: u32,
    pub current_time: DateTime,
    pub retry_count: u32,
    pub parameter_list: Vec<ParameterValueStruct>,
}

/// ACS→CPE response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InformResponse {
    /// Vestigial; ignored by the CPE.
    pub max_envelopes: u32,
}

impl Rpc for Inform {
    const NAME: &'static str = "Inform";

    fn encode_args(&self, w: &mut Writer) {
        w.open("DeviceId");
        w.text_element("Manufacturer", &self.device_id.manufacturer);
        w.text_element("OUI", &self.device_id.oui);
        w.text_element("ProductClass", &self.device_id.product_class);
        w.text_element("SerialNumber", &self.device_id.serial_number);
        w.close("DeviceId");
        w.open_array("Event", "cwmp:EventStruct", self.event.len());
        for e in &self.event {
            w.open("EventStruct");
            w.text_element("EventCode", &e.event_code);
            w.text_element("CommandKey", &e.command_key);
            w.close("EventStruct");
        }
        w.close("Event");
        w.number_element("MaxEnvelopes", self.max_envelopes);
        w.display_element("CurrentTime", self.current_time);
        w.number_element("RetryCount", self.retry_count);
        ParameterValueStruct::encode_list(w, "ParameterList", &self.parameter_list);
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        let device = du::req(el, "DeviceId")?;
        let device_id = DeviceIdStruct {
            manufacturer: du::opt_bounded_string(device, "Manufacturer", 64)?,
            oui: du::opt_bounded_string(device, "OUI", 6)?,
            product_class: du::opt_bounded_string(device, "ProductClass", 64)?,
            serial_number: du::opt_bounded_string(device, "SerialNumber", 64)?,
        };
        let events = du::array(el, "Event")?;
        if events.len() > 64 {
            return Err(ArgError::invalid("Event", "more than 64 events"));
        }
        let event = events
            .iter()
            .map(|e| {
                Ok(EventStruct {
                    event_code: du::bounded_string(e, "EventCode", 64)?,
                    command_key: du::opt_bounded_string(e, "CommandKey", 32)?,
                })
            })
            .collect::<ArgResult<Vec<_>>>()?;
        Ok(Inform {
            device_id,
            event,
            max_envelopes: du::opt_u32(el, "MaxEnvelopes")?.unwrap_or(1),
            current_time: du::opt_datetime(el, "CurrentTime")?,
            retry_count: du::opt_u32(el, "RetryCount")?.unwrap_or(0),
            parameter_list: ParameterValueStruct::decode_list(du::opt_array(el, "ParameterList"))?,
        })
    }
}

impl Rpc for InformResponse {
    const NAME: &'static str = "InformResponse";

    fn encode_args(&self, w: &mut Writer) {
        w.number_element("MaxEnvelopes", self.max_envelopes);
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        // Vestigial and sometimes omitted or empty: never fail a session over it.
        Ok(InformResponse {
            max_envelopes: du::opt_u32(el, "MaxEnvelopes").ok().flatten().unwrap_or(1),
        })
    }
}

#[cfg(test)]
pub(crate) mod arb {
    use super::*;
    use crate::cwmp::rpc::arb_util::{
        command_key, date_time, parameter_value_struct, short_string,
    };
    use proptest::prelude::*;

    pub fn event_struct() -> impl Strategy<Value = EventStruct> {
        (
            prop_oneof![
                Just(event_code::BOOT.to_owned()),
                Just(event_code::M_REBOOT.to_owned()),
                "X [0-9A-F]{6} [A-Za-z]{1,10}",
            ],
            command_key(),
        )
            .prop_map(|(event_code, command_key)| EventStruct {
                event_code,
                command_key,
            })
    }

    pub fn request() -> impl Strategy<Value = Inform> {
        (
            (
                short_string(64),
                "[0-9A-F]{6}",
                short_string(64),
                short_string(64),
            ),
            proptest::collection::vec(event_struct(), 0..4),
            any::<u32>(),
            date_time(),
            any::<u32>(),
            proptest::collection::vec(parameter_value_struct(), 0..4),
        )
            .prop_map(
                |(
                    (manufacturer, oui, product_class, serial_number),
                    event,
                    max_envelopes,
                    current_time,
                    retry_count,
                    parameter_list,
                )| Inform {
                    device_id: DeviceIdStruct {
                        manufacturer,
                        oui,
                        product_class,
                        serial_number,
                    },
                    event,
                    max_envelopes,
                    current_time,
                    retry_count,
                    parameter_list,
                },
            )
    }

    pub fn response() -> impl Strategy<Value = InformResponse> {
        any::<u32>().prop_map(|max_envelopes| InformResponse { max_envelopes })
    }
}
