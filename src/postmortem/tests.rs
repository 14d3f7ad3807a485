use std::collections::BTreeMap;

use prost::Message;

use super::*;
use crate::records::Record;
use crate::records::proto::*;
use crate::state::{self, boot};

struct Log {
    records: Vec<StoredRecord>,
    now: u64,
    boot: String,
}

impl Log {
    fn new() -> Log {
        Log {
            records: Vec::new(),
            now: 1_779_400_000_000,
            boot: "boot-1".into(),
        }
    }
    fn at(&mut self, after_ms: u64, r: impl Into<Record>) -> u64 {
        self.now += after_ms;
        let record = r.into();
        let payload = record.encode_to_vec();
        let tag = crate::records::payload_tag(&payload).unwrap() as u16;
        let seq = self.records.last().map_or(1, |r| r.seq + 1);
        self.records.push(StoredRecord {
            seq,
            time_ms: self.now,
            boot_id: self.boot.clone(),
            tag,
            record,
            payload,
        });
        seq
    }
    fn start(&mut self, after_ms: u64, boot: &str, version: &str) -> u64 {
        let mut state = AgentState::default();
        for r in &self.records {
            state.apply(r.seq, r.time_ms, &r.record);
        }
        self.boot = boot.into();
        let mut first = 0;
        for (i, r) in boot::startup_records(&state, boot, version)
            .into_iter()
            .enumerate()
        {
            let seq = self.at(if i == 0 { after_ms } else { 0 }, r);
            if first == 0 {
                first = seq;
            }
        }
        first
    }
    fn session(&mut self, id: &str, retry: u32, events: &[&str]) {
        self.at(
            100,
            SessionStarted {
                session_id: id.into(),
                acs_url: "https://cpe:hunter2@acs.example/cwmp".into(),
                retry_count: retry,
                event_codes: events.iter().map(|e| e.to_string()).collect(),
            },
        );
    }
    fn ack(&mut self, id: &str, events: &[(&str, &str)]) {
        self.at(
            50,
            InformAcknowledged {
                session_id: id.into(),
                delivered: events
                    .iter()
                    .map(|(c, k)| EventRef {
                        code: c.to_string(),
                        command_key: k.to_string(),
                    })
                    .collect(),
            },
        );
    }
    fn end(&mut self, id: &str, ok: bool, wait: Option<u32>) {
        self.at(
            200,
            SessionEnded {
                session_id: id.into(),
                outcome: if ok {
                    SessionOutcome::Succeeded
                } else {
                    SessionOutcome::Failed
                } as i32,
                reason: if ok {
                    String::new()
                } else {
                    "the ACS answered 500 Internal Server Error".into()
                },
                retry_after_seconds: wait,
                http_status: (!ok).then_some(500),
                heartbeat: false,
            },
        );
    }
    fn stage(&mut self, after: u64, id: &str, stage: TransferStage, done: u64) -> u64 {
        self.at(
            after,
            TransferStageChanged {
                transfer_id: id.into(),
                stage: stage as i32,
                bytes_done: done,
                bytes_total: if stage == TransferStage::Downloading {
                    1000
                } else {
                    0
                },
                size: if stage == TransferStage::Downloaded {
                    1000
                } else {
                    0
                },
                ..Default::default()
            },
        )
    }
}

