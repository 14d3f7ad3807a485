//! SetParameterAttributes (TR-069 §A.3.2.4): the ACS changes notification and access
//! attributes, ACS→CPE.
//!
//! Each SetParameterAttributesStruct names a parameter or a partial path (applying to every
//! parameter below it) and says, through the `…Change` flags, which attributes to change:
//!
//! * `Notification`: 0 off, 1 passive (the changed value rides along in the next Inform), 2
//!   active (the change starts a session with `4 VALUE CHANGE`); 3–6 are the CWMP 1.4
//!   Lightweight Notification variants. Refusing active notification on a parameter that
//!   changes too often, or turning off a forced one, is fault 9009 — the agent's decision.
//! * `AccessList`: `["Subscriber"]` lets LAN-side entities write the parameter; empty means only
//!   the ACS may.
//!
//! The call is atomic, the attributes survive reboots and are reset by a factory reset. The
//! response is empty.
//!
//! GenieACS always sends the `Notification` element, even with `NotificationChange` false, and
//! then leaves it empty (`<Notification></Notification>`, not a valid int): the value is ignored
//! in that case instead of faulting.

use crate::cwmp::decode_util as du;
use crate::cwmp::xml::{Element, Writer};
use crate::cwmp::{ArgError, ArgResult, Rpc};

/// The only AccessList entry the schemas define.
pub const SUBSCRIBER: &str = "Subscriber";

/// One attribute change (TR-069 SetParameterAttributesStruct).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SetParameterAttributesStruct {
    /// Parameter name or partial path, at most 256 characters.
    pub name: String,
    /// Whether `notification` is to be applied.
    pub notification_change: bool,
    /// 0..=6. `None` only when `notification_change` is false and the element was empty,
    /// absent or unreadable (it is then meaningless). `None` is written as `0`, which the schema
    /// accepts, and read back as `Some(0)`.
    pub notification: Option<i32>,
    /// Whether `access_list` is to be applied.
    pub access_list_change: bool,
    /// Entities besides the ACS allowed to write: empty or `["Subscriber"]`; each at most 64
    /// characters.
    pub access_list: Vec<String>,
}

/// ACS→CPE request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SetParameterAttributes {
    /// At least one entry (schema minOccurs 1; an empty list is still read).
    pub parameter_list: Vec<SetParameterAttributesStruct>,
}

/// CPE→ACS response: no arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SetParameterAttributesResponse;

/// Writes an `AccessList` `xsd:string[]` (shared with GetParameterAttributesResponse).
pub(crate) fn encode_access_list(w: &mut Writer, list: &[String]) {
    w.open_array("AccessList", "xsd:string", list.len());
    for entry in list {
        w.text_element("string", entry);
    }
    w.close("AccessList");
}

/// Reads an `AccessList`: absent means empty; each entry at most 64 characters.
pub(crate) fn decode_access_list(el: &Element) -> ArgResult<Vec<String>> {
    du::opt_array(el, "AccessList")
        .iter()
        .map(|i| {
            let s = i.trimmed_text();
            du::check_len("AccessList", s, 64)?;
            Ok(s.to_owned())
        })
        .collect()
}

/// Reads a required Notification value and checks it is in 0..=6.
pub(crate) fn decode_notification(el: &Element) -> ArgResult<i32> {
    let n = du::i32_child(el, "Notification")?;
    if !(0..=6).contains(&n) {
        return Err(ArgError::invalid(
            "Notification",
            format!("{n} is not in 0..=6"),
        ));
    }
    Ok(n)
}

impl SetParameterAttributesStruct {
    fn encode(&self, w: &mut Writer) {
        w.open("SetParameterAttributesStruct");
        w.text_element("Name", &self.name);
        w.bool_element("NotificationChange", self.notification_change);
        w.number_element("Notification", self.notification.unwrap_or(0));
        w.bool_element("AccessListChange", self.access_list_change);
        encode_access_list(w, &self.access_list);
        w.close("SetParameterAttributesStruct");
    }

