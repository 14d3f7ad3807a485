use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use super::*;
use crate::cwmp::rpc::add_object::AddObject;
use crate::cwmp::rpc::delete_object::DeleteObject;
use crate::cwmp::rpc::get_parameter_attributes::GetParameterAttributes;
use crate::cwmp::rpc::get_parameter_names::GetParameterNames;
use crate::cwmp::rpc::get_parameter_values::GetParameterValues;
use crate::cwmp::rpc::get_rpc_methods::GetRpcMethods;
use crate::cwmp::rpc::reboot::Reboot;
use crate::cwmp::rpc::schedule_inform::ScheduleInform;
use crate::cwmp::rpc::set_parameter_attributes::{
    SetParameterAttributes, SetParameterAttributesStruct,
};
use crate::cwmp::rpc::set_parameter_values::SetParameterValues;
use crate::cwmp::{ParameterValueStruct, Value, XsdType};
use crate::datamodel::DeviceIdentity;
use crate::datamodel::host::{HostInterface, InterfaceStats, Ipv4Entry, StaticHost};
use crate::records::proto::{self, record::Kind};

fn host() -> StaticHost {
    StaticHost {
        uptime_secs: 4242,
        memory_kib: (262_144, 100_000),
        cpu_usage_percent: 7,
        time_synchronized: Some(true),
        interfaces: vec![
            HostInterface {
                name: "lo".into(),
                index: 1,
                is_loopback: true,
                admin_up: true,
                status: "Up",
                mtu: 65_536,
                ipv4: vec![Ipv4Entry {
                    address: Ipv4Addr::LOCALHOST,
                    prefix_len: 8,
                }],
                ..Default::default()
            },
            HostInterface {
                name: "eth0".into(),
                index: 2,
                is_ethernet: true,
                admin_up: true,
                status: "Up",
                mac: "02:00:00:aa:bb:cc".into(),
                mtu: 1500,
                speed_mbps: Some(1000),
                duplex: Some("Full"),
                upstream: true,
                stats: InterfaceStats {
                    bytes_sent: 10,
                    bytes_received: 20,
                    ..Default::default()
                },
                ipv4: vec![Ipv4Entry {
                    address: Ipv4Addr::new(192, 0, 2, 10),
                    prefix_len: 24,
                }],
                ..Default::default()
            },
        ],
        ..Default::default()
    }
}

struct Fixture {
    model: DataModel,
    factory: BTreeMap<String, String>,
    state: AgentState,
    seq: u64,
}

impl Fixture {
    fn new() -> Fixture {
        let identity = DeviceIdentity {
            manufacturer: "Example".into(),
            oui: "00000C".into(),
            product_class: "Router".into(),
            serial_number: "SN1".into(),
            software_version: "7.14".into(),
            ..Default::default()
        };
        let mut factory = BTreeMap::new();
        factory.insert("acs-url".to_owned(), "http://acs.example/".to_owned());
        factory.insert("password".to_owned(), "secret".to_owned());
        Fixture {
            model: DataModel::new(identity, Arc::new(host())),
            factory,
            state: AgentState::default(),
            seq: 0,
        }
    }

    /// Handles one request as a session would: the records are folded before the next one.
    fn call(&mut self, request: Body) -> Handled {
        let state = self.state.clone();
        let mut handler = AcsRequestHandler {
            model: &self.model,
            factory_settings: &self.factory,
            settings: None,
            connection_request_url: "http://192.0.2.10:7547/cr",
            xmpp: &crate::datamodel::XmppLive::default(),
            state: &state,
            transfers: TransferSupport {
                firmware: true,
                oui: "00000C".into(),
            },
            externals: &crate::datamodel::external::RunProviders,
            udp_echo: Default::default(),
        };
        let out = handler.handle(&request, 1_700_000_000_000);
        for r in &out.records {
            self.seq += 1;
            self.state.apply(self.seq, 1_700_000_000_000, r);
        }
        out
    }

