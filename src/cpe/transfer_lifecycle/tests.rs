//! The lifecycle, stage by stage, without a socket or a file.

use super::*;
use crate::cwmp::rpc::upload::file_type as upload_type;

const BOOT: &str = "boot-1";

fn accepted(file_type: &str, kind: proto::TransferKind) -> proto::TransferAccepted {
    proto::TransferAccepted {
        transfer_id: "t7-1000".into(),
        kind: kind as i32,
        command_key: "ck".into(),
        file_type: file_type.into(),
        url: "http://files.example/fw.bin".into(),
        file_size: 4096,
        delay_seconds: 30,
        accepted_at_unix: 1_000,
        ..Default::default()
    }
}

fn firmware() -> proto::TransferAccepted {
    accepted(
        download_type::FIRMWARE_UPGRADE_IMAGE,
        proto::TransferKind::Download,
    )
}

fn config_file() -> proto::TransferAccepted {
    accepted(
        download_type::VENDOR_CONFIGURATION_FILE,
        proto::TransferKind::Download,
    )
}

fn at(
    a: &proto::TransferAccepted,
    stage: Option<proto::TransferStageChanged>,
) -> proto::TransferState {
    proto::TransferState {
        accepted: Some(a.clone()),
        last_stage: stage,
    }
}

fn stage_of(stage: S) -> proto::TransferStageChanged {
    proto::TransferStageChanged {
        transfer_id: "t7-1000".into(),
        stage: stage as i32,
        start_time: 1_030,
        ..Default::default()
    }
}

fn facts(now_unix: i64) -> Facts<'static> {
    Facts {
        now_unix,
        boot_id: BOOT,
        running_version: "7.14",
        reboot_pending: false,
        applying_in_this_run: false,
    }
}

fn journaled(step: Step) -> Vec<proto::Record> {
    match step {
        Step::Journal(records) => records,
        other => panic!("expected records, got {other:?}"),
    }
}

fn stage_change(r: &proto::Record) -> &proto::TransferStageChanged {
    match &r.kind {
        Some(Kind::TransferStageChanged(s)) => s,
        other => panic!("not a stage change: {other:?}"),
    }
}

#[test]
fn accepted_waits_for_its_delay() {
    let records = journaled(next_step(&at(&firmware(), None), &facts(1_000)));
    let w = stage_change(&records[0]);
    assert_eq!(w.stage, S::Waiting as i32);
    assert_eq!(w.waiting_until, 1_030);
}

#[test]
fn waiting_starts_the_download_at_its_time_or_reports_a_missed_window() {
    let mut waiting = stage_of(S::Waiting);
    waiting.waiting_until = 1_030;
    let t = at(&firmware(), Some(waiting.clone()));
    assert_eq!(next_step(&t, &facts(1_029)), Step::WaitUntil(1_030));
    let records = journaled(next_step(&t, &facts(1_031)));
    let d = stage_change(&records[0]);
    assert_eq!(d.stage, S::Downloading as i32);
    assert_eq!((d.start_time, d.bytes_total), (1_031, 4096));

    let mut scheduled = firmware();
    scheduled.time_windows = vec![proto::TimeWindow {
        start: 30,
        end: 60,
        ..Default::default()
    }];
    let t = at(&scheduled, Some(waiting));
    let records = journaled(next_step(&t, &facts(1_060)));
    let c = stage_change(&records[0]);
    assert_eq!(c.stage, S::Completed as i32);
    assert_eq!(c.fault_code, FaultCode::DownloadOutsideTimeWindows.code());
}

#[test]
fn downloading_fetches_or_uploads() {
    let t = at(&firmware(), Some(stage_of(S::Downloading)));
    assert_eq!(next_step(&t, &facts(2_000)), Step::Start(Job::Download));
    let up = accepted(upload_type::VENDOR_LOG_FILE, proto::TransferKind::Upload);
    let t = at(&up, Some(stage_of(S::Downloading)));
    assert_eq!(next_step(&t, &facts(2_000)), Step::Start(Job::Upload));
}