    fn decode(el: &Element) -> ArgResult<SetParameterAttributesStruct> {
        let notification_change = du::bool_child(el, "NotificationChange")?;
        let notification = if notification_change {
            Some(decode_notification(el)?)
        } else {
            // Meaningless when not to be changed: keep a readable value, ignore anything else.
            el.child("Notification")
                .and_then(|n| n.trimmed_text().parse::<i32>().ok())
                .filter(|n| (0..=6).contains(n))
        };
        Ok(SetParameterAttributesStruct {
            name: du::bounded_string(el, "Name", 256)?,
            notification_change,
            notification,
            access_list_change: du::bool_child(el, "AccessListChange")?,
            access_list: decode_access_list(el)?,
        })
    }
}

impl Rpc for SetParameterAttributes {
    const NAME: &'static str = "SetParameterAttributes";

    fn encode_args(&self, w: &mut Writer) {
        w.open_array(
            "ParameterList",
            "cwmp:SetParameterAttributesStruct",
            self.parameter_list.len(),
        );
        for p in &self.parameter_list {
            p.encode(w);
        }
        w.close("ParameterList");
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        Ok(SetParameterAttributes {
            parameter_list: du::array(el, "ParameterList")?
                .iter()
                .map(SetParameterAttributesStruct::decode)
                .collect::<ArgResult<Vec<_>>>()?,
        })
    }
}

impl Rpc for SetParameterAttributesResponse {
    const NAME: &'static str = "SetParameterAttributesResponse";

    fn encode_args(&self, _w: &mut Writer) {}

    fn decode_args(_el: &Element) -> ArgResult<Self> {
        Ok(SetParameterAttributesResponse)
    }
}

#[cfg(test)]
pub(crate) mod arb {
    use super::*;
    use crate::cwmp::rpc::arb_util::param_name;
    use proptest::prelude::*;

    /// A schema-valid access list: empty or `["Subscriber"]`.
    pub fn access_list() -> impl Strategy<Value = Vec<String>> {
        prop_oneof![Just(Vec::new()), Just(vec![SUBSCRIBER.to_owned()])]
    }

    pub fn set_parameter_attributes_struct() -> impl Strategy<Value = SetParameterAttributesStruct>
    {
        (
            param_name(),
            any::<bool>(),
            0..=2i32,
            any::<bool>(),
            access_list(),
        )
            .prop_map(
                |(name, notification_change, notification, access_list_change, access_list)| {
                    SetParameterAttributesStruct {
                        name,
                        notification_change,
                        notification: Some(notification),
                        access_list_change,
                        access_list,
                    }
                },
            )
    }

    pub fn request() -> impl Strategy<Value = SetParameterAttributes> {
        proptest::collection::vec(set_parameter_attributes_struct(), 1..4)
            .prop_map(|parameter_list| SetParameterAttributes { parameter_list })
    }