    fn gpv(&mut self, names: &[&str]) -> Result<Vec<ParameterValueStruct>, u32> {
        match self
            .call(Body::GetParameterValues(GetParameterValues {
                parameter_names: names.iter().map(|n| (*n).to_owned()).collect(),
            }))
            .response
        {
            Body::GetParameterValuesResponse(r) => Ok(r.parameter_list),
            Body::Fault(f) => Err(f.code),
            other => panic!("{other:?}"),
        }
    }

    fn value(&mut self, name: &str) -> String {
        match self.gpv(&[name]) {
            Ok(list) => list[0].value.text.clone(),
            Err(code) => panic!("{name}: fault {code}"),
        }
    }

    fn gpn(&mut self, path: &str, next_level: bool) -> Result<Vec<(String, bool)>, u32> {
        match self
            .call(Body::GetParameterNames(GetParameterNames {
                parameter_path: path.into(),
                next_level,
            }))
            .response
        {
            Body::GetParameterNamesResponse(r) => Ok(r
                .parameter_list
                .into_iter()
                .map(|p| (p.name, p.writable))
                .collect()),
            Body::Fault(f) => Err(f.code),
            other => panic!("{other:?}"),
        }
    }

    fn spv(&mut self, values: &[(&str, Value)], key: &str) -> Handled {
        self.call(Body::SetParameterValues(SetParameterValues {
            parameter_list: values
                .iter()
                .map(|(n, v)| ParameterValueStruct::new(*n, v.clone()))
                .collect(),
            parameter_key: key.into(),
        }))
    }

    fn add(&mut self, table: &str, key: &str) -> Result<u32, u32> {
        match self
            .call(Body::AddObject(AddObject {
                object_name: table.into(),
                parameter_key: key.into(),
            }))
            .response
        {
            Body::AddObjectResponse(r) => Ok(r.instance_number),
            Body::Fault(f) => Err(f.code),
            other => panic!("{other:?}"),
        }
    }

    fn delete(&mut self, object: &str, key: &str) -> Result<(), u32> {
        match self
            .call(Body::DeleteObject(DeleteObject {
                object_name: object.into(),
                parameter_key: key.into(),
            }))
            .response
        {
            Body::DeleteObjectResponse(_) => Ok(()),
            Body::Fault(f) => Err(f.code),
            other => panic!("{other:?}"),
        }
    }

    fn spa(&mut self, name: &str, notification: i32) -> Result<usize, u32> {
        let out = self.call(Body::SetParameterAttributes(SetParameterAttributes {
            parameter_list: vec![SetParameterAttributesStruct {
                name: name.into(),
                notification_change: true,
                notification: Some(notification),
                access_list_change: false,
                access_list: vec![],
            }],
        }));
        match out.response {
            Body::SetParameterAttributesResponse(_) => Ok(match &out.records[..] {
                [] => 0,
                [
                    proto::Record {
                        kind: Some(Kind::AttributesSet(a)),
                    },
                ] => a.items.len(),
                other => panic!("{other:?}"),
            }),
            Body::Fault(f) => Err(f.code),
            other => panic!("{other:?}"),
        }
    }

