//! The README's first command: the agent's main job end to end on loopback.
//!
//! Starts the scripted ACS (a real HTTP server speaking CWMP, Digest auth on, recording every
//! exchange) and the agent on a temporary data directory, then walks through: the BOOTSTRAP+BOOT
//! session, a periodic inform, a connection request, a ScheduleInform, provisioning through the
//! data-model RPCs (SetParameterValues, AddObject, GetParameterValues, a refused
//! SetParameterValues, SetParameterAttributes), an active VALUE CHANGE after an operator's
//! change, a failed session with its retry and retry-count, a firmware upgrade through a
//! RouterOS XML manifest that survives a crash mid-download (resumed with HTTP Range, applied
//! once, rebooted, reported by exactly one TransferComplete), and finally the journal timeline.
//! On the way, a TR-143 DownloadDiagnostics test runs against the file server and reports with
//! `8 DIAGNOSTICS COMPLETE`.
//!
//! `cargo run -p chaos-tests --bin demo`

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use anyhow::{Context as _, bail};
use chaos_tests::{
    AcsAuth, AcsConfig, AcsRequest, Failure, FileServer, FileServerConfig, Mode, ScriptedAcs,
    SessionEnd, SessionLog,
};
use tr069_client::agent::{Agent, AgentHandle, Ports, RunEnd};
use tr069_client::config::{Config, Device, SoftwareVersion};
use tr069_client::control::{self, ControlRequest};
use tr069_client::cwmp::rpc::add_object::AddObject;
use tr069_client::cwmp::rpc::download::{Download, file_type as download_type};
use tr069_client::cwmp::rpc::get_parameter_values::GetParameterValues;
use tr069_client::cwmp::rpc::schedule_inform::ScheduleInform;
use tr069_client::cwmp::rpc::set_parameter_attributes::{
    SetParameterAttributes, SetParameterAttributesStruct,
};
use tr069_client::cwmp::rpc::set_parameter_values::SetParameterValues;
use tr069_client::cwmp::{Body, ParameterValueStruct, Value};

const WAIT: Duration = Duration::from_secs(30);
const ACS_USER: &str = "demo-cpe";
const ACS_PASSWORD: &str = "demo-acs-secret";
const CR_USER: &str = "demo-acs";
const CR_PASSWORD: &str = "demo-cr-secret";

fn describe(s: &SessionLog) -> String {
    let events: Vec<String> = s
        .inform
        .event
        .iter()
        .map(|e| {
            if e.command_key.is_empty() {
                e.event_code.clone()
            } else {
                format!("{} {}", e.event_code, e.command_key)
            }
        })
        .collect();
    let end = match &s.end {
        SessionEnd::Completed => "completed (204)".to_owned(),
        SessionEnd::Failed(f) => format!("failed: ACS answered {f:?}"),
        SessionEnd::Abandoned => "abandoned".to_owned(),
        SessionEnd::Open => "open".to_owned(),
    };
    let calls: Vec<&str> = s.acs_calls.iter().map(|c| c.method.as_str()).collect();
    let mut line = format!(
        "session {}: events [{}], RetryCount {}",
        s.number,
        events.join(", "),
        s.retry_count()
    );
    if !calls.is_empty() {
        line.push_str(&format!(", ACS called {}", calls.join(", ")));
    }
    format!("{line} — {end}")
}

async fn wait_session(
    acs: &ScriptedAcs,
    after: usize,
    what: &str,
    pred: impl Fn(&SessionLog) -> bool,
) -> anyhow::Result<SessionLog> {
    acs.wait_for_session(after, WAIT, what, pred).await
}

type AgentTask = tokio::task::JoinHandle<anyhow::Result<RunEnd>>;

