//! End-to-end firmware upgrades on a simulated device (see `Device::simulate_firmware`): the
//! REAL agent binary downloads from the test kit's file server, applies through its hook,
//! reboots through its hook and is restarted by the test (the supervisor), then reports exactly
//! one TransferComplete — also when it is killed mid-download or inside the apply hook.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use chaos_tests::device::*;
use chaos_tests::{FileServer, FileServerConfig, Mode, ScriptedAcs, SessionLog};
use tr069_client::cwmp::Body;
use tr069_client::cwmp::rpc::download::{Download, file_type};

const TC: &str = "7 TRANSFER COMPLETE";

fn download(url: &str, key: &str) -> Body {
    Body::Download(Download {
        command_key: key.into(),
        file_type: file_type::FIRMWARE_UPGRADE_IMAGE.into(),
        url: url.into(),
        username: String::new(),
        password: String::new(),
        file_size: 0,
        target_file_name: String::new(),
        delay_seconds: 0,
        success_url: String::new(),
        failure_url: String::new(),
    })
}

/// An image the simulated device installs: `FIRMWARE <version>` then filler.
fn image(first_line: &str, size: usize) -> Vec<u8> {
    let mut bytes = format!("{first_line}\n").into_bytes();
    let mut x: u32 = 0x2545_f491;
    while bytes.len() < size {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.push((x % 251) as u8);
    }
    bytes
}

/// The TransferCompletes a session carried: (CommandKey, FaultCode, start, complete).
fn transfer_completes(s: &SessionLog) -> Vec<(String, u32, String, String)> {
    s.cpe_calls
        .iter()
        .filter_map(|c| match &c.body {
            Some(Body::TransferComplete(tc)) => Some((
                tc.command_key.clone(),
                tc.fault_struct.fault_code,
                tc.start_time.to_string(),
                tc.complete_time.to_string(),
            )),
            _ => None,
        })
        .collect()
}

fn all_transfer_completes(acs: &ScriptedAcs) -> Vec<(String, u32, String, String)> {
    acs.sessions().iter().flat_map(transfer_completes).collect()
}

/// Waits for the agent to reboot (exit after the reboot hook) and starts it again.
async fn reboot_and_restart(
    device: &Device,
    agent: &mut AgentProcess,
) -> anyhow::Result<AgentProcess> {
    ensure!(
        agent.wait_exit(WAIT).await?,
        "the agent did not exit with the reboot status"
    );
    device.start().await
}

async fn check_reported_once(
    acs: &ScriptedAcs,
    after: usize,
    key: &str,
    fault: u32,
    version: &str,
) -> anyhow::Result<()> {
    let s = wait_session(acs, after, "the session reporting the transfer", |s| {
        s.has_event(TC) && s.is_ended()
    })
    .await?;
    ensure!(s.has_event(BOOT), "events {:?}", s.event_codes());
    ensure!(
        s.inform
            .event
            .iter()
            .any(|e| e.event_code == "M Download" && e.command_key == key),
        "events {:?}",
        s.inform.event
    );
    ensure!(
        !s.has_event("M Reboot"),
        "a firmware reboot is no M Reboot: {:?}",
        s.event_codes()
    );
    ensure!(
        s.parameter("Device.DeviceInfo.SoftwareVersion") == Some(version),
        "SoftwareVersion {:?}",
        s.parameter("Device.DeviceInfo.SoftwareVersion")
    );
    let tcs = all_transfer_completes(acs);
    ensure!(tcs.len() == 1, "TransferCompletes: {tcs:?}");
    let (k, code, start, complete) = &tcs[0];
    ensure!(k == key && *code == fault, "TransferComplete {:?}", tcs[0]);
    ensure!(
        !start.starts_with("0001") && !complete.starts_with("0001") && start <= complete,
        "times {start} {complete}"
    );
    Ok(())
}