/// A device's life: first boot, a failed session and its retry, a connection request lost with
/// the failed session, a CLI and an ACS change (with secrets), a firmware download killed at a
/// checkpoint and resumed, applied, rebooted, reported and acknowledged; a clean stop; a crash
/// in the middle of a session; a snapshot; a recovery.
fn life() -> Log {
    let mut l = Log::new();
    l.start(0, "boot-1", "7.14");
    l.session("s1", 0, &["0 BOOTSTRAP", "1 BOOT"]);
    l.ack("s1", &[("0 BOOTSTRAP", ""), ("1 BOOT", "")]);
    l.end("s1", true, None);
    l.at(
        1_000,
        SettingsChanged {
            key: "password".into(),
            value: "hunter2".into(),
            source: ChangeSource::Cli as i32,
            secret: true,
        },
    );
    l.at(10, state::event_raised("6 CONNECTION REQUEST", ""));
    l.at(10, state::event_raised("6 CONNECTION REQUEST", ""));
    l.session("s2", 0, &["6 CONNECTION REQUEST"]);
    l.end("s2", false, Some(7));
    l.at(7_000, state::event_raised("2 PERIODIC", ""));
    l.session("s3", 1, &["2 PERIODIC"]);
    l.ack("s3", &[("2 PERIODIC", "")]);
    l.at(
        20,
        ParametersSet {
            values: vec![
                ParameterValue {
                    name: "Device.Users.User.1.Password".into(),
                    value: "hunter2".into(),
                    xsd_type: "xsd:string".into(),
                },
                ParameterValue {
                    name: "Device.Time.NTPServer1".into(),
                    value: "ntp.example".into(),
                    xsd_type: "xsd:string".into(),
                },
            ],
            parameter_key: "pk-1".into(),
            source: ChangeSource::Acs as i32,
            status: 0,
        },
    );
    l.at(
        20,
        TransferAccepted {
            transfer_id: "t1".into(),
            kind: TransferKind::Download as i32,
            command_key: "fw-1".into(),
            file_type: "1 Firmware Upgrade Image".into(),
            url: "http://fw:hunter2@files.example/fw.bin".into(),
            password: "hunter2".into(),
            ..Default::default()
        },
    );
    l.end("s3", true, None);
    l.stage(100, "t1", TransferStage::Downloading, 0);
    l.stage(500, "t1", TransferStage::Downloading, 400);
    // Killed here: no clean stop, the same boot.
    l.start(3_000, "boot-1", "7.14");
    l.stage(100, "t1", TransferStage::Downloading, 400);
    l.stage(500, "t1", TransferStage::Downloading, 1000);
    l.stage(10, "t1", TransferStage::Downloaded, 1000);
    l.stage(10, "t1", TransferStage::Applying, 0);
    l.stage(900, "t1", TransferStage::Applied, 0);
    l.at(
        10,
        RebootRequested {
            command_key: String::new(),
            reason: state::REBOOT_REASON_FIRMWARE.into(),
        },
    );
    l.at(
        10,
        RebootAttempted {
            boot_id: "boot-1".into(),
        },
    );
    l.start(20_000, "boot-2", "7.15");
    l.at(
        10,
        TransferStageChanged {
            transfer_id: "t1".into(),
            stage: TransferStage::Completed as i32,
            ..Default::default()
        },
    );
    l.session("s4", 0, &["1 BOOT", "7 TRANSFER COMPLETE", "M Download"]);
    l.ack("s4", &[("1 BOOT", "")]);
    l.at(
        30,
        TransferCompleteAcknowledged {
            transfer_id: "t1".into(),
            command_key: "fw-1".into(),
        },
    );
    l.end("s4", true, None);
    l.at(1_000, boot::stopped_record("shutdown"));
    l.start(60_000, "boot-2", "7.15");
    l.session("s5", 0, &["4 VALUE CHANGE"]);
    // Dies mid-session.
    l.start(5_000, "boot-2", "7.15");
    let mut state = AgentState::default();
    for r in &l.records {
        state.apply(r.seq, r.time_ms, &r.record);
    }
    let last = l.records.last().unwrap().seq;
    l.at(100, state.to_snapshot());
    l.at(
        100,
        JournalRecovered {
            reason: "damaged record at 3: checksum".into(),
            moved_aside_to: "/data/journal.damaged-1".into(),
            lost_from_seq: last + 2,
            lost_to_seq: last + 1,
            seeded_from_snapshot_seq: last + 1,
        },
    );
    l
}