/// Opens the agent on `config` and runs it in a task until `stop`; returns its handle and task.
async fn start(
    config: &Config,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(AgentHandle, AgentTask)> {
    let agent = Agent::open(config.clone(), Ports::default()).await?;
    let handle = agent.handle();
    Ok((handle, tokio::spawn(agent.run(stop))))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber_init();
    println!("tr069-client demo: the agent and a scripted ACS on loopback\n");

    let acs = ScriptedAcs::start(AcsConfig {
        auth: AcsAuth::Digest {
            username: ACS_USER.into(),
            password: ACS_PASSWORD.into(),
        },
        ..AcsConfig::default()
    })
    .await?;
    println!("scripted ACS listening at {} (HTTP Digest auth)", acs.url());

    let dir = tempfile::tempdir()?;
    let boot_id_file = dir.path().join("boot_id");
    std::fs::write(&boot_id_file, "demo-boot-1\n")?;
    let mut config = Config::default().with_data_dir(dir.path().join("data"));
    config.boot_id_file = boot_id_file;
    config.connection_request.listen_address = IpAddr::V4(Ipv4Addr::LOCALHOST);
    config.connection_request.address_check_interval = Duration::from_secs(3600);
    config.session.request_timeout = Duration::from_secs(10);
    config.device = Device {
        manufacturer: "Example Networks".into(),
        oui: "00000C".into(),
        product_class: "DemoRouter".into(),
        serial_number: "DEMO0001".into(),
        hardware_version: "rev-a".into(),
        software_version: SoftwareVersion::Fixed("7.14".into()),
        ..Default::default()
    };
    let factory: BTreeMap<String, String> = [
        ("enabled", "true"),
        ("acs-url", acs.url().as_str()),
        ("username", ACS_USER),
        ("password", ACS_PASSWORD),
        ("periodic-inform-interval", "6"),
        ("connection-request-username", CR_USER),
        ("connection-request-password", CR_PASSWORD),
        ("connection-request-port", "0"),
        ("retry-minimum-wait", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    config.factory_settings = factory;
    println!("agent data directory: {}\n", config.data_dir.display());

    // The simulated device's firmware: the running version is a file the agent re-reads at every
    // start; the apply hook installs an image, the reboot hook activates it with a new boot id.
    std::fs::write(dir.path().join("version"), "7.14\n")?;
    let (fw_apply, fw_reboot) = chaos_tests::device::firmware_simulator(dir.path())?;
    config.device.software_version = SoftwareVersion::File(dir.path().join("version"));
    config.hooks.firmware_apply = Some(fw_apply);
    config.hooks.reboot = Some(fw_reboot);

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (mut agent, mut task) = start(&config, async move {
        let _ = stop_rx.await;
    })
    .await?;

    println!("1. first start: the agent owes 0 BOOTSTRAP and 1 BOOT");
    let first = wait_session(&acs, 0, "the BOOTSTRAP session", |s| {
        s.has_event("0 BOOTSTRAP")
    })
    .await?;
    println!("   {}", describe(&first));
    let cr_url = first
        .parameter("Device.ManagementServer.ConnectionRequestURL")
        .context("the Inform carries ConnectionRequestURL")?
        .to_owned();
    println!("   ConnectionRequestURL = {cr_url}");

    println!("\n2. the periodic-inform timer (interval 6 s) fires");
    let periodic = wait_session(&acs, first.number as usize, "a periodic session", |s| {
        s.has_event("2 PERIODIC")
    })
    .await?;
    println!("   {}", describe(&periodic));

    println!(
        "\n3. the ACS knocks: a connection request with Digest auth (the ACS also queues a ScheduleInform)"
    );
    // A periodic session still open would take what is queued now.
    let before = acs.wait_settled(WAIT).await?;
    acs.enqueue(AcsRequest::Body(Body::ScheduleInform(ScheduleInform {
        delay_seconds: 2,
        command_key: "demo-schedule".into(),
    })));
    let status = acs
        .connection_request(&cr_url, CR_USER, CR_PASSWORD)
        .await?;
    println!("   connection request answered HTTP {status}");
    let cr = wait_session(&acs, before, "the connection-request session", |s| {
        s.has_event("6 CONNECTION REQUEST")
    })
    .await?;
    println!("   {}", describe(&cr));

    println!("\n4. the ScheduleInform falls due 2 s later");
    let scheduled = wait_session(&acs, cr.number as usize, "the scheduled session", |s| {
        s.has_event("3 SCHEDULED")
    })
    .await?;
    println!("   {}", describe(&scheduled));

    println!("\n5. the ACS provisions the device in the next session (data-model RPCs)");
    for request in [
        Body::SetParameterValues(SetParameterValues {
            parameter_list: vec![
                ParameterValueStruct::new("Device.Time.NTPServer1", Value::string("pool.ntp.org")),
                ParameterValueStruct::new(
                    "Device.Time.LocalTimeZone",
                    Value::string("CET-1CEST,M3.5.0,M10.5.0/3"),
                ),
            ],
            parameter_key: "demo-provision-1".into(),
        }),
        Body::AddObject(AddObject {
            object_name: "Device.NAT.PortMapping.".into(),
            parameter_key: "demo-provision-2".into(),
        }),
        Body::SetParameterValues(SetParameterValues {
            parameter_list: vec![
                ParameterValueStruct::new("Device.NAT.PortMapping.1.Enable", Value::boolean(true)),
                ParameterValueStruct::new(
                    "Device.NAT.PortMapping.1.ExternalPort",
                    Value::unsigned_int(8443),
                ),
                ParameterValueStruct::new(
                    "Device.NAT.PortMapping.1.InternalClient",
                    Value::string("192.168.88.10"),
                ),
                ParameterValueStruct::new(
                    "Device.NAT.PortMapping.1.Protocol",
                    Value::string("UDP"),
                ),
            ],
            parameter_key: "demo-provision-3".into(),
        }),
        Body::SetParameterValues(SetParameterValues {
            parameter_list: vec![
                ParameterValueStruct::new(
                    "Device.NAT.PortMapping.1.Protocol",
                    Value::string("UDP-ish"),
                ),
                ParameterValueStruct::new("Device.DeviceInfo.UpTime", Value::unsigned_int(0)),
                ParameterValueStruct::new("Device.Time.NTPServer2", Value::string("time.example")),
            ],
            parameter_key: "demo-provision-4".into(),
        }),
        Body::GetParameterValues(GetParameterValues {
            parameter_names: vec![
                "Device.ManagementServer.ParameterKey".into(),
                "Device.Time.".into(),
                "Device.NAT.PortMapping.1.ExternalPort".into(),
                "Device.DeviceInfo.UpTime".into(),
                "Device.DeviceInfo.MemoryStatus.".into(),
            ],
        }),
        Body::SetParameterAttributes(SetParameterAttributes {
            parameter_list: vec![SetParameterAttributesStruct {
                name: "Device.ManagementServer.PeriodicInformInterval".into(),
                notification_change: true,
                notification: Some(2),
                access_list_change: false,
                access_list: vec![],
            }],
        }),
    ] {
        acs.enqueue(AcsRequest::Body(request));
    }
    let provisioned = wait_session(
        &acs,
        scheduled.number as usize,
        "the provisioning session",
        |s| {
            s.is_ended() && s.acs_calls.len() == 6 && s.acs_calls.iter().all(|c| c.answer.is_some())
        },
    )
    .await?;
    println!("   {}", describe(&provisioned));
    for call in &provisioned.acs_calls {
        let answer = call.answer.as_ref().and_then(|a| a.body.as_ref());
        match answer {
            Some(Body::SetParameterValuesResponse(r)) => {
                println!("   {} → Status {}", call.method, r.status)
            }
            Some(Body::AddObjectResponse(r)) => {
                println!("   {} → InstanceNumber {}", call.method, r.instance_number)
            }
            Some(Body::GetParameterValuesResponse(r)) => {
                println!("   {} →", call.method);
                for p in &r.parameter_list {
                    println!(
                        "       {} = {:?} ({})",
                        p.name,
                        p.value.text,
                        p.value.effective_type().wire_name()
                    );
                }
            }
            Some(Body::Fault(f)) => {
                println!("   {} → fault {} {}", call.method, f.code, f.string);
                for p in &f.set_parameter_values_faults {
                    println!(
                        "       {}: {} {}",
                        p.parameter_name, p.fault_code, p.fault_string
                    );
                }
                println!("       (all or nothing: no value of that request was applied)");
            }
            Some(other) => println!("   {} → {}", call.method, other.name()),
            None => println!("   {} → no answer", call.method),
        }
    }

    println!(
        "\n6. the operator sets periodic-inform-interval=7s on the CLI; the ACS asked for active notification"
    );
    let backend = agent.clone();
    let set = tokio::task::spawn_blocking(move || {
        control::backend::handle(
            &backend,
            ControlRequest::Set {
                items: vec![("periodic-inform-interval".into(), "7s".into())],
            },
        )
    })
    .await?;
    println!("   set → {set:?}");
    let value_change = wait_session(
        &acs,
        provisioned.number as usize,
        "the VALUE CHANGE session",
        |s| s.has_event("4 VALUE CHANGE"),
    )
    .await?;
    println!("   {}", describe(&value_change));
    println!(
        "   the Inform carries Device.ManagementServer.PeriodicInformInterval = {:?}",
        value_change.parameter("Device.ManagementServer.PeriodicInformInterval")
    );

    println!(
        "\n7. the ACS fails the next session (HTTP 500): the agent keeps its events and retries"
    );
    acs.fail_next_sessions(1, Failure::Status(500));
    let failed = wait_session(
        &acs,
        value_change.number as usize,
        "the failed session",
        |s| matches!(s.end, SessionEnd::Failed(_)),
    )
    .await?;
    println!("   {}", describe(&failed));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let state = agent.state().await;
    println!(
        "   retry-count = {}, last-session-error = {:?}",
        state.retry_count, state.last_session_error
    );
    let retry = wait_session(&acs, failed.number as usize, "the retry", |s| {
        s.retry_count() >= 1
    })
    .await?;
    println!("   {}", describe(&retry));
    if retry.end != SessionEnd::Completed {
        bail!("the retry did not complete: {:?}", retry.end);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    println!(
        "   retry-count after the successful retry = {}",
        agent.state().await.retry_count
    );

    println!(
        "\n8. the ACS asks for a TR-143 download test; it runs after the session that asked for it"
    );
    let files = FileServer::start(FileServerConfig::default()).await?;
    files.add_file("/speedtest.bin", vec![0u8; 8 << 20]);
    let dd = "Device.IP.Diagnostics.DownloadDiagnostics.";
    let before = acs.wait_settled(WAIT).await?;
    acs.enqueue(AcsRequest::Body(Body::SetParameterValues(
        SetParameterValues {
            parameter_list: vec![
                ParameterValueStruct::new(
                    format!("{dd}DownloadURL"),
                    Value::string(files.url("/speedtest.bin")),
                ),
                ParameterValueStruct::new(
                    format!("{dd}NumberOfConnections"),
                    Value::unsigned_int(2),
                ),
                ParameterValueStruct::new(
                    format!("{dd}DiagnosticsState"),
                    Value::string("Requested"),
                ),
            ],
            parameter_key: "demo-speedtest".into(),
        },
    )));
    acs.connection_request(&cr_url, CR_USER, CR_PASSWORD)
        .await?;
    let asked = wait_session(&acs, before, "the session asking for the test", |s| {
        s.is_ended() && s.acs_calls.iter().any(|c| c.method == "SetParameterValues")
    })
    .await?;
    println!("   {}", describe(&asked));
    let done = wait_session(
        &acs,
        asked.number as usize,
        "the DIAGNOSTICS COMPLETE session",
        |s| s.has_event("8 DIAGNOSTICS COMPLETE"),
    )
    .await?;
    println!("   {}", describe(&done));
    acs.enqueue(AcsRequest::Body(Body::GetParameterValues(
        GetParameterValues {
            parameter_names: vec![dd.into()],
        },
    )));
    acs.connection_request(&cr_url, CR_USER, CR_PASSWORD)
        .await?;
    let read = wait_session(
        &acs,
        done.number as usize,
        "the session reading the results",
        |s| {
            s.is_ended()
                && s.acs_calls
                    .iter()
                    .any(|c| c.method == "GetParameterValues" && c.answer.is_some())
        },
    )
    .await?;
    let results: BTreeMap<String, String> = read
        .acs_calls
        .iter()
        .filter_map(|c| match c.answer.as_ref().and_then(|a| a.body.as_ref()) {
            Some(Body::GetParameterValuesResponse(r)) => Some(r.parameter_list.clone()),
            _ => None,
        })
        .flatten()
        .map(|p| (p.name.trim_start_matches(dd).to_owned(), p.value.text))
        .collect();
    for name in [
        "DiagnosticsState",
        "TCPOpenRequestTime",
        "TCPOpenResponseTime",
        "ROMTime",
        "BOMTime",
        "EOMTime",
        "TestBytesReceived",
        "TotalBytesReceived",
        "IPAddressUsed",
    ] {
        println!(
            "       {dd}{name} = {:?}",
            results.get(name).map_or("", String::as_str)
        );
    }
    let millis = |name: &str| {
        results
            .get(name)
            .and_then(|t| tr069_client::cwmp::DateTime::parse(t).ok())
            .map(|t| t.unix_millis())
    };
    if let (Some(bom), Some(eom), Some(bytes)) = (
        millis("BOMTime"),
        millis("EOMTime"),
        results
            .get("TestBytesReceived")
            .and_then(|b| b.parse::<u64>().ok()),
    ) {
        let seconds = (eom - bom).max(1) as f64 / 1000.0;
        println!(
            "   {bytes} bytes over 2 connections in {seconds:.3} s: {:.0} Mbit/s on loopback",
            bytes as f64 * 8.0 / seconds / 1e6
        );
    }

    println!("\n9. a firmware upgrade through a RouterOS XML manifest, with a crash mid-download");
    files.add_file(
        "/routeros-7.15.npk",
        firmware_image("FIRMWARE 7.15", 200_000),
    );
    files.add_file("/wifi-7.15.npk", firmware_image("FIRMWARE 7.15", 3 << 20));
    files.set_mode(
        "/wifi-7.15.npk",
        Mode::Slow {
            bytes_per_sec: 600_000,
        },
    );
    let manifest = format!(
        "<?xml version=\"1.0\"?>\n<upgrade version=\"1\" type=\"links\"><config/><links>\
         <link><url>{}</url></link><link><url>{}</url></link></links></upgrade>\n",
        files.url("/routeros-7.15.npk"),
        files.url("/wifi-7.15.npk")
    );
    files.add_file("/upgrade-7.15.xml", manifest.into_bytes());
    acs.enqueue(AcsRequest::Body(Body::Download(Download {
        command_key: "demo-fw-7.15".into(),
        file_type: download_type::FIRMWARE_UPGRADE_IMAGE.into(),
        url: files.url("/upgrade-7.15.xml"),
        username: String::new(),
        password: String::new(),
        file_size: 0,
        target_file_name: String::new(),
        delay_seconds: 0,
        success_url: String::new(),
        failure_url: String::new(),
    })));
    println!(
        "   the ACS queues Download \"1 Firmware Upgrade Image\" {}",
        files.url("/upgrade-7.15.xml")
    );
    let transfers = config.data_dir.join("transfers");
    let partial = wait_for_file(&transfers, "pkg-1", 1_900_000).await?;
    println!(
        "   manifest fetched and parsed; package 1 of 2 downloaded; package 2 at {partial} bytes (slow server)"
    );
    println!(
        "   CRASH: the agent is stopped abruptly mid-download (its task dropped, nothing flushed)"
    );
    task.abort();
    let _ = task.await;
    let (stop_tx2, stop_rx2) = tokio::sync::oneshot::channel::<()>();
    (_, task) = start(&config, async move {
        let _ = stop_rx2.await;
    })
    .await?;
    drop(stop_tx);
    println!("   the agent restarts (same boot): the journal says Downloading, so it resumes");
    let end = task.await.context("the agent task")??;
    let ranges: Vec<String> = files
        .requests()
        .into_iter()
        .filter(|r| r.path == "/wifi-7.15.npk")
        .filter_map(|r| r.range)
        .collect();
    println!("   resumed with HTTP Range: {ranges:?} (from the last durable checkpoint)");
    println!(
        "   both packages downloaded and verified before anything was applied; the firmware_apply hook ran {} time(s) — once per package; then the agent rebooted the device ({end:?})",
        std::fs::read_to_string(dir.path().join("applies.log"))?
            .lines()
            .count()
    );
    drop(stop_tx2);
    let before = acs.sessions().len();
    let (stop_tx3, stop_rx3) = tokio::sync::oneshot::channel::<()>();
    (agent, task) = start(&config, async move {
        let _ = stop_rx3.await;
    })
    .await?;
    let reported = wait_session(&acs, before, "the session reporting the upgrade", |s| {
        s.has_event("7 TRANSFER COMPLETE") && s.is_ended()
    })
    .await?;
    println!("   after the reboot: {}", describe(&reported));
    println!(
        "   SoftwareVersion in the Inform: {:?}",
        reported.parameter("Device.DeviceInfo.SoftwareVersion")
    );
    let tcs: Vec<String> = acs
        .sessions()
        .iter()
        .flat_map(|s| s.cpe_calls.clone())
        .filter_map(|c| match c.body {
            Some(Body::TransferComplete(tc)) => Some(format!(
                "TransferComplete CommandKey={} FaultCode={} StartTime={} CompleteTime={}",
                tc.command_key, tc.fault_struct.fault_code, tc.start_time, tc.complete_time
            )),
            _ => None,
        })
        .collect();
    println!(
        "   the ACS received {} TransferComplete: {}",
        tcs.len(),
        tcs.join("; ")
    );
    if tcs.len() != 1 {
        bail!("expected exactly one TransferComplete");
    }

    let _ = stop_tx3.send(());
    task.await.context("the agent task")??;
    drop(agent);
    acs.shutdown().await;

    println!("\n10. the journal timeline (what `tr069-client journal timeline` prints)");
    let (journal, _) = tr069_client::records::Journal::open(
        config.data_dir.join("journal"),
        journal::Options::with_boot_id("demo-timeline"),
    )?;
    for stored in journal.iter_from(1) {
        let stored = stored?;
        println!("   {}", tr069_client::records::summary(&stored));
    }
    drop(journal);
    // DEMO_KEEP_DATA=<dir>: keep the agent's data directory (the post-mortem report's browser
    // test opens a report of this journal: chaos-tests/tests/fixtures/demo-data).
    if let Some(keep) = std::env::var_os("DEMO_KEEP_DATA") {
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(&config.data_dir)
            .arg(&keep)
            .status()?;
        anyhow::ensure!(status.success(), "copying the data directory: {status}");
        println!(
            "the agent's data directory was copied to {}",
            keep.to_string_lossy()
        );
    }
    println!(
        "\ndemo finished: every session above was recorded by the scripted ACS and journaled by the agent"
    );
    Ok(())
}

/// An image the simulated device installs: `FIRMWARE <version>` then filler.
fn firmware_image(first_line: &str, size: usize) -> Vec<u8> {
    let mut bytes = format!("{first_line}\n").into_bytes();
    bytes.resize(size, 0x5a);
    bytes
}

/// Waits until a transfer file named `name` under `dir` holds at least `bytes`; returns its size.
async fn wait_for_file(dir: &std::path::Path, name: &str, bytes: u64) -> anyhow::Result<u64> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let size = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::metadata(e.path().join(name)).ok())
            .map(|m| m.len())
            .max()
            .unwrap_or(0);
        if size >= bytes {
            return Ok(size);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("{name} never reached {bytes} bytes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn tracing_subscriber_init() {
    // The demo narrates on stdout; the agent's own log goes to stderr, errors only unless
    // RUST_LOG says otherwise.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
