//! End-to-end configuration transfers and the queue RPCs, through full sessions between the
//! REAL agent binary, the scripted ACS and the test kit's file server: configuration export
//! (Upload) then overwrite (Download) round-trips, `.alter` files, the log upload, the vendor
//! factory-configuration file and FactoryReset, CancelTransfer, GetAllQueuedTransfers and
//! ScheduleDownload.

use anyhow::{Context as _, bail, ensure};
use chaos_tests::device::*;
use chaos_tests::{AcsCall, FileServer, FileServerConfig, ScriptedAcs, SessionLog};
use tr069_client::cwmp::Body;
use tr069_client::cwmp::rpc::cancel_transfer::CancelTransfer;
use tr069_client::cwmp::rpc::download::{Download, file_type};
use tr069_client::cwmp::rpc::factory_reset::FactoryReset;
use tr069_client::cwmp::rpc::get_all_queued_transfers::GetAllQueuedTransfers;
use tr069_client::cwmp::rpc::get_parameter_values::GetParameterValues;
use tr069_client::cwmp::rpc::schedule_download::{ScheduleDownload, TimeWindowStruct, window_mode};
use tr069_client::cwmp::rpc::set_parameter_values::SetParameterValues;
use tr069_client::cwmp::rpc::upload::{Upload, file_type as upload_type};
use tr069_client::cwmp::{ParameterValueStruct, Value};

const OUI: &str = "00000C";

fn download(url: &str, key: &str, ft: &str, delay: u32) -> Body {
    Body::Download(Download {
        command_key: key.into(),
        file_type: ft.into(),
        url: url.into(),
        username: String::new(),
        password: String::new(),
        file_size: 0,
        target_file_name: String::new(),
        delay_seconds: delay,
        success_url: String::new(),
        failure_url: String::new(),
    })
}

fn upload(url: &str, key: &str, ft: &str) -> Body {
    Body::Upload(Upload {
        command_key: key.into(),
        file_type: ft.into(),
        url: url.into(),
        username: String::new(),
        password: String::new(),
        delay_seconds: 0,
    })
}

fn gpv(names: &[&str]) -> Body {
    Body::GetParameterValues(GetParameterValues {
        parameter_names: names.iter().map(|n| (*n).to_owned()).collect(),
    })
}

fn answer(call: &AcsCall) -> Option<&Body> {
    call.answer.as_ref().and_then(|a| a.body.as_ref())
}

fn values_of(call: &AcsCall) -> anyhow::Result<Vec<(String, String)>> {
    match answer(call) {
        Some(Body::GetParameterValuesResponse(r)) => Ok(r
            .parameter_list
            .iter()
            .map(|p| (p.name.clone(), p.value.text.clone()))
            .collect()),
        other => bail!("{} answered {other:?}", call.method),
    }
}

fn transfer_complete(acs: &ScriptedAcs, key: &str) -> Option<(u32, String)> {
    acs.sessions()
        .iter()
        .flat_map(|s| s.cpe_calls.clone())
        .find_map(|c| match c.body {
            Some(Body::TransferComplete(tc)) if tc.command_key == key => {
                Some((tc.fault_struct.fault_code, tc.fault_struct.fault_string))
            }
            _ => None,
        })
}