    fn notification(&mut self, name: &str) -> i32 {
        match self
            .call(Body::GetParameterAttributes(GetParameterAttributes {
                parameter_names: vec![name.into()],
            }))
            .response
        {
            Body::GetParameterAttributesResponse(r) => r.parameter_list[0].notification,
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn get_parameter_values_reads_every_provider_with_its_type() {
    let mut f = Fixture::new();
    let list = f
        .gpv(&[
            "Device.DeviceInfo.Manufacturer",
            "Device.DeviceInfo.UpTime",
            "Device.ManagementServer.URL",
            "Device.ManagementServer.Password",
            "Device.ManagementServer.ConnectionRequestURL",
            "Device.IP.Interface.2.IPv4Address.1.SubnetMask",
            "Device.Ethernet.Interface.2.MACAddress",
            "Device.IP.InterfaceNumberOfEntries",
            "Device.Time.CurrentLocalTime",
        ])
        .unwrap();
    let got: Vec<(&str, &str, XsdType)> = list
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                p.value.text.as_str(),
                p.value.effective_type(),
            )
        })
        .collect();
    assert_eq!(
        got[0],
        ("Device.DeviceInfo.Manufacturer", "Example", XsdType::String)
    );
    assert_eq!(
        got[1],
        ("Device.DeviceInfo.UpTime", "4242", XsdType::UnsignedInt)
    );
    assert_eq!(got[2].1, "http://acs.example/");
    assert_eq!(got[3].1, "", "passwords are hidden");
    assert_eq!(got[4].1, "http://192.0.2.10:7547/cr");
    assert_eq!(got[5].1, "255.255.255.0");
    assert_eq!(got[6].1, "02:00:00:AA:BB:CC");
    assert_eq!((got[7].1, got[7].2.clone()), ("2", XsdType::UnsignedInt));
    assert_eq!(got[8].1, "2023-11-14T22:13:20Z");
}

#[test]
fn get_parameter_values_partial_paths_and_unknown_names() {
    let mut f = Fixture::new();
    let mem = f.gpv(&["Device.DeviceInfo.MemoryStatus."]).unwrap();
    let names: Vec<&str> = mem.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Device.DeviceInfo.MemoryStatus.Total",
            "Device.DeviceInfo.MemoryStatus.Free"
        ]
    );
    let all = f.gpv(&[""]).unwrap();
    let whole = f.gpv(&["Device."]).unwrap();
    assert_eq!(all, whole);
    assert!(
        all.iter()
            .any(|p| p.name == "Device.Ethernet.Interface.2.Stats.BytesReceived")
    );
    assert!(
        !all.iter()
            .any(|p| p.name.starts_with("Device.Ethernet.Interface.1.")),
        "loopback is no Ethernet interface"
    );
    assert!(all.iter().all(|p| !p.name.ends_with('.')));
    // One unknown name faults the whole request.
    assert_eq!(
        f.gpv(&["Device.DeviceInfo.UpTime", "Device.Nope"]),
        Err(9005)
    );
    assert_eq!(f.gpv(&["Device.IP.Interface.9.Name"]), Err(9005));
    assert_eq!(f.gpv(&["Device.IP.Interface.2.IPv4Address.2."]), Err(9005));
    assert_eq!(f.gpv(&["Device.DeviceInfo"]), Err(9005));
}

#[test]
fn get_parameter_names_follows_next_level_rules() {
    let mut f = Fixture::new();
    assert_eq!(f.gpn("", true).unwrap(), [("Device.".to_owned(), false)]);
    let top = f.gpn("Device.", true).unwrap();
    assert!(top.contains(&("Device.RootDataModelVersion".into(), false)));
    assert!(top.contains(&("Device.DeviceInfo.".into(), false)));
    assert!(
        !top.iter()
            .any(|(n, _)| n.starts_with("Device.DeviceInfo.M"))
    );
    let nat = f.gpn("Device.NAT.", true).unwrap();
    assert!(
        nat.contains(&("Device.NAT.PortMapping.".into(), true)),
        "{nat:?}"
    );
    let ip = f.gpn("Device.IP.", true).unwrap();
    assert!(
        ip.contains(&("Device.IP.Interface.".into(), false)),
        "host-owned table"
    );
    let ifaces = f.gpn("Device.IP.Interface.", true).unwrap();
    assert_eq!(
        ifaces,
        [
            ("Device.IP.Interface.1.".into(), false),
            ("Device.IP.Interface.2.".into(), false)
        ]
    );
    assert_eq!(
        f.gpn("Device.ManagementServer.PeriodicInformInterval", false)
            .unwrap(),
        [(
            "Device.ManagementServer.PeriodicInformInterval".into(),
            true
        )]
    );
    assert_eq!(f.gpn("Device.DeviceInfo.UpTime", true), Err(9003));
    assert_eq!(f.gpn("Device.Nope.", false), Err(9005));
    let all = f.gpn("", false).unwrap();
    assert_eq!(all[0].0, "Device.");
    assert!(all.contains(&(
        "Device.IP.Interface.2.IPv4Address.1.IPAddress".into(),
        false
    )));
    assert!(all.contains(&("Device.IP.Interface.2.IPv4Address.".into(), false)));
    // Whole-subtree listing includes the object itself.
    let mem = f.gpn("Device.DeviceInfo.MemoryStatus.", false).unwrap();
    assert_eq!(mem[0], ("Device.DeviceInfo.MemoryStatus.".into(), false));
    assert_eq!(mem.len(), 3);
}

