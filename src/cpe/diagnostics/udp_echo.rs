//! Device.IP.Diagnostics.UDPEchoConfig: the responder's configuration, from the data model.

use super::{interface_name, number, text};
use crate::datamodel::View;
use crate::diagnostics::UdpEchoConfig;

const O: &str = "Device.IP.Diagnostics.UDPEchoConfig.";

/// The responder to run: `None` while disabled or without a port.
pub fn config(view: &View) -> Option<UdpEchoConfig> {
    let p = |n: &str| format!("{O}{n}");
    if text(view, &p("Enable")) != "true" {
        return None;
    }
    let port = u16::try_from(number(view, &p("UDPPort"), 0))
        .ok()
        .filter(|&p| p != 0)?;
    Some(UdpEchoConfig {
        interface_name: interface_name(view, &p("Interface")),
        source: text(view, &p("SourceIPAddress")).trim().parse().ok(),
        port,
        echo_plus: text(view, &p("EchoPlusEnabled")) == "true",
    })
}