async fn wait_transfer_complete(acs: &ScriptedAcs, key: &str) -> anyhow::Result<(u32, String)> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(tc) = transfer_complete(acs, key) {
            return Ok(tc);
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "no TransferComplete for {key}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Runs the queued requests in a session started with `inform-now`; returns it.
async fn session_with(
    device: &Device,
    acs: &ScriptedAcs,
    requests: Vec<Body>,
) -> anyhow::Result<SessionLog> {
    let after = acs.wait_settled(WAIT).await?;
    let n = requests.len();
    for r in requests {
        acs.enqueue(r);
    }
    let (code, out, err) = device.cli(&["inform-now"]).await?;
    ensure!(code == 0, "inform-now exited {code}: {out}{err}");
    wait_session(acs, after, "a session with the queued requests", |s| {
        s.is_ended() && s.acs_calls.len() >= n && s.acs_calls.iter().all(|c| c.answer.is_some())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_export_overwrite_alter_and_factory_reset() {
    let device = Device::new(
        "configuration_export_overwrite_alter_and_factory_reset",
        env!("CARGO_BIN_EXE_agent"),
    );
    scenario(&device, async {
        let files = FileServer::start(FileServerConfig::default()).await?;
        let acs = ScriptedAcs::start(digest_acs()).await?;
        device.write_config(&acs.url(), &[]);
        let _agent = device.start().await?;
        check_bootstrap(&acs, &device).await?;

        // Configure, then export ("1 Vendor Configuration File") and upload the log.
        session_with(
            &device,
            &acs,
            vec![
                Body::SetParameterValues(SetParameterValues {
                    parameter_list: vec![
                        ParameterValueStruct::new(
                            "Device.Time.NTPServer1",
                            Value::string("ntp-a.example"),
                        ),
                        ParameterValueStruct::new(
                            "Device.Time.LocalTimeZone",
                            Value::string(" padded "),
                        ),
                    ],
                    parameter_key: "cfg-1".into(),
                }),
                upload(
                    &files.url("/backup.cfg"),
                    "up-cfg",
                    upload_type::VENDOR_CONFIGURATION_FILE,
                ),
                upload(
                    &files.url("/agent.log"),
                    "up-log",
                    upload_type::VENDOR_LOG_FILE,
                ),
            ],
        )
        .await?;
        ensure!(wait_transfer_complete(&acs, "up-cfg").await?.0 == 0);
        ensure!(wait_transfer_complete(&acs, "up-log").await?.0 == 0);
        let uploads = files.uploads();
        let backup = uploads
            .iter()
            .find(|(p, _)| p == "/backup.cfg")
            .context("no backup uploaded")?
            .1
            .clone();
        let backup_text = String::from_utf8(backup.clone())?;
        ensure!(
            backup_text.contains("Device.Time.NTPServer1 = ntp-a.example"),
            "{backup_text}"
        );
        let log = String::from_utf8(
            uploads
                .iter()
                .find(|(p, _)| p == "/agent.log")
                .context("no log")?
                .1
                .clone(),
        )?;
        ensure!(log.contains("parameter(s) set by acs"), "log:\n{log}");
        ensure!(
            !log.contains(ACS_PASSWORD) && !log.contains(CR_PASSWORD),
            "the log shows a secret"
        );

        // Change things, then overwrite with the backup: the backup's values come back, and the
        // overwrite resets what the backup does not hold.
        files.add_file("/backup.cfg", backup);
        files.add_file(
            "/tz.alter",
            b"# an alteration\nDevice.Time.LocalTimeZone = CET-1CEST\n".to_vec(),
        );
        files.add_file(
            "/broken.alter",
            b"Device.Time.NTPServer1 = ok\nDevice.DeviceInfo.UpTime = 5\n".to_vec(),
        );
        session_with(
            &device,
            &acs,
            vec![
                Body::SetParameterValues(SetParameterValues {
                    parameter_list: vec![ParameterValueStruct::new(
                        "Device.Time.NTPServer1",
                        Value::string("ntp-b.example"),
                    )],
                    parameter_key: "cfg-2".into(),
                }),
                download(
                    &files.url("/backup.cfg"),
                    "dl-overwrite",
                    file_type::VENDOR_CONFIGURATION_FILE,
                    0,
                ),
            ],
        )
        .await?;
        let tc = wait_transfer_complete(&acs, "dl-overwrite").await?;
        ensure!(tc.0 == 0, "overwrite: {tc:?}");
        session_with(
            &device,
            &acs,
            vec![download(
                &files.url("/tz.alter"),
                "dl-alter",
                file_type::VENDOR_CONFIGURATION_FILE,
                0,
            )],
        )
        .await?;
        ensure!(wait_transfer_complete(&acs, "dl-alter").await?.0 == 0);
        session_with(
            &device,
            &acs,
            vec![download(
                &files.url("/broken.alter"),
                "dl-broken",
                file_type::VENDOR_CONFIGURATION_FILE,
                0,
            )],
        )
        .await?;
        let (code, why) = wait_transfer_complete(&acs, "dl-broken").await?;
        ensure!(
            code == 9010 && why.contains("Device.DeviceInfo.UpTime"),
            "{code} {why}"
        );
        let s = session_with(
            &device,
            &acs,
            vec![gpv(&[
                "Device.Time.NTPServer1",
                "Device.Time.LocalTimeZone",
            ])],
        )
        .await?;
        let v = values_of(&s.acs_calls[0])?;
        ensure!(
            v == [
                (
                    "Device.Time.NTPServer1".to_owned(),
                    "ntp-a.example".to_owned()
                ),
                (
                    "Device.Time.LocalTimeZone".to_owned(),
                    "CET-1CEST".to_owned()
                )
            ],
            "{v:?}"
        );

        // A vendor factory configuration, then FactoryReset: the device comes back with it.
        let factory_type = format!("X {OUI} Factory Configuration File");
        files.add_file(
            "/factory.cfg",
            b"Device.Time.NTPServer1 = factory-ntp.example\n".to_vec(),
        );
        session_with(
            &device,
            &acs,
            vec![download(
                &files.url("/factory.cfg"),
                "dl-factory",
                &factory_type,
                0,
            )],
        )
        .await?;
        ensure!(wait_transfer_complete(&acs, "dl-factory").await?.0 == 0);
        let before = acs.wait_settled(WAIT).await?;
        acs.enqueue(Body::FactoryReset(FactoryReset));
        let (code, out, err) = device.cli(&["inform-now"]).await?;
        ensure!(code == 0, "inform-now exited {code}: {out}{err}");
        // Without a reboot hook the agent exits for its supervisor to reboot the device.
        let mut agent = _agent;
        ensure!(
            agent.wait_exit(WAIT).await?,
            "the agent did not exit for the reboot"
        );
        device.set_boot_id("boot-after-reset");
        let _agent = device.start().await?;
        let s = wait_session(&acs, before + 1, "the BOOTSTRAP after the reset", |s| {
            s.has_event(BOOTSTRAP)
        })
        .await?;
        ensure!(s.has_event(BOOT), "events {:?}", s.event_codes());
        let s = session_with(
            &device,
            &acs,
            vec![gpv(&[
                "Device.Time.NTPServer1",
                "Device.Time.LocalTimeZone",
            ])],
        )
        .await?;
        let v = values_of(&s.acs_calls[0])?;
        ensure!(
            v == [
                (
                    "Device.Time.NTPServer1".to_owned(),
                    "factory-ntp.example".to_owned()
                ),
                ("Device.Time.LocalTimeZone".to_owned(), String::new())
            ],
            "{v:?}"
        );
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_transfers_cancel_and_schedule_download() {
    let device = Device::new(
        "queued_transfers_cancel_and_schedule_download",
        env!("CARGO_BIN_EXE_agent"),
    );
    scenario(&device, async {
        let files = FileServer::start(FileServerConfig::default()).await?;
        files.add_file("/later.cfg", b"Device.Time.NTPServer2 = later\n".to_vec());
        files.add_file(
            "/windowed.cfg",
            b"Device.Time.NTPServer3 = windowed\n".to_vec(),
        );
        let acs = ScriptedAcs::start(digest_acs()).await?;
        device.write_config(&acs.url(), &[]);
        let _agent = device.start().await?;
        check_bootstrap(&acs, &device).await?;
        let window = |mode: &str| TimeWindowStruct {
            window_start: 0,
            window_end: 600,
            window_mode: mode.into(),
            user_message: String::new(),
            max_retries: 0,
        };
        let schedule = |key: &str, mode: &str| {
            Body::ScheduleDownload(ScheduleDownload {
                command_key: key.into(),
                file_type: file_type::VENDOR_CONFIGURATION_FILE.into(),
                url: files.url("/windowed.cfg"),
                username: String::new(),
                password: String::new(),
                file_size: 0,
                target_file_name: String::new(),
                time_window_list: vec![window(mode)],
            })
        };
        let s = session_with(
            &device,
            &acs,
            vec![
                download(
                    &files.url("/later.cfg"),
                    "later",
                    file_type::VENDOR_CONFIGURATION_FILE,
                    3600,
                ),
                download(
                    "ftp://files.example/x.cfg",
                    "ftp",
                    file_type::VENDOR_CONFIGURATION_FILE,
                    0,
                ),
                download(&files.url("/x"), "tone", "4 Tone File", 0),
                Body::GetAllQueuedTransfers(GetAllQueuedTransfers),
                Body::CancelTransfer(CancelTransfer {
                    command_key: "later".into(),
                }),
                Body::CancelTransfer(CancelTransfer {
                    command_key: "nope".into(),
                }),
                Body::GetAllQueuedTransfers(GetAllQueuedTransfers),
                schedule("idle", window_mode::WHEN_IDLE),
                schedule("windowed", window_mode::AT_ANY_TIME),
            ],
        )
        .await?;
        let c = &s.acs_calls;
        let fault = |i: usize| {
            answer(&c[i]).and_then(|b| match b {
                Body::Fault(f) => Some(f.code),
                _ => None,
            })
        };
        ensure!(fault(1) == Some(9013), "ftp answered {:?}", answer(&c[1]));
        ensure!(
            fault(2) == Some(9003),
            "tone file answered {:?}",
            answer(&c[2])
        );
        match answer(&c[3]) {
            Some(Body::GetAllQueuedTransfersResponse(r)) => ensure!(
                r.transfer_list.len() == 1
                    && r.transfer_list[0].command_key == "later"
                    && r.transfer_list[0].state == 1,
                "{r:?}"
            ),
            other => bail!("GetAllQueuedTransfers answered {other:?}"),
        }
        ensure!(
            matches!(answer(&c[4]), Some(Body::CancelTransferResponse(_))),
            "{:?}",
            answer(&c[4])
        );
        ensure!(
            fault(5) == Some(9003),
            "unknown key answered {:?}",
            answer(&c[5])
        );
        match answer(&c[6]) {
            Some(Body::GetAllQueuedTransfersResponse(r)) => {
                ensure!(r.transfer_list.is_empty(), "{r:?}")
            }
            other => bail!("GetAllQueuedTransfers answered {other:?}"),
        }
        ensure!(
            fault(7) == Some(9003),
            "When Idle answered {:?}",
            answer(&c[7])
        );
        ensure!(
            matches!(answer(&c[8]), Some(Body::ScheduleDownloadResponse(_))),
            "{:?}",
            answer(&c[8])
        );
        ensure!(wait_transfer_complete(&acs, "windowed").await?.0 == 0);
        let reported = acs
            .sessions()
            .into_iter()
            .find(|s| transfer_completes_in(s).contains(&"windowed".to_owned()))
            .context("no session")?;
        ensure!(
            reported
                .inform
                .event
                .iter()
                .any(|e| e.event_code == "M ScheduleDownload" && e.command_key == "windowed"),
            "events {:?}",
            reported.inform.event
        );
        ensure!(
            transfer_complete(&acs, "later").is_none(),
            "a cancelled transfer was reported"
        );
        Ok(())
    })
    .await;
}

fn transfer_completes_in(s: &SessionLog) -> Vec<String> {
    s.cpe_calls
        .iter()
        .filter_map(|c| match &c.body {
            Some(Body::TransferComplete(tc)) => Some(tc.command_key.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_apply_hook_is_told_overwrite_or_alter() {
    // `{mode}` was refused by the config check although the agent fills it: a hook could never
    // tell an overwrite from an alteration.
    let device = Device::new("config_apply_hook_mode", env!("CARGO_BIN_EXE_agent"));
    scenario(&device, async {
        let files = FileServer::start(FileServerConfig::default()).await?;
        files.add_file("/site.cfg", b"Device.Time.NTPServer1 = a.example\n".to_vec());
        files.add_file("/site.alter", b"Device.Time.NTPServer2 = b.example\n".to_vec());
        let acs = ScriptedAcs::start(digest_acs()).await?;
        let log = device.path().join("applied.log");
        device.add_config(&format!(
            "[hooks]\nconfig_apply = \"printf '%s %s\\\\n' {{mode}} \\\"$(cat {{file}})\\\" >> {}\"\n",
            log.display()
        ));
        device.write_config(&acs.url(), &[]);
        let _agent = device.start().await?;
        check_bootstrap(&acs, &device).await?;
        for (path, key) in [("/site.cfg", "dl-overwrite"), ("/site.alter", "dl-alter")] {
            session_with(
                &device,
                &acs,
                vec![download(
                    &files.url(path),
                    key,
                    file_type::VENDOR_CONFIGURATION_FILE,
                    0,
                )],
            )
            .await?;
            let tc = wait_transfer_complete(&acs, key).await?;
            ensure!(tc.0 == 0, "{key}: {tc:?}");
        }
        let lines = device.log_lines("applied.log");
        ensure!(
            lines
                == [
                    "overwrite Device.Time.NTPServer1 = a.example",
                    "alter Device.Time.NTPServer2 = b.example"
                ],
            "the hook saw {lines:?}"
        );
        Ok(())
    })
    .await;
}