#[test]
fn set_parameter_values_is_all_or_nothing_with_a_fault_per_parameter() {
    let mut f = Fixture::new();
    let out = f.spv(
        &[
            ("Device.Time.NTPServer1", Value::string("pool.ntp.org")),
            ("Device.Nope", Value::string("x")),
            (
                "Device.ManagementServer.PeriodicInformInterval",
                Value::string("60"),
            ),
            (
                "Device.ManagementServer.CWMPRetryMinimumWaitInterval",
                Value::unsigned_int(0),
            ),
            ("Device.DeviceInfo.UpTime", Value::unsigned_int(1)),
            ("Device.Ethernet.Interface.2.Enable", Value::boolean(false)),
        ],
        "k1",
    );
    assert!(out.records.is_empty());
    let Body::Fault(fault) = out.response else {
        panic!()
    };
    assert_eq!(fault.code, 9003);
    let codes: Vec<(&str, u32)> = fault
        .set_parameter_values_faults
        .iter()
        .map(|p| (p.parameter_name.as_str(), p.fault_code))
        .collect();
    assert_eq!(
        codes,
        [
            ("Device.Nope", 9005),
            ("Device.ManagementServer.PeriodicInformInterval", 9006),
            ("Device.ManagementServer.CWMPRetryMinimumWaitInterval", 9007),
            ("Device.DeviceInfo.UpTime", 9008),
            ("Device.Ethernet.Interface.2.Enable", 9008),
        ]
    );
    assert_eq!(f.value("Device.Time.NTPServer1"), "", "nothing applied");
    assert_eq!(f.value("Device.ManagementServer.ParameterKey"), "");

    let out = f.spv(
        &[
            ("Device.Time.NTPServer1", Value::string("pool.ntp.org")),
            (
                "Device.ManagementServer.PeriodicInformInterval",
                Value::unsigned_int(60),
            ),
            (
                "Device.ManagementServer.PeriodicInformEnable",
                Value::untyped("1"),
            ),
        ],
        "k2",
    );
    assert!(matches!(out.response, Body::SetParameterValuesResponse(ref r) if r.status == 0));
    assert_eq!(out.records.len(), 1, "one record: values and ParameterKey");
    assert_eq!(f.value("Device.Time.NTPServer1"), "pool.ntp.org");
    assert_eq!(f.value("Device.ManagementServer.ParameterKey"), "k2");
    assert_eq!(
        f.value("Device.ManagementServer.PeriodicInformEnable"),
        "true"
    );
    // The ACS's PeriodicInformInterval is the operator's periodic-inform-interval.
    assert_eq!(
        f.state
            .settings
            .get("periodic-inform-interval")
            .map(String::as_str),
        Some("60")
    );
    let settings = f.state.effective_settings(&f.factory);
    assert_eq!(settings.periodic_inform_interval(), 60);

    let dup = f.spv(
        &[
            ("Device.Time.NTPServer2", Value::string("a")),
            ("Device.Time.NTPServer2", Value::string("b")),
        ],
        "k3",
    );
    assert!(
        matches!(dup.response, Body::Fault(ref f) if f.code == 9003 && f.set_parameter_values_faults.is_empty())
    );
}