#[test]
fn checkpoints_and_download_outcomes_become_stage_records() {
    let t = at(&firmware(), Some(stage_of(S::Downloading)));
    let c = on_checkpoint(&t, "pkg-1", 1 << 20);
    let c = stage_change(&c);
    assert_eq!(c.stage, S::Downloading as i32);
    assert_eq!(
        (c.path.as_str(), c.bytes_done, c.bytes_total),
        ("pkg-1", 1 << 20, 4096)
    );
    assert_eq!(c.start_time, 1_030, "the start time is carried forward");

    let ok = on_download_finished(
        &t,
        Ok(Downloaded {
            path: "/data/transfers/t7-1000/download".into(),
            size: 4096,
            sha256: "ab".into(),
        }),
        2_000,
    );
    let ok = stage_change(&ok);
    assert_eq!(ok.stage, S::Downloaded as i32);
    assert_eq!((ok.size, ok.sha256.as_str()), (4096, "ab"));
    assert_eq!(ok.path, "/data/transfers/t7-1000/download");

    let failed = on_download_finished(&t, Err((9016, "timed out".into())), 2_000);
    let failed = stage_change(&failed);
    assert_eq!(failed.stage, S::Completed as i32);
    assert_eq!((failed.fault_code, failed.complete_time), (9016, 2_000));
}

#[test]
fn downloaded_journals_applying_with_the_running_version_and_boot() {
    let t = at(&firmware(), Some(stage_of(S::Downloaded)));
    let records = journaled(next_step(&t, &facts(2_000)));
    let a = stage_change(&records[0]);
    assert_eq!(a.stage, S::Applying as i32);
    assert_eq!(
        (a.previous_version.as_str(), a.boot_id.as_str()),
        ("7.14", BOOT)
    );
}

#[test]
fn applying_in_this_run_starts_the_apply_job_for_its_file_type() {
    let running = Facts {
        applying_in_this_run: true,
        ..facts(2_000)
    };
    for (a, job) in [
        (firmware(), Job::ApplyFirmware),
        (config_file(), Job::ApplyConfiguration),
        (
            accepted(
                &factory_configuration_type("00000C"),
                proto::TransferKind::Download,
            ),
            Job::InstallFactoryConfiguration,
        ),
    ] {
        let t = at(&a, Some(stage_of(S::Applying)));
        assert_eq!(next_step(&t, &running), Step::Start(job));
    }
}

#[test]
fn firmware_found_applying_after_a_restart_is_never_applied_again() {
    let mut applying = stage_of(S::Applying);
    applying.previous_version = "7.14".into();
    applying.boot_id = BOOT.into();
    let t = at(&firmware(), Some(applying.clone()));
    // Same boot: the reboot decides (Applied + the firmware reboot), no second apply.
    let records = journaled(next_step(&t, &facts(2_000)));
    assert_eq!(stage_change(&records[0]).stage, S::Applied as i32);
    assert!(matches!(
        &records[1].kind,
        Some(Kind::RebootRequested(r)) if r.reason == REBOOT_REASON_FIRMWARE
    ));
    // A later boot: the running version decides.
    let rebooted = Facts {
        boot_id: "boot-2",
        running_version: "7.15",
        ..facts(3_000)
    };
    let records = journaled(next_step(&t, &rebooted));
    let c = stage_change(&records[0]);
    assert_eq!((c.stage, c.fault_code), (S::Completed as i32, 0));
    let rolled_back = Facts {
        boot_id: "boot-2",
        ..facts(3_000)
    };
    let records = journaled(next_step(&t, &rolled_back));
    let c = stage_change(&records[0]);
    assert_eq!(c.fault_code, FaultCode::FileTransferFailure.code());
    assert!(c.fault_string.contains("7.14"), "{}", c.fault_string);
}

#[test]
fn a_configuration_found_applying_after_a_restart_is_applied_again() {
    let t = at(&config_file(), Some(stage_of(S::Applying)));
    assert_eq!(
        next_step(&t, &facts(2_000)),
        Step::Start(Job::ApplyConfiguration)
    );
}

#[test]
fn applied_firmware_waits_for_its_reboot_then_is_decided() {
    let mut applied = stage_of(S::Applied);
    applied.previous_version = "7.14".into();
    applied.boot_id = BOOT.into();
    let t = at(&firmware(), Some(applied));
    let pending = Facts {
        reboot_pending: true,
        ..facts(2_000)
    };
    assert_eq!(next_step(&t, &pending), Step::Idle);
    let records = journaled(next_step(&t, &facts(2_000)));
    assert_eq!(
        records.len(),
        2,
        "Applied is journaled again with its reboot"
    );
    let rebooted = Facts {
        boot_id: "boot-2",
        running_version: "7.15",
        ..facts(3_000)
    };
    let records = journaled(next_step(&t, &rebooted));
    assert_eq!(stage_change(&records[0]).stage, S::Completed as i32);
}