#[test]
fn lanes_tell_what_happened() {
    let l = life();
    let t = Timeline::build(&l.records, &BTreeMap::new());
    assert_eq!(t.records.len(), l.records.len());
    assert_eq!(t.sessions.len(), 5);
    let outcomes: Vec<&str> = t.sessions.iter().map(|s| s.outcome.as_str()).collect();
    assert_eq!(
        outcomes,
        ["succeeded", "failed", "succeeded", "succeeded", "failed"]
    );
    // The failed session's chosen wait and the real one.
    let s2 = &t.sessions[1];
    assert_eq!(s2.retry_after_seconds, Some(7));
    assert_eq!(s2.next_start_ms.unwrap() - s2.end_ms.unwrap(), 7_000 + 100);
    assert_eq!(t.sessions[2].retry_count, 1);
    assert_eq!(t.sessions[4].reason, INTERRUPTED_SESSION);
    assert!(t.sessions.iter().all(|s| !s.acs_url.contains("hunter2")));

    // Starts: the first; a crash (killed mid-download); the agent's own reboot; a clean stop;
    // a crash mid-session.
    let starts: Vec<(&str, bool)> = t
        .starts
        .iter()
        .map(|s| (s.after.as_str(), s.device_boot))
        .collect();
    assert_eq!(
        starts,
        [
            ("first", true),
            ("crash", false),
            ("agent-reboot", true),
            ("clean-stop", false),
            ("crash", false)
        ]
    );
    assert_eq!(t.starts[1].gap_ms, Some(3_000));
    assert!(!t.starts[1].session_interrupted);
    assert!(t.starts[4].session_interrupted);
    assert_eq!(
        t.starts[4].gap_ms,
        Some(5_000),
        "the gap ends at the start, not at the session it closes"
    );
    assert_eq!(t.stops.len(), 1);

    // Events: BOOTSTRAP/BOOT delivered; the connection request raised twice (merged) and dropped
    // by the failed session; PERIODIC delivered after the retry; M Download and TRANSFER
    // COMPLETE delivered with the acknowledged TransferComplete.
    let fate = |code: &str| {
        t.events
            .iter()
            .filter(|e| e.code == code)
            .map(|e| (e.fate.as_str(), e.detail.as_str()))
            .collect::<Vec<_>>()
    };
    assert_eq!(fate("0 BOOTSTRAP"), [("delivered", "in session s1")]);
    assert_eq!(
        fate("6 CONNECTION REQUEST"),
        [(
            "dropped",
            "6 CONNECTION REQUEST is not kept after a failed session"
        )]
    );
    let cr = t
        .events
        .iter()
        .find(|e| e.code == "6 CONNECTION REQUEST")
        .unwrap();
    assert_eq!(cr.coalesced.len(), 1);
    assert_eq!(fate("2 PERIODIC"), [("delivered", "in session s3")]);
    assert_eq!(
        fate("M Download"),
        [("delivered", "with the TransferComplete of t1")]
    );
    assert_eq!(
        fate("7 TRANSFER COMPLETE"),
        [("delivered", "with the TransferComplete of t1")]
    );

    // The transfer: checkpoints, the resume after the kill, apply, reboot, completion, ack.
    assert_eq!(t.transfers.len(), 1);
    let tr = &t.transfers[0];
    assert_eq!(tr.state, "acknowledged");
    assert!(!tr.url.contains("hunter2"));
    let steps: Vec<&str> = tr.steps.iter().map(|s| s.what.as_str()).collect();
    assert_eq!(
        steps,
        [
            "accepted",
            "downloading",
            "downloading",
            "restart",
            "resumed",
            "downloading",
            "downloading",
            "downloaded",
            "applying",
            "applied",
            "reboot requested",
            "reboot",
            "completed",
            "acknowledged"
        ]
    );
    let resumed = tr.steps.iter().find(|s| s.what == "resumed").unwrap();
    assert_eq!(resumed.bytes_done, Some(400));

    // Changes by source, secrets masked.
    let changes: Vec<(&str, String)> = t
        .changes
        .iter()
        .map(|c| (c.source.as_str(), c.items.join(", ")))
        .collect();
    assert_eq!(
        changes,
        [
            ("cli", "password=***".to_owned()),
            (
                "acs",
                "Device.Users.User.1.Password=***, Device.Time.NTPServer1=ntp.example".to_owned()
            )
        ]
    );
    let kinds: Vec<&str> = t.journal.iter().map(|j| j.kind.as_str()).collect();
    assert_eq!(kinds, ["snapshot", "recovered"]);
}

#[test]
fn state_frames_are_state_at_every_record() {
    let l = life();
    let factory: BTreeMap<String, String> =
        [("acs-url".to_owned(), "https://acs.example/".to_owned())].into();
    let t = Timeline::build(&l.records, &factory);
    let mut state = AgentState::default();
    for (i, r) in l.records.iter().enumerate() {
        state.apply(r.seq, r.time_ms, &r.record);
        let expected = serde_json::to_value(state_view(&state, &factory)).unwrap();
        assert_eq!(t.states.at(i), expected, "after #{}", r.seq);
    }
}

