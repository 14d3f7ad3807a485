//! `fold` is a pure function: every record type, and the retention rules, tested as one.

use super::boot::startup_records;
use super::*;
use crate::records::proto::{self, record::Kind};

fn fold(records: &[Record]) -> AgentState {
    let mut s = AgentState::default();
    for (i, r) in records.iter().enumerate() {
        s.apply(i as u64 + 1, 1_000_000 + i as u64 * 1000, r);
    }
    s
}

fn codes(s: &AgentState) -> Vec<String> {
    s.inform_events()
        .into_iter()
        .map(|e| format!("{}|{}", e.event_code, e.command_key))
        .collect()
}

fn ack(events: &[(&str, &str)]) -> Record {
    record(Kind::InformAcknowledged(proto::InformAcknowledged {
        session_id: "s".into(),
        delivered: events
            .iter()
            .map(|(c, k)| proto::EventRef {
                code: (*c).into(),
                command_key: (*k).into(),
            })
            .collect(),
    }))
}

fn started(id: &str) -> Record {
    record(Kind::SessionStarted(proto::SessionStarted {
        session_id: id.into(),
        ..Default::default()
    }))
}

fn ended(id: &str, ok: bool, wait: Option<u32>) -> Record {
    record(Kind::SessionEnded(proto::SessionEnded {
        heartbeat: false,
        session_id: id.into(),
        outcome: if ok {
            proto::SessionOutcome::Succeeded
        } else {
            proto::SessionOutcome::Failed
        } as i32,
        reason: if ok {
            String::new()
        } else {
            "connection refused by 192.0.2.1:7547".into()
        },
        retry_after_seconds: wait,
        http_status: None,
    }))
}

fn boot(id: &str, new_boot: bool) -> Record {
    record(Kind::BootObserved(proto::BootObserved {
        boot_id: id.into(),
        software_version: "1.0".into(),
        new_boot,
    }))
}

#[test]
fn first_start_owes_bootstrap_and_boot() {
    let records = startup_records(&AgentState::default(), "boot-a", "1.0");
    let s = fold(&records);
    assert_eq!(codes(&s), ["0 BOOTSTRAP|", "1 BOOT|"]);
    assert_eq!(s.boot_id, "boot-a");
}

#[test]
fn process_restart_owes_nothing_new_and_keeps_owed_events() {
    let mut records = startup_records(&AgentState::default(), "boot-a", "1.0");
    let s = fold(&records);
    records.extend(startup_records(&s, "boot-a", "1.0"));
    let s = fold(&records);
    assert_eq!(
        codes(&s),
        ["0 BOOTSTRAP|", "1 BOOT|"],
        "BOOTSTRAP and BOOT still owed, no second BOOT"
    );
}

#[test]
fn reboot_owes_boot_and_m_reboot_with_the_command_key() {
    let mut records = startup_records(&AgentState::default(), "boot-a", "1.0");
    records.push(started("s1"));
    records.push(ack(&[("0 BOOTSTRAP", ""), ("1 BOOT", "")]));
    records.push(record(Kind::RebootRequested(proto::RebootRequested {
        command_key: "reboot-42".into(),
        reason: "Reboot".into(),
    })));
    records.push(ended("s1", true, None));
    let s = fold(&records);
    assert!(codes(&s).is_empty());
    assert!(s.pending_reboot.is_some());
    records.extend(startup_records(&s, "boot-b", "1.0"));
    let s = fold(&records);
    assert_eq!(codes(&s), ["1 BOOT|", "M Reboot|reboot-42"]);
    assert_eq!(s.pending_reboot, None);
}

#[test]
fn factory_reset_reboot_owes_bootstrap_and_boot() {
    let mut records = startup_records(&AgentState::default(), "boot-a", "1.0");
    records.push(ack(&[("0 BOOTSTRAP", ""), ("1 BOOT", "")]));
    records.push(record(Kind::RebootRequested(proto::RebootRequested {
        command_key: String::new(),
        reason: REBOOT_REASON_FACTORY_RESET.into(),
    })));
    records.push(record(Kind::FactoryResetDone(proto::FactoryResetDone {})));
    let s = fold(&records);
    records.extend(startup_records(&s, "boot-b", "1.0"));
    assert_eq!(codes(&fold(&records)), ["0 BOOTSTRAP|", "1 BOOT|"]);
}