fn pkg_file(device: &Device, name: &str) -> Option<PathBuf> {
    let dir = device.data_dir().join("transfers");
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path().join(name))
        .find(|p| p.exists())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firmware_upgrade_is_applied_once_and_reported_once() {
    let device = Device::new(
        "firmware_upgrade_is_applied_once_and_reported_once",
        env!("CARGO_BIN_EXE_agent"),
    );
    scenario(&device, async {
        let files = FileServer::start(FileServerConfig::default()).await?;
        files.add_file("/fw-7.15.bin", image("FIRMWARE 7.15", 300_000));
        let acs = ScriptedAcs::start(digest_acs()).await?;
        device.simulate_firmware();
        device.write_config(&acs.url(), &[]);
        acs.enqueue(download(&files.url("/fw-7.15.bin"), "fw-1"));
        // The whole upgrade may be over (and the agent exited for its reboot) before its control
        // socket is ever polled: spawn, do not wait for the socket.
        let mut agent = device.spawn()?;
        let first = wait_session(&acs, 0, "the BOOTSTRAP session", |s| s.is_ended() && !s.acs_calls.is_empty()).await?;
        ensure!(
            matches!(first.acs_calls[0].answer.as_ref().and_then(|a| a.body.as_ref()), Some(Body::DownloadResponse(r)) if r.status == 1),
            "Download answered {:?}",
            first.acs_calls[0].answer
        );
        let _agent = reboot_and_restart(&device, &mut agent).await?;
        check_reported_once(&acs, 1, "fw-1", 0, "7.15").await?;
        ensure!(device.log_lines("applies.log").len() == 1, "applies {:?}", device.log_lines("applies.log"));
        ensure!(device.log_lines("reboots.log").len() == 1);
        // Once acknowledged, the transfer's files leave the flash.
        let transfers = device.data_dir().join("transfers");
        let deadline = tokio::time::Instant::now() + WAIT;
        while std::fs::read_dir(&transfers).map(|d| d.count()).unwrap_or(0) > 0 {
            ensure!(tokio::time::Instant::now() < deadline, "the transfer's files were never removed");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_image_rolls_back_and_is_reported_with_9010() {
    let device = Device::new(
        "a_bad_image_rolls_back_and_is_reported_with_9010",
        env!("CARGO_BIN_EXE_agent"),
    );
    scenario(&device, async {
        let files = FileServer::start(FileServerConfig::default()).await?;
        files.add_file("/bad.bin", image("FIRMWARE-BAD 7.15", 10_000));
        let acs = ScriptedAcs::start(digest_acs()).await?;
        device.simulate_firmware();
        device.write_config(&acs.url(), &[]);
        acs.enqueue(download(&files.url("/bad.bin"), "fw-bad"));
        let mut agent = device.spawn()?;
        let _agent = reboot_and_restart(&device, &mut agent).await?;
        check_reported_once(&acs, 1, "fw-bad", 9010, "7.14").await?;
        let s = acs.sessions();
        let fault_string = s
            .iter()
            .flat_map(|s| s.cpe_calls.iter())
            .find_map(|c| match &c.body {
                Some(Body::TransferComplete(tc)) => Some(tc.fault_struct.fault_string.clone()),
                _ => None,
            })
            .unwrap_or_default();
        ensure!(
            fault_string.contains("7.14"),
            "FaultString {fault_string:?}"
        );
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_killed_mid_download_resumes_with_range_and_applies_every_package_once() {
    let device = Device::new(
        "manifest_killed_mid_download_resumes",
        env!("CARGO_BIN_EXE_agent"),
    );
    scenario(&device, async {
        let files = FileServer::start(FileServerConfig::default()).await?;
        files.add_file("/routeros-7.15.npk", image("FIRMWARE 7.15", 50_000));
        files.add_file("/wireless-7.15.npk", image("FIRMWARE 7.15", 3 << 20));
        files.set_mode(
            "/wireless-7.15.npk",
            Mode::Slow {
                bytes_per_sec: 400_000,
            },
        );
        let manifest = format!(
            "<?xml version=\"1.0\"?>\n<upgrade version=\"1\" type=\"links\"><config/><links>\
             <link><url>{}</url></link><link><url>{}</url></link></links></upgrade>\n",
            files.url("/routeros-7.15.npk"),
            files.url("/wireless-7.15.npk")
        );
        files.add_file("/upgrade.xml", manifest.into_bytes());
        let acs = ScriptedAcs::start(digest_acs()).await?;
        device.simulate_firmware();
        device.write_config(&acs.url(), &[]);
        acs.enqueue(download(&files.url("/upgrade.xml"), "fw-manifest"));
        let mut agent = device.start().await?;

        // Kill -9 once the slow package is well past its first durable checkpoint.
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let size = pkg_file(&device, "pkg-1")
                .and_then(|p| std::fs::metadata(p).ok())
                .map_or(0, |m| m.len());
            if size >= 1_700_000 {
                break;
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "the package download never progressed"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        agent.kill();
        ensure!(
            device.log_lines("applies.log").is_empty(),
            "applied before every package was downloaded"
        );
        let mut agent = device.spawn()?;
        let _agent = reboot_and_restart(&device, &mut agent).await?;
        check_reported_once(&acs, 1, "fw-manifest", 0, "7.15").await?;

        let ranges: Vec<String> = files
            .requests()
            .into_iter()
            .filter(|r| r.path == "/wireless-7.15.npk")
            .filter_map(|r| r.range)
            .collect();
        let resumed_from: u64 = ranges
            .first()
            .and_then(|r| r.strip_prefix("bytes=")?.strip_suffix('-')?.parse().ok())
            .context(format!("no Range request resumed the package: {ranges:?}"))?;
        ensure!(resumed_from >= 1 << 20, "resumed from {resumed_from}");
        let applies = device.log_lines("applies.log");
        ensure!(applies.len() == 2, "each package applied once: {applies:?}");
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_inside_the_apply_hook_the_image_is_never_applied_again() {
    let device = Device::new("killed_inside_the_apply_hook", env!("CARGO_BIN_EXE_agent"));
    scenario(&device, async {
        let files = FileServer::start(FileServerConfig::default()).await?;
        files.add_file("/fw.bin", image("FIRMWARE 7.16", 20_000));
        let acs = ScriptedAcs::start(digest_acs()).await?;
        device.simulate_firmware();
        std::fs::write(device.path().join("apply-sleep"), "30")?;
        device.write_config(&acs.url(), &[]);
        acs.enqueue(download(&files.url("/fw.bin"), "fw-hook"));
        let mut agent = device.start().await?;
        let deadline = tokio::time::Instant::now() + WAIT;
        while device.log_lines("applies.log").is_empty() {
            ensure!(
                tokio::time::Instant::now() < deadline,
                "the apply hook never ran"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        agent.kill();
        std::fs::remove_file(device.path().join("apply-sleep"))?;
        // Same boot: a process restart. The agent must not run the hook again; it goes straight
        // to the reboot (so fast that it may exit before its control socket is ever polled).
        let mut agent = device.spawn()?;
        let _agent = reboot_and_restart(&device, &mut agent).await?;
        check_reported_once(&acs, 1, "fw-hook", 0, "7.16").await?;
        let applies = device.log_lines("applies.log");
        if applies.len() != 1 {
            bail!("the image was applied {} times: {applies:?}", applies.len());
        }
        Ok(())
    })
    .await;
}

/// The abuse matrix (SECURITY.md): a firmware manifest that lists itself, and one whose package
/// redirects back to the manifest, are refused with 9018 before anything is applied; no reboot,
/// and the journal verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_pointing_at_itself_is_refused_with_9018() {
    let device = Device::new(
        "a_manifest_pointing_at_itself_is_refused_with_9018",
        env!("CARGO_BIN_EXE_agent"),
    );
    scenario(&device, async {
        let files = FileServer::start(FileServerConfig::default()).await?;
        let manifest = |url: String| {
            format!(
                "<?xml version=\"1.0\"?>\n<upgrade version=\"1\" type=\"links\"><links>\
                 <link><url>{url}</url></link></links></upgrade>\n"
            )
            .into_bytes()
        };
        files.add_file("/self.xml", manifest(files.url("/self.xml")));
        files.add_file("/loop.xml", manifest(files.url("/back")));
        files.set_mode(
            "/back",
            Mode::Redirect {
                status: 302,
                location: "/loop.xml".into(),
            },
        );
        let acs = ScriptedAcs::start(digest_acs()).await?;
        device.simulate_firmware();
        device.write_config(&acs.url(), &[]);
        acs.enqueue(download(&files.url("/self.xml"), "fw-self"));
        acs.enqueue(download(&files.url("/loop.xml"), "fw-loop"));
        let mut agent = device.start().await?;
        let deadline = tokio::time::Instant::now() + WAIT;
        let tcs = loop {
            let tcs = all_transfer_completes(&acs);
            if tcs.len() >= 2 {
                break tcs;
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "no TransferComplete for both: {tcs:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        for key in ["fw-self", "fw-loop"] {
            let tc = tcs.iter().find(|t| t.0 == key);
            ensure!(
                tc.is_some_and(|t| t.1 == 9018),
                "{key}: TransferComplete {tc:?} (all: {tcs:?})"
            );
        }
        ensure!(
            device.log_lines("applies.log").is_empty(),
            "a manifest was applied"
        );
        ensure!(
            device.log_lines("reboots.log").is_empty(),
            "the device rebooted"
        );
        agent.terminate().await?;
        let (code, out, err) = device.cli(&["journal", "verify"]).await?;
        ensure!(code == 0, "journal verify: {out} {err}");
        Ok(())
    })
    .await;
}
