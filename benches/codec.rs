//! Codec throughput: encode and decode a GetParameterValuesResponse with 1,000 parameters, beside
//! quick-xml merely tokenizing the same bytes (the practical ceiling for any decoder built on it).
//!
//! Reading the figures: all three report MB/s over the same message bytes, so
//! `decode / tokenize` (a fraction of 1) is how much of the tokenizer's speed the full decoder
//! keeps after building the tree, resolving namespaces and typing the arguments, and
//! `encode / tokenize` compares writing with the cheapest possible reading. Compute them from one
//! run (BENCHMARKS-codec.md holds the last one).
//!
//! Run: `cargo bench --bench codec`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use quick_xml::Reader;
use quick_xml::events::Event;
use tr069_client::cwmp::rpc::get_parameter_values::GetParameterValuesResponse;
use tr069_client::cwmp::{
    CwmpNamespace, DateTime, Envelope, Header, Limits, ParameterValueStruct, Value,
};

/// 1,000 realistic TR-181 parameters with mixed types, as a full dump of a router answers.
fn parameters() -> Vec<ParameterValueStruct> {
    let mut list = Vec::with_capacity(1000);
    let mut i = 0u32;
    while list.len() < 1000 {
        i += 1;
        let n = i % 32 + 1;
        let batch = [
            ParameterValueStruct::new(
                format!("Device.IP.Interface.{n}.Enable"),
                Value::boolean(i % 3 != 0),
            ),
            ParameterValueStruct::new(
                format!("Device.IP.Interface.{n}.Status"),
                Value::string(if i % 5 == 0 { "Down" } else { "Up" }),
            ),
            ParameterValueStruct::new(
                format!("Device.IP.Interface.{n}.IPv4Address.1.IPAddress"),
                Value::string(format!("192.168.{}.{}", i % 256, n)),
            ),
            ParameterValueStruct::new(
                format!("Device.IP.Interface.{n}.Stats.BytesSent"),
                Value::unsigned_long(u64::from(i) * 1_234_567_891),
            ),
            ParameterValueStruct::new(
                format!("Device.IP.Interface.{n}.Stats.PacketsReceived"),
                Value::unsigned_long(u64::from(i) * 98_765),
            ),
            ParameterValueStruct::new(
                format!("Device.WiFi.SSID.{n}.SSID"),
                Value::string(format!("Home & Garden <{i}>")),
            ),
            ParameterValueStruct::new(
                format!("Device.WiFi.Radio.{n}.Channel"),
                Value::unsigned_int(i % 13 + 1),
            ),
            ParameterValueStruct::new(
                format!("Device.WiFi.Radio.{n}.TransmitPower"),
                Value::int(-((i % 100) as i32)),
            ),
            ParameterValueStruct::new(
                format!("Device.Hosts.Host.{i}.PhysAddress"),
                Value::string(format!("00:11:22:33:{:02x}:{:02x}", i % 256, n)),
            ),
            ParameterValueStruct::new(
                format!("Device.Hosts.Host.{i}.X_ACME_LastSeen"),
                Value::date_time(DateTime::from_unix(1_795_309_200 + i64::from(i), 0)),
            ),
        ];
        list.extend(batch);
    }
    list.truncate(1000);
    list
}

fn tokenize(text: &str) -> usize {
    let mut reader = Reader::from_str(text);
    let mut events = 0usize;
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => break,
            Ok(e) => {
                black_box(&e);
                events += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    events
}

fn codec(c: &mut Criterion) {
    let envelope = Envelope::new(
        CwmpNamespace::Cwmp12,
        Header::with_id("bench-1"),
        GetParameterValuesResponse {
            parameter_list: parameters(),
        },
    );
    let text = envelope.encode();
    assert_eq!(
        Envelope::decode(text.as_bytes(), &Limits::default()).as_ref(),
        Ok(&envelope)
    );

    let mut group = c.benchmark_group("gpv_response_1000");
    group.measurement_time(Duration::from_secs(3));
    group.sample_size(20);
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("encode", |b| b.iter(|| black_box(&envelope).encode()));
    group.bench_function("decode", |b| {
        b.iter(|| Envelope::decode(black_box(text.as_bytes()), &Limits::default()).unwrap())
    });
    group.bench_function("quick_xml_tokenize", |b| {
        b.iter(|| tokenize(black_box(&text)))
    });
    group.finish();
    eprintln!("message size: {} bytes", text.len());
}

criterion_group!(benches, codec);
criterion_main!(benches);