#[test]
fn completed_and_cancelled_are_idle() {
    for s in [S::Completed, S::Cancelled, S::Reported] {
        let t = at(&firmware(), Some(stage_of(s)));
        assert_eq!(next_step(&t, &facts(5_000)), Step::Idle);
    }
    assert_eq!(
        next_step(&proto::TransferState::default(), &facts(5_000)),
        Step::Idle
    );
}

#[test]
fn firmware_results_and_hook_failures() {
    let t = at(&firmware(), Some(stage_of(S::Applying)));
    let ok = on_firmware_applied(&t, Ok(()), 2_000);
    assert_eq!(stage_change(&ok[0]).stage, S::Applied as i32);
    assert!(matches!(ok[1].kind, Some(Kind::RebootRequested(_))));
    let failed = on_firmware_applied(&t, Err("bad image".into()), 2_000);
    let c = stage_change(&failed[0]);
    assert_eq!((c.fault_code, c.fault_string.as_str()), (9010, "bad image"));
    let done = on_finished(&t, Ok(()), 2_100);
    assert_eq!(stage_change(&done).complete_time, 2_100);
}

#[test]
fn fault_strings_are_cut_to_the_schema_limit() {
    let t = at(&firmware(), None);
    let long = "x".repeat(1_000);
    let c = completed(&t, 1, 9010, long);
    assert_eq!(stage_change(&c).fault_string.chars().count(), 256);
}

#[test]
fn start_up_decides_firmware_applied_in_an_earlier_boot_only() {
    let mut state = AgentState {
        boot_id: "boot-2".into(),
        ..Default::default()
    };
    let mut applied = stage_of(S::Applied);
    applied.boot_id = BOOT.into();
    applied.previous_version = "7.14".into();
    state
        .transfers
        .insert("fw".into(), at(&firmware(), Some(applied.clone())));
    let mut same_boot = applied.clone();
    same_boot.boot_id = "boot-2".into();
    let mut other = firmware();
    other.transfer_id = "fw2".into();
    state
        .transfers
        .insert("fw2".into(), at(&other, Some(same_boot)));
    let mut cfg = config_file();
    cfg.transfer_id = "cfg".into();
    state
        .transfers
        .insert("cfg".into(), at(&cfg, Some(applied)));
    let records = startup_records(&state, "7.15", 9_000);
    assert_eq!(records.len(), 1);
    let c = stage_change(&records[0]);
    assert_eq!((c.stage, c.fault_code), (S::Completed as i32, 0));
}

#[test]
fn owed_transfer_completes_in_acceptance_order_with_their_times() {
    let mut state = AgentState::default();
    let mut later = firmware();
    later.transfer_id = "b".into();
    later.command_key = "second".into();
    later.accepted_at_unix = 2_000;
    let mut first = config_file();
    first.transfer_id = "a".into();
    first.command_key = "first".into();
    let mut done = stage_of(S::Completed);
    done.complete_time = 1_100;
    state
        .transfers
        .insert("b".into(), at(&later, Some(done.clone())));
    state.transfers.insert("a".into(), at(&first, Some(done)));
    let mut pending = firmware();
    pending.transfer_id = "c".into();
    state
        .transfers
        .insert("c".into(), at(&pending, Some(stage_of(S::Waiting))));
    let owed = owed_transfer_completes(&state);
    let keys: Vec<&str> = owed
        .iter()
        .map(|o| o.message.command_key.as_str())
        .collect();
    assert_eq!(keys, ["first", "second"]);
    assert_eq!(owed[0].message.start_time, DateTime::from_unix(1_030, 0));
    assert_eq!(owed[0].message.complete_time, DateTime::from_unix(1_100, 0));
}

#[test]
fn alterations_are_named_by_the_url_or_target_file_name() {
    let mut a = config_file();
    assert!(!is_alteration(&a));
    a.url = "http://x/cfg/site.alter?sig=1".into();
    assert!(is_alteration(&a));
    a.url = "http://x/cfg/site.rsc".into();
    a.target_file_name = "Site.ALTER".into();
    assert!(is_alteration(&a));
}