#[test]
fn a_new_acs_url_owes_a_bootstrap_and_ping_inputs_reset_the_state() {
    let mut f = Fixture::new();
    let out = f.spv(
        &[(
            "Device.ManagementServer.URL",
            Value::string("https://new-acs.example/"),
        )],
        "u",
    );
    assert!(
        out.records
            .iter()
            .any(|r| matches!(&r.kind, Some(Kind::EventRaised(e)) if e.code == "0 BOOTSTRAP"))
    );
    let bad = f.spv(
        &[("Device.ManagementServer.URL", Value::string("ftp://x"))],
        "u2",
    );
    assert!(
        matches!(bad.response, Body::Fault(ref f) if f.set_parameter_values_faults[0].fault_code == 9007)
    );

    f.spv(
        &[
            (
                "Device.IP.Diagnostics.IPPing.Host",
                Value::string("127.0.0.1"),
            ),
            (
                "Device.IP.Diagnostics.IPPing.DiagnosticsState",
                Value::string("Requested"),
            ),
        ],
        "p1",
    );
    assert_eq!(
        f.value("Device.IP.Diagnostics.IPPing.DiagnosticsState"),
        "Requested"
    );
    f.spv(
        &[(
            "Device.IP.Diagnostics.IPPing.NumberOfRepetitions",
            Value::unsigned_int(2),
        )],
        "p2",
    );
    assert_eq!(
        f.value("Device.IP.Diagnostics.IPPing.DiagnosticsState"),
        "None"
    );
    let complete = f.spv(
        &[(
            "Device.IP.Diagnostics.IPPing.DiagnosticsState",
            Value::string("Complete"),
        )],
        "p3",
    );
    assert!(
        matches!(complete.response, Body::Fault(ref f) if f.set_parameter_values_faults[0].fault_code == 9007)
    );
}

#[test]
fn add_and_delete_object_never_reuse_instance_numbers() {
    let mut f = Fixture::new();
    assert_eq!(f.add("Device.NAT.PortMapping.", "a1"), Ok(1));
    assert_eq!(f.add("Device.NAT.PortMapping.", "a2"), Ok(2));
    assert_eq!(f.value("Device.ManagementServer.ParameterKey"), "a2");
    assert_eq!(f.value("Device.NAT.PortMappingNumberOfEntries"), "2");
    assert_eq!(
        f.value("Device.NAT.PortMapping.2.Protocol"),
        "TCP",
        "defaults"
    );
    f.spv(
        &[(
            "Device.NAT.PortMapping.2.ExternalPort",
            Value::unsigned_int(8080),
        )],
        "s",
    );
    assert_eq!(f.value("Device.NAT.PortMapping.2.ExternalPort"), "8080");
    assert_eq!(f.delete("Device.NAT.PortMapping.2.", "d1"), Ok(()));
    assert_eq!(f.value("Device.ManagementServer.ParameterKey"), "d1");
    assert_eq!(f.gpv(&["Device.NAT.PortMapping.2.ExternalPort"]), Err(9005));
    assert_eq!(
        f.add("Device.NAT.PortMapping.", "a3"),
        Ok(3),
        "2 is never reused"
    );
    assert_eq!(
        f.value("Device.NAT.PortMapping.3.ExternalPort"),
        "0",
        "a fresh instance"
    );
    assert_eq!(f.delete("Device.NAT.PortMapping.2.", "d2"), Err(9005));
    assert_eq!(f.add("Device.NAT.PortMapping", "x"), Err(9005));
    assert_eq!(f.add("Device.DeviceInfo.", "x"), Err(9005));
    assert_eq!(f.add("Device.IP.Interface.", "x"), Err(9001));
    assert_eq!(f.delete("Device.IP.Interface.2.", "x"), Err(9001));
    assert_eq!(f.delete("Device.NAT.", "x"), Err(9005));
    assert_eq!(
        f.value("Device.ManagementServer.ParameterKey"),
        "a3",
        "failures change nothing"
    );
}