#[test]
fn secrets_never_reach_the_report() {
    let l = life();
    let t = Timeline::build(&l.records, &BTreeMap::new());
    let jsonl = t.jsonl(None);
    assert!(!jsonl.contains("hunter2"), "{jsonl}");
    for line in jsonl.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(v["lane"].is_string(), "{line}");
    }
}

#[cfg(feature = "html-report")]
#[test]
fn secrets_never_reach_the_page() {
    let l = life();
    let t = Timeline::build(&l.records, &BTreeMap::new());
    let page = html::render(
        &t,
        &html::Source {
            data_dir: "/data".into(),
            written_ms: 0,
            version: "test".into(),
        },
        None,
    );
    let data = html::tests::embedded_json(&page).expect("the page's data inflates");
    let text = data.to_string();
    if let Some(i) = text.find("hunter2") {
        panic!(
            "a secret in the page's data: …{}…",
            &text[i.saturating_sub(300)..i + 10]
        );
    }
    assert!(text.contains("***"));
    assert_eq!(data["timeline"]["sessions"].as_array().unwrap().len(), 5);
    assert!(!page.contains("http://") || !page.contains("src=\"http"));
    for forbidden in [
        "<link",
        "src=\"http",
        "src='http",
        "@import",
        "url(http",
        "fetch(",
    ] {
        assert!(
            !page.contains(forbidden),
            "the page must fetch nothing: {forbidden}"
        );
    }
}

/// A journal at its size bound (1 MiB of live frames, the default) makes a page under 1 MB.
#[cfg(feature = "html-report")]
#[test]
fn a_journal_at_its_size_bound_fits_in_a_megabyte() {
    let mut l = Log::new();
    l.boot = "6c1f9a4e-20d4-4f7e-9a43-0d8f5e2b7c11".into();
    let mut live = 0usize;
    let mut n = 0u64;
    l.start(0, "6c1f9a4e-20d4-4f7e-9a43-0d8f5e2b7c11", "7.14");
    while live < 1 << 20 {
        n += 1;
        let id = format!("{n:08x}");
        l.at(
            5_000,
            state::event_raised(
                if n % 3 == 0 {
                    "6 CONNECTION REQUEST"
                } else {
                    "2 PERIODIC"
                },
                "",
            ),
        );
        l.session(&id, (n % 4) as u32, &["2 PERIODIC"]);
        if n % 5 == 0 {
            l.end(&id, false, Some(30));
        } else {
            l.ack(&id, &[("2 PERIODIC", "")]);
            l.at(
                10,
                ValueChanged {
                    name: format!("Device.WiFi.Radio.1.Stats.X_Counter{}", n % 17),
                    value: format!("{}", n * 7919),
                    notification: 2,
                },
            );
            l.end(&id, true, None);
        }
        if n % 40 == 0 {
            l.at(
                10,
                ParametersSet {
                    values: (0..8)
                        .map(|i| ParameterValue {
                            name: format!("Device.NAT.PortMapping.{i}.Description"),
                            value: format!("rule {i} set in round {n}"),
                            xsd_type: "xsd:string".into(),
                        })
                        .collect(),
                    parameter_key: format!("pk-{n}"),
                    source: ChangeSource::Acs as i32,
                    status: 0,
                },
            );
        }
        // Frame bytes as the journal stores them: key, fixed header, boot id, payload.
        live = l
            .records
            .iter()
            .map(|r| 8 + 20 + r.boot_id.len() + r.payload.len())
            .sum();
    }
    let t = Timeline::build(&l.records, &BTreeMap::new());
    let page = html::render(
        &t,
        &html::Source {
            data_dir: "/var/lib/tr069-client".into(),
            written_ms: 0,
            version: "test".into(),
        },
        None,
    );
    eprintln!(
        "{} records, {} sessions, {live} live bytes: page {} bytes",
        t.records.len(),
        t.sessions.len(),
        page.len()
    );
    assert!(page.len() <= 1_000_000, "page of {} bytes", page.len());
}