#[test]
fn one_reboot_serves_a_factory_reset_and_a_reboot_of_the_same_session() {
    // Found against GenieACS: factoryReset then reboot in one session lost the reset.
    for reasons in [
        [REBOOT_REASON_FACTORY_RESET, "Reboot"],
        ["Reboot", REBOOT_REASON_FACTORY_RESET],
    ] {
        let mut records = startup_records(&AgentState::default(), "boot-a", "1.0");
        records.push(ack(&[("0 BOOTSTRAP", ""), ("1 BOOT", "")]));
        for reason in reasons {
            records.push(record(Kind::RebootRequested(proto::RebootRequested {
                command_key: if reason == "Reboot" {
                    "rb-1".into()
                } else {
                    String::new()
                },
                reason: reason.into(),
            })));
        }
        let s = fold(&records);
        let pending = s.pending_reboot.clone().unwrap();
        assert!(pending.factory_reset && pending.reboot_rpc, "{reasons:?}");
        records.extend(startup_records(&s, "boot-b", "1.0"));
        assert_eq!(
            codes(&fold(&records)),
            ["0 BOOTSTRAP|", "1 BOOT|", "M Reboot|rb-1"],
            "{reasons:?}"
        );
    }
}

#[test]
fn a_firmware_reboot_with_an_acs_reboot_owes_m_reboot_too() {
    let mut records = startup_records(&AgentState::default(), "boot-a", "1.0");
    records.push(ack(&[("0 BOOTSTRAP", ""), ("1 BOOT", "")]));
    for (key, reason) in [("k", "Reboot"), ("", REBOOT_REASON_FIRMWARE)] {
        records.push(record(Kind::RebootRequested(proto::RebootRequested {
            command_key: key.into(),
            reason: reason.into(),
        })));
    }
    let s = fold(&records);
    records.extend(startup_records(&s, "boot-b", "2.0"));
    assert_eq!(codes(&fold(&records)), ["1 BOOT|", "M Reboot|k"]);
}

