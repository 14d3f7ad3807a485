//! GetParameterValues of `Device.` on a model of 5,000+ parameters: the data-model walk (resolve
//! every instance, read every provider) beside encoding the answer's envelope, so the ratio
//! `walk / encode` says whether the model or the XML dominates a full dump.
//!
//! The model: the registry over a fixed host (2 interfaces) and 400 NAT port mappings (13
//! parameters each) held in the folded state — 5,300-odd parameters.
//!
//! Run: `cargo bench --bench datamodel`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tr069_client::cpe::handler::AcsRequestHandler;
use tr069_client::cwmp::rpc::get_parameter_values::GetParameterValues;
use tr069_client::cwmp::{Body, CwmpNamespace, Envelope, Header};
use tr069_client::datamodel::host::{HostInterface, HostTables, Ipv4Entry, StaticHost};
use tr069_client::datamodel::host_tables::{Ipv4Route, Neighbour, Process, ThermalZone};
use tr069_client::datamodel::{DataModel, DeviceIdentity};
use tr069_client::records::proto::{self, record::Kind};
use tr069_client::session::RequestHandler;
use tr069_client::state::{AgentState, record};

const PORT_MAPPINGS: u32 = 400;

fn state() -> AgentState {
    let mut state = AgentState::default();
    let mut seq = 0;
    for i in 1..=PORT_MAPPINGS {
        seq += 1;
        state.apply(
            seq,
            0,
            &record(Kind::ObjectAdded(proto::ObjectAdded {
                path: "Device.NAT.PortMapping.".into(),
                instance_number: i,
                parameter_key: String::new(),
            })),
        );
        seq += 1;
        state.apply(
            seq,
            0,
            &record(Kind::ParametersSet(proto::ParametersSet {
                values: vec![proto::ParameterValue {
                    name: format!("Device.NAT.PortMapping.{i}.Description"),
                    value: format!("forward {i} to the camera"),
                    xsd_type: "string".into(),
                }],
                parameter_key: String::new(),
                source: proto::ChangeSource::Acs as i32,
                status: 0,
            })),
        );
    }
    state
}

fn model() -> DataModel {
    let iface = |name: &str, index: u32, ip: [u8; 4]| HostInterface {
        name: name.into(),
        index,
        is_ethernet: index != 1,
        is_loopback: index == 1,
        admin_up: true,
        status: "Up",
        mtu: 1500,
        ipv4: vec![Ipv4Entry {
            address: Ipv4Addr::from(ip),
            prefix_len: 24,
        }],
        ..Default::default()
    };
    DataModel::new(
        DeviceIdentity {
            manufacturer: "Example".into(),
            ..Default::default()
        },
        Arc::new(StaticHost {
            uptime_secs: 1000,
            memory_kib: (262_144, 100_000),
            interfaces: vec![
                iface("lo", 1, [127, 0, 0, 1]),
                iface("eth0", 2, [192, 0, 2, 1]),
            ],
            tables: tables(),
            ..Default::default()
        }),
    )
}

/// A router's tables: 40 processes, 8 neighbours, 6 routes, 2 DNS servers, a sensor.
fn tables() -> HostTables {
    HostTables {
        neighbours: (10..18)
            .map(|i| Neighbour {
                ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, i)),
                mac: format!("02:00:00:00:00:{i:02x}"),
                device: "eth0".into(),
                active: true,
            })
            .collect(),
        ipv4_routes: (0..6)
            .map(|i| Ipv4Route {
                destination: Ipv4Addr::new(10, i, 0, 0),
                mask: Ipv4Addr::new(255, 255, 0, 0),
                gateway: Ipv4Addr::new(192, 0, 2, 254),
                device: "eth0".into(),
                metric: 10,
                up: true,
                dynamic: false,
            })
            .collect(),
        dns_servers: vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 53)); 2],
        thermal_zones: vec![ThermalZone {
            index: 0,
            name: "cpu-thermal".into(),
            celsius: 48,
        }],
        processes: (1..=40)
            .map(|pid| Process {
                pid,
                command: format!("daemon-{pid}"),
                size_kib: 1024,
                priority: 20,
                cpu_time_ms: 1000,
                state: "Sleeping",
            })
            .collect(),
        ..Default::default()
    }
}

fn bench(c: &mut Criterion) {
    let model = model();
    let state = state();
    let factory = BTreeMap::new();
    let request = Body::GetParameterValues(GetParameterValues {
        parameter_names: vec!["Device.".into()],
    });
    let mut handler = AcsRequestHandler {
        model: &model,
        factory_settings: &factory,
        settings: None,
        connection_request_url: "http://192.0.2.1:7547/cr",
        xmpp: &tr069_client::datamodel::XmppLive::default(),
        state: &state,
        transfers: Default::default(),
        externals: &tr069_client::datamodel::external::RunProviders,
        udp_echo: Default::default(),
    };
    let response = handler.handle(&request, 0).response;
    let count = match &response {
        Body::GetParameterValuesResponse(r) => r.parameter_list.len(),
        other => panic!("{other:?}"),
    };
    assert!(count > 5_000, "only {count} parameters");
    let envelope = Envelope::new(CwmpNamespace::Cwmp12, Header::with_id("1"), response);
    let bytes = envelope.encode().len();
    println!("GetParameterValues Device.: {count} parameters, {bytes} bytes encoded");

    let mut g = c.benchmark_group("gpv_device");
    g.measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(count as u64));
    g.bench_function("walk_and_read", |b| {
        b.iter(|| black_box(handler.handle(black_box(&request), 0)))
    });
    g.bench_function("encode_envelope", |b| {
        b.iter(|| black_box(envelope.encode()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
