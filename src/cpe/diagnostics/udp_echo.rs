//! Device.IP.Diagnostics.UDPEchoConfig: the responder's configuration, from the data model.

use super::{interface_name, number, text};
use crate::datamodel::View;
use crate::diagnostics::UdpEchoConfig;

// Spelled out rather than formatted from the object's path: the core reads them again after
// every batch of records that may change a parameter.
const ENABLE: &str = "Device.IP.Diagnostics.UDPEchoConfig.Enable";
const UDP_PORT: &str = "Device.IP.Diagnostics.UDPEchoConfig.UDPPort";
const INTERFACE: &str = "Device.IP.Diagnostics.UDPEchoConfig.Interface";
const SOURCE_IP_ADDRESS: &str = "Device.IP.Diagnostics.UDPEchoConfig.SourceIPAddress";
const ECHO_PLUS_ENABLED: &str = "Device.IP.Diagnostics.UDPEchoConfig.EchoPlusEnabled";

/// The responder to run: `None` while disabled or without a port.
pub fn config(view: &View) -> Option<UdpEchoConfig> {
    if text(view, ENABLE) != "true" {
        return None;
    }
    let port = u16::try_from(number(view, UDP_PORT, 0))
        .ok()
        .filter(|&p| p != 0)?;
    Some(UdpEchoConfig {
        interface_name: interface_name(view, INTERFACE),
        source: text(view, SOURCE_IP_ADDRESS).trim().parse().ok(),
        port,
        echo_plus: text(view, ECHO_PLUS_ENABLED) == "true",
    })
}
