//! Builds the Inform a router sends on its first boot (BOOTSTRAP + BOOT), encodes it, decodes it
//! back, then decodes an InformResponse exactly as GenieACS sends it.
//!
//! Run: `cargo run --example inform_roundtrip`.

use tr069_client::cwmp::rpc::inform::{DeviceIdStruct, EventStruct, Inform, event_code};
use tr069_client::cwmp::{
    Body, CwmpNamespace, DateTime, Envelope, Header, Limits, ParameterValueStruct, Value,
};

fn main() {
    let inform = Inform {
        device_id: DeviceIdStruct {
            manufacturer: "Example Networks".into(),
            oui: "00D09E".into(),
            product_class: "HomeRouter".into(),
            serial_number: "EXN-2026-000042".into(),
        },
        event: vec![
            EventStruct::new(event_code::BOOTSTRAP, ""),
            EventStruct::new(event_code::BOOT, ""),
        ],
        max_envelopes: 1,
        current_time: DateTime::parse("2026-11-22T01:00:00Z").expect("valid dateTime"),
        retry_count: 0,
        parameter_list: vec![
            ParameterValueStruct::new("Device.RootDataModelVersion", Value::string("2.17")),
            ParameterValueStruct::new(
                "Device.DeviceInfo.HardwareVersion",
                Value::string("HR-1 rev B"),
            ),
            ParameterValueStruct::new("Device.DeviceInfo.SoftwareVersion", Value::string("1.4.2")),
            ParameterValueStruct::new("Device.DeviceInfo.ProvisioningCode", Value::string("")),
            ParameterValueStruct::new("Device.ManagementServer.ParameterKey", Value::string("")),
            ParameterValueStruct::new(
                "Device.ManagementServer.ConnectionRequestURL",
                Value::string("http://192.0.2.10:7547/cr/5f2c9a"),
            ),
            ParameterValueStruct::new(
                "Device.ManagementServer.AliasBasedAddressing",
                Value::boolean(false),
            ),
        ],
    };
    let header = Header {
        supported_cwmp_versions: Some("1.0,1.1,1.2,1.3,1.4".into()),
        ..Header::with_id("inform-1")
    };
    let envelope = Envelope::new(CwmpNamespace::Cwmp12, header, inform);

    let xml = envelope.encode();
    println!("{xml}\n");

    let decoded =
        Envelope::decode(xml.as_bytes(), &Limits::default()).expect("our own Inform decodes");
    assert_eq!(decoded, envelope);
    println!(
        "round trip OK: {} bytes, {} decoded back identical\n",
        xml.len(),
        decoded.body.name()
    );

    let genieacs = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap-env:Envelope \
        xmlns:soap-enc=\"http://schemas.xmlsoap.org/soap/encoding/\" xmlns:soap-env=\"http://schemas.xmlsoap.org/soap/envelope/\" \
        xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
        xmlns:cwmp=\"urn:dslforum-org:cwmp-1-2\"><soap-env:Header><cwmp:ID soap-env:mustUnderstand=\"1\">inform-1</cwmp:ID>\
        </soap-env:Header><soap-env:Body><cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse>\
        </soap-env:Body></soap-env:Envelope>";
    let response = Envelope::decode(genieacs.as_bytes(), &Limits::default())
        .expect("GenieACS InformResponse decodes");
    assert!(matches!(response.body, Body::InformResponse(_)));
    println!("GenieACS answered: {response:#?}");
}