    pub fn response() -> impl Strategy<Value = SetParameterAttributesResponse> {
        Just(SetParameterAttributesResponse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cwmp::rpc::Body;
    use crate::cwmp::rpc::arb_util::{decode_ok, expect_invalid_arguments, genieacs_envelope};

    fn request(items: &str, n: usize) -> String {
        genieacs_envelope(
            "9",
            &format!(
                "<cwmp:SetParameterAttributes><ParameterList soap-enc:arrayType=\"cwmp:SetParameterAttributesStruct[{n}]\">\
                 {items}</ParameterList></cwmp:SetParameterAttributes>"
            ),
        )
    }

    #[test]
    fn decodes_genieacs_request_with_empty_notification() {
        let env = decode_ok(&request(
            "<SetParameterAttributesStruct><Name>Device.WiFi.SSID.1.SSID</Name>\
             <NotificationChange>true</NotificationChange><Notification>2</Notification>\
             <AccessListChange>false</AccessListChange><AccessList soap-enc:arrayType=\"xsd:string[0]\"></AccessList>\
             </SetParameterAttributesStruct>\
             <SetParameterAttributesStruct><Name>Device.DeviceInfo.</Name>\
             <NotificationChange>false</NotificationChange><Notification></Notification>\
             <AccessListChange>true</AccessListChange><AccessList soap-enc:arrayType=\"xsd:string[1]\">\
             <string>Subscriber</string></AccessList></SetParameterAttributesStruct>",
            2,
        ));
        assert_eq!(env.header.id.as_deref(), Some("9"));
        assert_eq!(
            env.body,
            Body::SetParameterAttributes(SetParameterAttributes {
                parameter_list: vec![
                    SetParameterAttributesStruct {
                        name: "Device.WiFi.SSID.1.SSID".into(),
                        notification_change: true,
                        notification: Some(2),
                        access_list_change: false,
                        access_list: vec![],
                    },
                    SetParameterAttributesStruct {
                        name: "Device.DeviceInfo.".into(),
                        notification_change: false,
                        notification: None,
                        access_list_change: true,
                        access_list: vec![SUBSCRIBER.into()],
                    },
                ],
            })
        );
    }

    #[test]
    fn empty_notification_to_be_changed_is_9003() {
        let err = expect_invalid_arguments(&request(
            "<SetParameterAttributesStruct><Name>Device.A</Name><NotificationChange>true</NotificationChange>\
             <Notification></Notification><AccessListChange>false</AccessListChange>\
             <AccessList soap-enc:arrayType=\"xsd:string[0]\"></AccessList></SetParameterAttributesStruct>",
            1,
        ));
        assert!(
            matches!(err, ArgError::Invalid { ref name, .. } if name == "Notification"),
            "{err:?}"
        );
    }

    #[test]
    fn out_of_range_notification_is_9003() {
        let err = expect_invalid_arguments(&request(
            "<SetParameterAttributesStruct><Name>Device.A</Name><NotificationChange>1</NotificationChange>\
             <Notification>7</Notification><AccessListChange>0</AccessListChange></SetParameterAttributesStruct>",
            1,
        ));
        assert!(
            matches!(err, ArgError::Invalid { ref name, .. } if name == "Notification"),
            "{err:?}"
        );
    }

    #[test]
    fn missing_access_list_change_is_9003() {
        let err = expect_invalid_arguments(&request(
            "<SetParameterAttributesStruct><Name>Device.A</Name><NotificationChange>false</NotificationChange>\
             <Notification>0</Notification></SetParameterAttributesStruct>",
            1,
        ));
        assert_eq!(err, ArgError::missing("AccessListChange"));
    }

    #[test]
    fn missing_parameter_list_is_9003() {
        let err = expect_invalid_arguments(&genieacs_envelope(
            "10",
            "<cwmp:SetParameterAttributes></cwmp:SetParameterAttributes>",
        ));
        assert_eq!(err, ArgError::missing("ParameterList"));
    }

    #[test]
    fn none_is_written_as_zero() {
        let mut w = Writer::new();
        SetParameterAttributes {
            parameter_list: vec![SetParameterAttributesStruct {
                name: "Device.A".into(),
                notification_change: false,
                notification: None,
                access_list_change: false,
                access_list: vec![],
            }],
        }
        .encode_args(&mut w);
        assert_eq!(
            w.as_str(),
            "<ParameterList soap-enc:arrayType=\"cwmp:SetParameterAttributesStruct[1]\"><SetParameterAttributesStruct>\
             <Name>Device.A</Name><NotificationChange>false</NotificationChange><Notification>0</Notification>\
             <AccessListChange>false</AccessListChange><AccessList soap-enc:arrayType=\"xsd:string[0]\"></AccessList>\
             </SetParameterAttributesStruct></ParameterList>"
        );
    }

    proptest::proptest! {
        #[test]
        fn round_trips(request in super::arb::request(), response in super::arb::response()) {
            crate::cwmp::rpc::arb_util::round_trip(request.into())?;
            crate::cwmp::rpc::arb_util::round_trip(response.into())?;
        }
    }
}