#[test]
fn a_pending_reboot_from_an_old_snapshot_still_owes_m_reboot() {
    // Snapshots made before `reboot_rpc` existed hold an ACS reboot as neither factory reset
    // nor firmware.
    let snap = proto::AgentSnapshot {
        boot_id: "boot-a".into(),
        pending_reboot: Some(proto::PendingReboot {
            command_key: "old".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let s = AgentState::from_snapshot(&snap);
    assert!(s.pending_reboot.as_ref().is_some_and(|r| r.reboot_rpc));
}

#[test]
fn reboot_attempts_count_per_boot_and_an_abandoned_reboot_is_no_longer_pending() {
    let mut records = startup_records(&AgentState::default(), "boot-a", "1.0");
    records.push(record(Kind::RebootRequested(proto::RebootRequested {
        command_key: "k".into(),
        reason: "Reboot".into(),
    })));
    for boot in ["boot-a", "boot-a", "boot-x", "boot-x"] {
        records.push(record(Kind::RebootAttempted(proto::RebootAttempted {
            boot_id: boot.into(),
        })));
    }
    let s = fold(&records);
    let p = s.pending_reboot.clone().unwrap();
    assert_eq!((p.attempts, p.attempt_boot_id.as_str()), (2, "boot-x"));
    let snap = AgentState::from_snapshot(&s.to_snapshot());
    assert_eq!(snap.pending_reboot, s.pending_reboot);
    records.push(record(Kind::RebootAbandoned(proto::RebootAbandoned {
        reason: "no reboot".into(),
        attempts: 3,
    })));
    let s = fold(&records);
    assert_eq!(s.pending_reboot, None);
    assert_eq!(s.last_session_error, "no reboot");
}

#[test]
fn a_session_cut_short_by_a_crash_counts_as_failed() {
    let mut records = startup_records(&AgentState::default(), "boot-a", "1.0");
    records.push(event_raised(ec::CONNECTION_REQUEST, ""));
    records.push(started("s1"));
    let s = fold(&records);
    assert_eq!(s.session_in_progress.as_deref(), Some("s1"));
    records.extend(startup_records(&s, "boot-a", "1.0"));
    let s = fold(&records);
    assert_eq!(s.retry_count, 1);
    assert_eq!(s.session_in_progress, None);
    assert_eq!(
        codes(&s),
        ["0 BOOTSTRAP|", "1 BOOT|"],
        "6 CONNECTION REQUEST is dropped with its failed session"
    );
}

#[test]
fn failed_sessions_keep_events_count_retries_and_drop_connection_requests() {
    let records = vec![
        event_raised(ec::PERIODIC, ""),
        event_raised(ec::CONNECTION_REQUEST, ""),
        event_raised(ec::M_SCHEDULE_INFORM, "k1"),
        started("s1"),
        ended("s1", false, Some(7)),
        started("s2"),
        ended("s2", false, Some(15)),
    ];
    let s = fold(&records);
    assert_eq!(s.retry_count, 2);
    assert_eq!(codes(&s), ["2 PERIODIC|", "M ScheduleInform|k1"]);
    assert_eq!(s.last_session_error, "connection refused by 192.0.2.1:7547");
    assert_eq!(s.next_retry_at_ms, Some(1_000_000 + 6000 + 15_000));
}

#[test]
fn successful_session_resets_the_retry_count_and_error() {
    let s = fold(&[
        started("s1"),
        ended("s1", false, Some(5)),
        started("s2"),
        ended("s2", true, None),
    ]);
    assert_eq!(s.retry_count, 0);
    assert!(s.last_session_error.is_empty());
    assert_eq!(s.next_retry_at_ms, None);
    assert_eq!(s.last_successful_session_end_ms, Some(1_003_000));
}

#[test]
fn reboot_and_disable_reset_the_retry_count() {
    let s = fold(&[
        boot("a", true),
        started("s1"),
        ended("s1", false, Some(5)),
        boot("b", true),
    ]);
    assert_eq!(s.retry_count, 0);
    let s = fold(&[
        started("s1"),
        ended("s1", false, Some(5)),
        record(Kind::SettingsChanged(proto::SettingsChanged {
            key: "enabled".into(),
            value: "false".into(),
            source: proto::ChangeSource::Cli as i32,
            secret: false,
        })),
    ]);
    assert_eq!(s.retry_count, 0);
}

#[test]
fn single_events_coalesce_multiple_events_do_not() {
    let s = fold(&[
        event_raised(ec::PERIODIC, ""),
        event_raised(ec::PERIODIC, ""),
        event_raised(ec::M_SCHEDULE_INFORM, "a"),
        event_raised(ec::M_SCHEDULE_INFORM, "b"),
        event_raised(ec::SCHEDULED, ""),
        event_raised(ec::SCHEDULED, ""),
    ]);
    assert_eq!(
        codes(&s),
        [
            "2 PERIODIC|",
            "M ScheduleInform|a",
            "M ScheduleInform|b",
            "3 SCHEDULED|"
        ]
    );
}

#[test]
fn inform_acknowledged_removes_exactly_what_was_delivered() {
    let s = fold(&[
        event_raised(ec::PERIODIC, ""),
        event_raised(ec::M_SCHEDULE_INFORM, "a"),
        ack(&[("2 PERIODIC", ""), ("M ScheduleInform", "a")]),
        // raised during the session, after the Inform was built: still owed
        event_raised(ec::M_SCHEDULE_INFORM, "b"),
    ]);
    assert_eq!(codes(&s), ["M ScheduleInform|b"]);
}

#[test]
fn reboot_drops_what_does_not_survive_it() {
    let s = fold(&[
        event_raised(ec::BOOT, ""),
        event_raised(ec::PERIODIC, ""),
        event_raised(ec::VALUE_CHANGE, ""),
        event_raised(ec::DIAGNOSTICS_COMPLETE, ""),
        event_raised(ec::M_REBOOT, "k"),
        event_raised(ec::SCHEDULED, ""),
        boot("b", true),
    ]);
    assert_eq!(codes(&s), ["2 PERIODIC|", "M Reboot|k", "3 SCHEDULED|"]);
}

#[test]
fn bootstrap_wipes_the_slate_but_keeps_boot() {
    let s = fold(&[
        event_raised(ec::BOOT, ""),
        event_raised(ec::PERIODIC, ""),
        event_raised(ec::M_SCHEDULE_INFORM, "a"),
        record(Kind::ScheduleInformRequested(
            proto::ScheduleInformRequested {
                command_key: "later".into(),
                due_at_unix: 99,
            },
        )),
        event_raised(ec::BOOTSTRAP, ""),
    ]);
    assert_eq!(codes(&s), ["1 BOOT|", "0 BOOTSTRAP|"]);
    assert!(s.pending_schedule_informs.is_empty());
}

#[test]
fn schedule_inform_requested_and_fired() {
    let req = |k: &str, due| {
        record(Kind::ScheduleInformRequested(
            proto::ScheduleInformRequested {
                command_key: k.into(),
                due_at_unix: due,
            },
        ))
    };
    let s = fold(&[
        req("a", 20),
        req("a", 10),
        req("b", 5),
        record(Kind::ScheduleInformFired(proto::ScheduleInformFired {
            command_key: "a".into(),
        })),
    ]);
    assert_eq!(
        s.pending_schedule_informs,
        vec![
            PendingScheduleInform {
                command_key: "a".into(),
                due_at_ms: 20_000
            },
            PendingScheduleInform {
                command_key: "b".into(),
                due_at_ms: 5000
            }
        ]
    );
}

#[test]
fn settings_change_and_url_change_owes_bootstrap() {
    let current = Settings::default();
    let recs = settings_change_records(
        &current,
        "acs-url",
        "https://acs.example.com/",
        proto::ChangeSource::Cli,
    );
    assert_eq!(recs.len(), 2);
    let s = fold(&recs);
    assert_eq!(
        s.settings.get("acs-url").map(String::as_str),
        Some("https://acs.example.com/")
    );
    assert_eq!(codes(&s), ["0 BOOTSTRAP|"]);
    let settings = s.effective_settings(&BTreeMap::new());
    assert_eq!(
        settings_change_records(
            &settings,
            "acs-url",
            "https://acs.example.com/",
            proto::ChangeSource::Acs
        )
        .len(),
        1,
        "same URL: no BOOTSTRAP"
    );
    let recs = settings_change_records(&settings, "password", "pw", proto::ChangeSource::Cli);
    assert!(matches!(&recs[0].kind, Some(Kind::SettingsChanged(c)) if c.secret));
}

#[test]
fn status_follows_enabled_and_url() {
    let mut s = AgentState::default();
    assert_eq!(
        s.status(&s.effective_settings(&BTreeMap::new())),
        Status::Disabled
    );
    s.settings.insert("enabled".into(), "true".into());
    assert_eq!(
        s.status(&s.effective_settings(&BTreeMap::new())),
        Status::WaitingUrl
    );
    s.settings.insert("acs-url".into(), "http://a/".into());
    assert_eq!(
        s.status(&s.effective_settings(&BTreeMap::new())),
        Status::Running
    );
}

#[test]
fn config_reset_forgets_and_owes_bootstrap() {
    let mut records = vec![
        record(Kind::SettingsChanged(proto::SettingsChanged {
            key: "acs-url".into(),
            value: "http://a/".into(),
            source: proto::ChangeSource::Cli as i32,
            secret: false,
        })),
        event_raised(ec::PERIODIC, ""),
        started("s1"),
        ended("s1", false, Some(5)),
    ];
    records.extend(config_reset_records());
    let s = fold(&records);
    assert!(s.settings.is_empty());
    assert_eq!(s.retry_count, 0);
    assert!(s.last_session_error.is_empty());
    assert_eq!(codes(&s), ["0 BOOTSTRAP|"]);
}

#[test]
fn parameters_objects_attributes_and_parameter_key() {
    let s = fold(&[
        record(Kind::ParametersSet(proto::ParametersSet {
            values: vec![proto::ParameterValue {
                name: "Device.X.1.Name".into(),
                value: "a".into(),
                xsd_type: "string".into(),
            }],
            parameter_key: "pk1".into(),
            source: proto::ChangeSource::Acs as i32,
            status: 0,
        })),
        record(Kind::ParametersSet(proto::ParametersSet {
            values: vec![proto::ParameterValue {
                name: "Device.Y".into(),
                value: "b".into(),
                xsd_type: "string".into(),
            }],
            parameter_key: "ignored".into(),
            source: proto::ChangeSource::Cli as i32,
            status: 0,
        })),
        record(Kind::ObjectAdded(proto::ObjectAdded {
            path: "Device.X.".into(),
            instance_number: 1,
            parameter_key: "pk2".into(),
        })),
        record(Kind::ObjectAdded(proto::ObjectAdded {
            path: "Device.X.".into(),
            instance_number: 2,
            parameter_key: "pk3".into(),
        })),
        record(Kind::AttributesSet(proto::AttributesSet {
            items: vec![proto::AttributeItem {
                name: "Device.X.1.Name".into(),
                notification_change: true,
                notification: 2,
                access_list_change: false,
                access_list: vec!["ignored".into()],
            }],
        })),
        record(Kind::ObjectDeleted(proto::ObjectDeleted {
            path: "Device.X.1.".into(),
            parameter_key: "pk4".into(),
        })),
    ]);
    assert_eq!(s.parameter_key, "pk4");
    assert!(!s.parameters.contains_key("Device.X.1.Name"));
    assert!(s.parameters.contains_key("Device.Y"));
    assert_eq!(
        s.instance_counters.get("Device.X."),
        Some(&3),
        "instance numbers are never reused"
    );
    assert_eq!(
        s.object_instances
            .get("Device.X.")
            .map(|v| v.iter().copied().collect::<Vec<_>>()),
        Some(vec![2])
    );
    assert!(
        s.attributes.is_empty(),
        "attributes of a deleted instance go with it"
    );
}

#[test]
fn value_changes_are_kept_until_delivered() {
    let changed = record(Kind::ValueChanged(proto::ValueChanged {
        name: "Device.A".into(),
        value: "1".into(),
        notification: 1,
    }));
    let s = fold(&[changed.clone(), event_raised(ec::VALUE_CHANGE, "")]);
    assert_eq!(s.changed_parameters.len(), 1);
    let s = fold(&[
        changed.clone(),
        event_raised(ec::VALUE_CHANGE, ""),
        ack(&[("4 VALUE CHANGE", "")]),
    ]);
    assert!(s.changed_parameters.is_empty());
    let s = fold(&[changed, event_raised(ec::VALUE_CHANGE, ""), boot("b", true)]);
    assert!(
        s.changed_parameters.is_empty(),
        "VALUE CHANGE does not survive a reboot, nor do its values"
    );
}

#[test]
fn transfers_owe_transfer_complete_until_acknowledged() {
    let accepted = record(Kind::TransferAccepted(proto::TransferAccepted {
        transfer_id: "t1".into(),
        kind: proto::TransferKind::Download as i32,
        command_key: "fw".into(),
        ..Default::default()
    }));
    let completed = record(Kind::TransferStageChanged(proto::TransferStageChanged {
        transfer_id: "t1".into(),
        stage: proto::TransferStage::Completed as i32,
        ..Default::default()
    }));
    let s = fold(std::slice::from_ref(&accepted));
    assert!(codes(&s).is_empty());
    let s = fold(&[
        accepted.clone(),
        completed.clone(),
        ack(&[("7 TRANSFER COMPLETE", ""), ("M Download", "fw")]),
    ]);
    assert_eq!(
        codes(&s),
        ["7 TRANSFER COMPLETE|", "M Download|fw"],
        "owed until TransferCompleteResponse, not InformResponse"
    );
    let s = fold(&[
        accepted,
        completed,
        record(Kind::TransferCompleteAcknowledged(
            proto::TransferCompleteAcknowledged {
                transfer_id: "t1".into(),
                command_key: "fw".into(),
            },
        )),
    ]);
    assert!(codes(&s).is_empty());
    assert!(s.transfers.is_empty());
}

#[test]
fn journal_recovered_is_remembered() {
    let s = fold(&[record(Kind::JournalRecovered(proto::JournalRecovered {
        reason: "checksum mismatch".into(),
        moved_aside_to: "/x".into(),
        lost_from_seq: 5,
        lost_to_seq: 9,
        seeded_from_snapshot_seq: 0,
    }))]);
    assert_eq!(s.recoveries.len(), 1);
    assert_eq!(s.recoveries[0].lost_to_seq, 9);
}

#[test]
fn diagnostics_completed_replaces_the_results() {
    let value = |name: &str, value: &str| proto::ParameterValue {
        name: name.into(),
        value: value.into(),
        xsd_type: "string".into(),
    };
    let hops = "Device.IP.Diagnostics.TraceRoute.RouteHops.";
    let completed = |results: Vec<proto::ParameterValue>| {
        record(Kind::DiagnosticsCompleted(proto::DiagnosticsCompleted {
            name: "Device.IP.Diagnostics.TraceRoute.".into(),
            state: "Complete".into(),
            results,
            cleared: vec![hops.into()],
        }))
    };
    let s = fold(&[
        completed(vec![
            value(
                "Device.IP.Diagnostics.TraceRoute.DiagnosticsState",
                "Complete",
            ),
            value(&format!("{hops}1.Host"), "a"),
            value(&format!("{hops}2.Host"), "b"),
        ]),
        completed(vec![value(&format!("{hops}1.Host"), "c")]),
    ]);
    assert_eq!(s.parameters[&format!("{hops}1.Host")].value, "c");
    assert!(
        !s.parameters.contains_key(&format!("{hops}2.Host")),
        "old rows removed"
    );
    assert_eq!(
        s.parameters["Device.IP.Diagnostics.TraceRoute.DiagnosticsState"].value,
        "Complete"
    );
    // A record of an older journal (name and state only) changes nothing.
    let old = fold(&[record(Kind::DiagnosticsCompleted(
        proto::DiagnosticsCompleted {
            name: "Device.IP.Diagnostics.IPPing.".into(),
            state: "Complete".into(),
            ..Default::default()
        },
    ))]);
    assert!(old.parameters.is_empty());
}

#[test]
fn a_failed_heartbeat_leaves_the_retry_state_alone() {
    let failed_heartbeat = record(Kind::SessionEnded(proto::SessionEnded {
        session_id: "hb".into(),
        outcome: proto::SessionOutcome::Failed as i32,
        reason: "no route".into(),
        heartbeat: true,
        ..Default::default()
    }));
    let s = fold(&[ended("s1", false, Some(9)), failed_heartbeat]);
    assert_eq!(s.retry_count, 1, "only the ordinary session counts");
    assert!(s.next_retry_at_ms.is_some());
    assert!(s.session_in_progress.is_none());
}

#[test]
fn snapshot_round_trips_and_replaces_the_state() {
    let mut records = startup_records(&AgentState::default(), "boot-a", "1.0");
    records.extend([
        event_raised(ec::M_SCHEDULE_INFORM, "k"),
        started("s1"),
        ended("s1", false, Some(9)),
        record(Kind::RebootRequested(proto::RebootRequested {
            command_key: "r".into(),
            reason: "Reboot".into(),
        })),
        record(Kind::ScheduleInformRequested(
            proto::ScheduleInformRequested {
                command_key: "z".into(),
                due_at_unix: 77,
            },
        )),
        record(Kind::ObjectAdded(proto::ObjectAdded {
            path: "Device.X.".into(),
            instance_number: 4,
            parameter_key: "pk".into(),
        })),
        started("s2"),
    ]);
    let s = fold(&records);
    let snap = s.to_snapshot();
    let mut restored = AgentState::from_snapshot(&snap);
    restored.last_seq = s.last_seq;
    restored.recoveries = s.recoveries.clone();
    assert_eq!(restored, s);
    // Folding a Snapshot record replaces the state with it.
    let mut with_snapshot = fold(&[event_raised(ec::PERIODIC, "")]);
    with_snapshot.apply(99, 0, &record(Kind::Snapshot(snap)));
    assert_eq!(codes(&with_snapshot), codes(&s));
    assert_eq!(with_snapshot.last_seq, 99);
}

#[test]
fn records_of_unknown_kind_are_skipped() {
    let s = fold(&[Record { kind: None }]);
    assert_eq!(s.last_seq, 1);
    assert!(s.owed_events.is_empty());
}

/// Every kind of record the flows write, in an order that exercises replacement (a second
/// stage of the same transfer, a cancelled one, a session ended in failure then in success).
fn varied_records(i: u64) -> Vec<Record> {
    let id = format!("t{i}");
    let stage = |stage: proto::TransferStage, path: &str| {
        record(Kind::TransferStageChanged(proto::TransferStageChanged {
            transfer_id: id.clone(),
            stage: stage as i32,
            path: path.into(),
            bytes_done: i,
            fault_string: format!("f{i}"),
            ..Default::default()
        }))
    };
    vec![
        record(Kind::EventRaised(proto::EventRaised {
            code: "2 PERIODIC".into(),
            command_key: String::new(),
        })),
        started(&format!("s{i}")),
        record(Kind::TransferAccepted(proto::TransferAccepted {
            transfer_id: id.clone(),
            kind: proto::TransferKind::Download as i32,
            command_key: format!("fw{i}"),
            url: format!("http://files/{i}.bin"),
            ..Default::default()
        })),
        stage(proto::TransferStage::Downloading, "/t/part"),
        stage(proto::TransferStage::Downloaded, "/t/file"),
        record(Kind::ParametersSet(proto::ParametersSet {
            values: vec![proto::ParameterValue {
                name: format!("Device.X.{i}"),
                value: "v".into(),
                xsd_type: "xsd:string".into(),
            }],
            parameter_key: format!("pk{i}"),
            ..Default::default()
        })),
        ended(&format!("s{i}"), i % 3 == 0, None),
        ack(&[("2 PERIODIC", "")]),
        if i % 4 == 0 {
            stage(proto::TransferStage::Cancelled, "")
        } else {
            stage(proto::TransferStage::Completed, "/t/file")
        },
        ended(&format!("s{i}"), true, None),
    ]
}

#[test]
fn apply_owned_folds_as_apply_does() {
    let records: Vec<Record> = (0..12).flat_map(varied_records).collect();
    let mut owned = AgentState::default();
    for (i, r) in records.iter().enumerate() {
        owned.apply_owned(i as u64 + 1, 1_000_000 + i as u64 * 1000, r.clone());
    }
    assert_eq!(owned, fold(&records));
    assert!(!owned.transfers.is_empty() && owned.transfers.len() < 12);
}

fn fold_after_opening(dir: &std::path::Path, options: journal::Options) -> AgentState {
    let (j, _) = crate::records::Journal::open(dir, options).unwrap();
    let state = AgentState::from_journal(&j).unwrap();
    j.close();
    state
}

#[test]
fn folding_while_opening_is_folding_after() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    // Small enough that the journal asks for snapshots and compacts while it is written.
    let options = || journal::Options {
        max_live_bytes: 8 << 10,
        history_records: 10,
        ..journal::Options::with_boot_id("boot-A")
    };
    let mut snapshots = 0;
    for round in 0..6u64 {
        let (j, report, mut state) = AgentState::open_and_fold(&dir, options()).unwrap();
        assert!(
            matches!(
                report.outcome,
                journal::OpenOutcome::Created | journal::OpenOutcome::Clean
            ),
            "{:?}",
            report.outcome
        );
        j.close();
        let after = fold_after_opening(&dir, options());
        assert_eq!(state, after, "round {round}");
        let (j, _) = crate::records::Journal::open(&dir, options()).unwrap();
        for i in round * 10..round * 10 + 10 {
            let batch = varied_records(i);
            let ack = j.append_blocking(batch.clone()).unwrap();
            for (k, r) in batch.into_iter().enumerate() {
                state.apply_owned(ack.last_seq - 9 + k as u64, 0, r);
            }
            if ack.needs_snapshot {
                j.append_snapshot_blocking(state.to_snapshot(), ack.last_seq)
                    .unwrap();
                snapshots += 1;
            }
        }
        j.close();
    }
    assert!(
        snapshots >= 2,
        "the journal never snapshotted ({snapshots})"
    );

    // A store the open sets aside: what was visited is not what the journal holds, and the
    // state is the new store's.
    {
        let db = journal::testing::raw_sled(&dir, 64 << 10);
        let last = db.last().unwrap().unwrap().0;
        db.remove(last).unwrap();
        db.flush().unwrap();
    }
    let (j, report, state) = AgentState::open_and_fold(&dir, options()).unwrap();
    assert!(
        matches!(report.outcome, journal::OpenOutcome::Recovered { .. }),
        "{:?}",
        report.outcome
    );
    j.close();
    assert_eq!(state, fold_after_opening(&dir, options()));
    assert_eq!(state.recoveries.len(), 1);
}