#[test]
fn attributes_refuse_active_where_denied_and_persist() {
    let mut f = Fixture::new();
    assert_eq!(f.spa("Device.DeviceInfo.UpTime", 2), Err(9009));
    assert_eq!(f.spa("Device.DeviceInfo.UpTime", 1), Ok(1));
    assert_eq!(f.notification("Device.DeviceInfo.UpTime"), 1);
    assert_eq!(f.spa("Device.DeviceInfo.SoftwareVersion", 0), Err(9009));
    assert_eq!(
        f.notification("Device.DeviceInfo.SoftwareVersion"),
        2,
        "forced"
    );
    assert_eq!(
        f.notification("Device.ManagementServer.ConnectionRequestURL"),
        2,
        "default active"
    );
    assert_eq!(f.spa("Device.Time.NTPServer1", 2), Ok(1));
    assert_eq!(f.notification("Device.Time.NTPServer1"), 2);
    // A partial path skips the parameters that cannot be active instead of failing.
    let n = f.spa("Device.DeviceInfo.MemoryStatus.", 2).unwrap();
    assert_eq!(n, 1, "Total is set, Free (canDeny) skipped");
    assert_eq!(f.notification("Device.DeviceInfo.MemoryStatus.Total"), 2);
    assert_eq!(f.notification("Device.DeviceInfo.MemoryStatus.Free"), 0);
    assert_eq!(f.spa("Device.Time.NTPServer1", 5), Err(9003));
    assert_eq!(f.spa("Device.Nope", 1), Err(9005));
}

#[test]
fn schedule_inform_records_the_due_time() {
    let mut f = Fixture::new();
    let out = f.call(Body::ScheduleInform(ScheduleInform {
        delay_seconds: 30,
        command_key: "si".into(),
    }));
    assert!(matches!(out.response, Body::ScheduleInformResponse(_)));
    match &out.records[..] {
        [
            proto::Record {
                kind: Some(Kind::ScheduleInformRequested(r)),
            },
        ] => {
            assert_eq!(
                (r.command_key.as_str(), r.due_at_unix),
                ("si", 1_700_000_030)
            );
        }
        other => panic!("{other:?}"),
    }
    let zero = f.call(Body::ScheduleInform(ScheduleInform {
        delay_seconds: 0,
        command_key: "si".into(),
    }));
    assert!(matches!(zero.response, Body::Fault(ref f) if f.code == 9003));
    assert!(zero.records.is_empty());
}

#[test]
fn reboot_and_factory_reset_are_journaled_requests() {
    let mut f = Fixture::new();
    let out = f.call(Body::Reboot(Reboot {
        command_key: "rk".into(),
    }));
    assert!(matches!(out.response, Body::RebootResponse(_)));
    assert!(
        matches!(&out.records[..], [proto::Record { kind: Some(Kind::RebootRequested(r)) }] if r.command_key == "rk")
    );
    let out = f.call(Body::FactoryReset(
        crate::cwmp::rpc::factory_reset::FactoryReset,
    ));
    assert!(
        matches!(&out.records[..], [proto::Record { kind: Some(Kind::RebootRequested(r)) }] if r.reason == REBOOT_REASON_FACTORY_RESET)
    );
}

#[test]
fn get_rpc_methods_lists_exactly_what_is_answered() {
    let mut f = Fixture::new();
    let Body::GetRpcMethodsResponse(r) = f.call(Body::GetRpcMethods(GetRpcMethods)).response else {
        panic!()
    };
    assert_eq!(r.method_list, SUPPORTED_METHODS);
    let out = f.call(Body::KickedResponse(
        crate::cwmp::rpc::kicked::KickedResponse {
            next_url: String::new(),
        },
    ));
    assert!(matches!(out.response, Body::Fault(ref f) if f.code == 9000));
}
