//! The session state machine driven through its public API with hand-built ACS replies.
//!
//! Every test goes through [`Cpe`], a tiny driver that also checks the write-ahead invariant on
//! every step: after an `Output::Journal`, `poll_output` yields nothing until `journaled()`.

use std::time::Duration;

use proptest::prelude::*;
use tr069_client::cwmp::fault::{Fault, FaultCode, FaultStruct};
use tr069_client::cwmp::rpc::get_parameter_values::{
    GetParameterValues, GetParameterValuesResponse,
};
use tr069_client::cwmp::rpc::get_rpc_methods::{GetRpcMethods, GetRpcMethodsResponse};
use tr069_client::cwmp::rpc::inform::{DeviceIdStruct, EventStruct, Inform, InformResponse};
use tr069_client::cwmp::rpc::set_parameter_values::{
    SetParameterValues, SetParameterValuesResponse,
};
use tr069_client::cwmp::rpc::transfer_complete::{TransferComplete, TransferCompleteResponse};
use tr069_client::cwmp::{
    Body, CwmpNamespace, DateTime, Envelope, Header, Limits, ParameterValueStruct, Value,
};
use tr069_client::records::proto::record::Kind;
use tr069_client::records::proto::{EventRef, ParametersSet, Record};
use tr069_client::session::*;

const T0: u64 = 1_700_000_000_000;

// ---- fixtures ----

fn inform(events: &[(&str, &str)], retry_count: u32) -> Inform {
    Inform {
        device_id: DeviceIdStruct {
            manufacturer: "Acme".into(),
            oui: "00AABB".into(),
            product_class: "Router".into(),
            serial_number: "SN1".into(),
        },
        event: events
            .iter()
            .map(|(c, k)| EventStruct::new(*c, *k))
            .collect(),
        max_envelopes: 1,
        current_time: DateTime::from_unix_millis(T0 as i64),
        retry_count,
        parameter_list: vec![ParameterValueStruct::new(
            "Device.DeviceInfo.SoftwareVersion",
            Value::string("1.0"),
        )],
    }
}

fn owed_tc(transfer_id: &str, command_key: &str) -> OwedTransferComplete {
    OwedTransferComplete {
        transfer_id: transfer_id.into(),
        message: TransferComplete {
            command_key: command_key.into(),
            fault_struct: FaultStruct::success(),
            start_time: DateTime::from_unix(1_700_000_000, 0),
            complete_time: DateTime::from_unix(1_700_000_100, 0),
        },
    }
}

fn config() -> SessionConfig {
    SessionConfig::new("https://acs.example/cwmp")
}

fn start(events: &[(&str, &str)], tcs: Vec<OwedTransferComplete>) -> SessionStart {
    SessionStart {
        session_id: "sess-1".into(),
        inform: inform(events, 0),
        transfer_completes: tcs,
        raised: Vec::new(),
    }
}

/// An ACS message as bytes.
fn acs(ns: CwmpNamespace, id: &str, hold: Option<bool>, body: impl Into<Body>) -> Vec<u8> {
    let header = Header {
        id: Some(id.into()),
        hold_requests: hold,
        ..Header::default()
    };
    Envelope::new(ns, header, body).encode().into_bytes()
}

fn acs12(id: &str, body: impl Into<Body>) -> Vec<u8> {
    acs(CwmpNamespace::Cwmp12, id, None, body)
}

fn decode(bytes: &[u8]) -> Envelope {
    Envelope::decode(bytes, &Limits::default()).expect("the CPE's message decodes")
}

fn kind(record: &Record) -> &Kind {
    record.kind.as_ref().expect("record has a kind")
}

/// A fake agent: records every request it is handed; answers GetRPCMethods, GetParameterValues
/// and SetParameterValues (the latter with a journal record), faults 9000 otherwise.
#[derive(Default)]
struct FakeAgent {
    calls: Vec<(String, u64)>,
}

impl RequestHandler for FakeAgent {
    fn handle(&mut self, request: &Body, now_ms: u64) -> Handled {
        self.calls.push((request.name().to_owned(), now_ms));
        match request {
            Body::GetRpcMethods(_) => Handled::respond(GetRpcMethodsResponse {
                method_list: vec!["GetRPCMethods".into(), "GetParameterValues".into()],
            }),
            Body::GetParameterValues(req) => Handled::respond(GetParameterValuesResponse {
                parameter_list: req
                    .parameter_names
                    .iter()
                    .map(|n| ParameterValueStruct::new(n.clone(), Value::string("v")))
                    .collect(),
            }),
            Body::SetParameterValues(req) => Handled::journal_then_respond(
                vec![Record {
                    kind: Some(Kind::ParametersSet(ParametersSet {
                        parameter_key: req.parameter_key.clone(),
                        ..ParametersSet::default()
                    })),
                }],
                SetParameterValuesResponse { status: 0 },
            ),
            _ => Handled::fault(Fault::new(FaultCode::MethodNotSupported)),
        }
    }
}

/// Drives a session and checks the write-ahead invariant at every step.
struct Cpe {
    s: Session,
    agent: FakeAgent,
    now: u64,
    /// Everything that happened, for order checks: "journal:<kinds>", "send:<method>", "finished".
    log: Vec<String>,
}

impl Cpe {
    fn new(config: SessionConfig, start: SessionStart) -> Cpe {
        Cpe {
            s: Session::new(config, start, T0),
            agent: FakeAgent::default(),
            now: T0,
            log: Vec::new(),
        }
    }

    /// Expects a Journal output, checks nothing is handed out before it is durable, confirms it.
    fn journal(&mut self) -> Vec<Record> {
        match self.s.poll_output() {
            Some(Output::Journal(records)) => {
                assert_eq!(
                    self.s.poll_output(),
                    None,
                    "nothing may be output before journaled()"
                );
                assert_eq!(self.s.poll_output(), None);
                self.s.journaled();
                self.log.push(format!("journal:{}", records.len()));
                records
            }
            other => panic!("expected Journal, got {other:?}\nlog: {:?}", self.log),
        }
    }

    /// Expects a Send; returns its body (`None` for the empty POST) and whether it is the Inform.
    fn send(&mut self) -> (Option<Envelope>, bool) {
        match self.s.poll_output() {
            Some(Output::Send { body, is_inform }) => {
                assert_eq!(
                    self.s.poll_output(),
                    None,
                    "one message in flight at a time"
                );
                let envelope = body.map(|b| decode(&b));
                self.log.push(format!(
                    "send:{}",
                    envelope.as_ref().map_or("(empty)", |e| e.body.name())
                ));
                (envelope, is_inform)
            }
            other => panic!("expected Send, got {other:?}\nlog: {:?}", self.log),
        }
    }

    fn send_message(&mut self) -> Envelope {
        self.send().0.expect("a message, not the empty POST")
    }

    fn send_empty_post(&mut self) {
        let (body, is_inform) = self.send();
        assert!(
            body.is_none(),
            "expected the empty POST, got {:?}",
            body.map(|e| e.body)
        );
        assert!(!is_inform);
    }

    fn reply(&mut self, status: u16, body: &[u8]) {
        self.now += 100;
        self.s
            .on_reply(&mut self.agent, self.now, status, body, None);
    }

    fn finished(&mut self) -> SessionResult {
        match self.s.poll_output() {
            Some(Output::Finished(result)) => {
                assert_eq!(self.s.poll_output(), None, "nothing after Finished");
                assert!(self.s.is_finished());
                result
            }
            other => panic!("expected Finished, got {other:?}\nlog: {:?}", self.log),
        }
    }

    fn failed(&mut self) -> FailureReason {
        match self.finished().outcome {
            Outcome::Failed(reason) => reason,
            Outcome::Succeeded => panic!("expected a failure"),
        }
    }

    /// SessionStarted, the Inform, the InformResponse (with `hold`), InformAcknowledged.
    fn inform_accepted(&mut self, ns: CwmpNamespace, hold: Option<bool>) -> Envelope {
        self.journal();
        let inform = self.send_message();
        let id = inform.header.id.clone().expect("the Inform has an ID");
        self.reply(
            200,
            &acs(ns, &id, hold, InformResponse { max_envelopes: 1 }),
        );
        let records = self.journal();
        assert!(matches!(kind(&records[0]), Kind::InformAcknowledged(_)));
        inform
    }
}

// ---- the happy path and the write-ahead order ----

#[test]
fn happy_path() {
    let mut cpe = Cpe::new(
        config(),
        start(&[("1 BOOT", ""), ("M Reboot", "rb-1")], vec![]),
    );

    let records = cpe.journal();
    let Kind::SessionStarted(started) = kind(&records[0]) else {
        panic!("{records:?}")
    };
    assert_eq!(started.session_id, "sess-1");
    assert_eq!(started.acs_url, "https://acs.example/cwmp");
    assert_eq!(started.event_codes, vec!["1 BOOT", "M Reboot"]);

    let (inform, is_inform) = cpe.send();
    let inform = inform.unwrap();
    assert!(is_inform);
    assert_eq!(inform.namespace, CwmpNamespace::Cwmp12);
    assert_eq!(inform.header.session_timeout, Some(60));
    let inform_id = inform.header.id.clone().unwrap();
    let Body::Inform(sent) = &inform.body else {
        panic!()
    };
    assert_eq!(sent.max_envelopes, 1);
    assert_eq!(sent.event.len(), 2);

    cpe.reply(200, &acs12(&inform_id, InformResponse { max_envelopes: 1 }));
    // InformAcknowledged is journaled before anything else is sent.
    let records = cpe.journal();
    let Kind::InformAcknowledged(ack) = kind(&records[0]) else {
        panic!("{records:?}")
    };
    assert_eq!(ack.session_id, "sess-1");
    assert_eq!(
        ack.delivered,
        vec![
            EventRef {
                code: "1 BOOT".into(),
                command_key: String::new()
            },
            EventRef {
                code: "M Reboot".into(),
                command_key: "rb-1".into()
            },
        ]
    );

    cpe.send_empty_post();
    cpe.reply(200, &acs12("acs-1", GetRpcMethods));
    let response = cpe.send_message();
    assert_eq!(
        response.header.id.as_deref(),
        Some("acs-1"),
        "the response echoes the request's ID"
    );
    assert!(matches!(response.body, Body::GetRpcMethodsResponse(_)));
    assert_eq!(
        cpe.agent.calls,
        vec![("GetRPCMethods".to_owned(), T0 + 200)]
    );

    cpe.reply(204, b"");
    let result = cpe.finished();
    assert!(result.succeeded());
    assert_eq!(result.namespace, Some(CwmpNamespace::Cwmp12));
    assert_eq!(
        cpe.log,
        vec![
            "journal:1",
            "send:Inform",
            "journal:1",
            "send:(empty)",
            "send:GetRPCMethodsResponse"
        ]
    );
    // The record the agent journals for it.
    let Some(Kind::SessionEnded(ended)) = result.ended_record("sess-1", None).kind else {
        panic!()
    };
    assert_eq!(
        ended.outcome,
        tr069_client::records::proto::SessionOutcome::Succeeded as i32
    );
}

#[test]
fn handler_records_are_journaled_before_the_response_is_sent() {
    let mut cpe = Cpe::new(config(), start(&[("2 PERIODIC", "")], vec![]));
    cpe.inform_accepted(CwmpNamespace::Cwmp12, None);
    cpe.send_empty_post();
    let spv = SetParameterValues {
        parameter_list: vec![ParameterValueStruct::new("Device.X", Value::string("1"))],
        parameter_key: "pk-9".into(),
    };
    cpe.reply(200, &acs12("spv-1", spv));
    let records = cpe.journal();
    let Kind::ParametersSet(set) = kind(&records[0]) else {
        panic!()
    };
    assert_eq!(set.parameter_key, "pk-9");
    let response = cpe.send_message();
    assert_eq!(response.header.id.as_deref(), Some("spv-1"));
    assert_eq!(
        response.body,
        Body::SetParameterValuesResponse(SetParameterValuesResponse { status: 0 })
    );
    // A 200 with an empty body ends the session like a 204.
    cpe.reply(200, b"  \r\n");
    assert!(cpe.finished().succeeded());
}

// ---- TransferComplete and HoldRequests ----

#[test]
fn owed_transfer_complete_is_sent_and_acknowledged() {
    let mut config = config();
    config.send_get_rpc_methods = true;
    let mut cpe = Cpe::new(
        config,
        start(
            &[("7 TRANSFER COMPLETE", ""), ("M Download", "dl-1")],
            vec![owed_tc("t-1", "dl-1")],
        ),
    );
    cpe.inform_accepted(CwmpNamespace::Cwmp12, None);

    let tc = cpe.send_message();
    let Body::TransferComplete(sent) = &tc.body else {
        panic!("{:?}", tc.body)
    };
    assert_eq!(sent.command_key, "dl-1");
    let tc_id = tc.header.id.clone().unwrap();
    cpe.reply(200, &acs12(&tc_id, TransferCompleteResponse));
    let records = cpe.journal();
    let Kind::TransferCompleteAcknowledged(ack) = kind(&records[0]) else {
        panic!()
    };
    assert_eq!(
        (ack.transfer_id.as_str(), ack.command_key.as_str()),
        ("t-1", "dl-1")
    );

    let grm = cpe.send_message();
    assert_eq!(grm.body, Body::GetRpcMethods(GetRpcMethods));
    assert_ne!(
        grm.header.id,
        Some(tc_id),
        "every CPE request gets a fresh ID"
    );
    let methods = vec![
        "Inform".to_owned(),
        "GetRPCMethods".to_owned(),
        "TransferComplete".to_owned(),
    ];
    cpe.reply(
        200,
        &acs12(
            grm.header.id.as_deref().unwrap(),
            GetRpcMethodsResponse {
                method_list: methods.clone(),
            },
        ),
    );
    cpe.send_empty_post();
    cpe.reply(204, b"");
    let result = cpe.finished();
    assert!(result.succeeded());
    assert_eq!(result.acs_methods, Some(methods));
}

#[test]
fn hold_requests_delays_transfer_complete_until_lifted() {
    let mut cpe = Cpe::new(
        config(),
        start(
            &[("7 TRANSFER COMPLETE", ""), ("M Download", "dl-1")],
            vec![owed_tc("t-1", "dl-1")],
        ),
    );
    cpe.inform_accepted(CwmpNamespace::Cwmp12, Some(true));
    assert!(cpe.s.hold_requests());
    // Held: the CPE may only send the empty POST.
    cpe.send_empty_post();
    cpe.reply(
        200,
        &acs(
            CwmpNamespace::Cwmp12,
            "gpv-1",
            Some(true),
            GetParameterValues {
                parameter_names: vec!["Device.DeviceInfo.".into()],
            },
        ),
    );
    assert!(cpe.s.hold_requests());
    let response = cpe.send_message();
    assert!(matches!(response.body, Body::GetParameterValuesResponse(_)));
    // A message without the header lifts the hold, but the CPE owes this request a response
    // first: the TransferComplete waits for the CPE's next turn.
    cpe.reply(
        200,
        &acs12(
            "gpv-2",
            GetParameterValues {
                parameter_names: vec![],
            },
        ),
    );
    assert!(!cpe.s.hold_requests());
    let response = cpe.send_message();
    assert_eq!(response.header.id.as_deref(), Some("gpv-2"));
    // The ACS is done; the CPE still owes a request, so it sends it instead of ending.
    cpe.reply(204, b"");
    let tc = cpe.send_message();
    assert!(matches!(tc.body, Body::TransferComplete(_)));
    cpe.reply(
        200,
        &acs12(tc.header.id.as_deref().unwrap(), TransferCompleteResponse),
    );
    let records = cpe.journal();
    assert!(matches!(
        kind(&records[0]),
        Kind::TransferCompleteAcknowledged(_)
    ));
    cpe.send_empty_post();
    cpe.reply(204, b"");
    assert!(cpe.finished().succeeded());
    assert_eq!(
        cpe.log,
        vec![
            "journal:1",
            "send:Inform",
            "journal:1",
            "send:(empty)",
            "send:GetParameterValuesResponse",
            "send:GetParameterValuesResponse",
            "send:TransferComplete",
            "journal:1",
            "send:(empty)",
        ]
    );
}

#[test]
fn fault_8005_to_transfer_complete_keeps_it_owed_and_stops_cpe_requests() {
    let mut config = config();
    config.send_get_rpc_methods = true;
    let mut cpe = Cpe::new(
        config,
        start(
            &[("7 TRANSFER COMPLETE", "")],
            vec![owed_tc("t-1", "a"), owed_tc("t-2", "b")],
        ),
    );
    cpe.inform_accepted(CwmpNamespace::Cwmp12, None);
    let tc = cpe.send_message();
    let retry = Body::Fault(Fault::new(FaultCode::RetryRequest));
    cpe.reply(500, &acs12(tc.header.id.as_deref().unwrap(), retry));
    // No acknowledgement, no second TransferComplete, no GetRPCMethods: straight to the empty POST.
    cpe.send_empty_post();
    cpe.reply(204, b"");
    let result = cpe.finished();
    assert!(
        result.succeeded(),
        "a fault to a CPE request does not fail the session"
    );
    assert_eq!(result.acs_methods, None);
    assert!(
        !cpe.log.iter().skip(3).any(|l| l.starts_with("journal")),
        "{:?}",
        cpe.log
    );
}

#[test]
fn other_fault_to_transfer_complete_skips_only_that_one() {
    let mut cpe = Cpe::new(
        config(),
        start(&[], vec![owed_tc("t-1", "a"), owed_tc("t-2", "b")]),
    );
    cpe.inform_accepted(CwmpNamespace::Cwmp12, None);
    let tc = cpe.send_message();
    cpe.reply(
        200,
        &acs12(
            tc.header.id.as_deref().unwrap(),
            Body::Fault(Fault::new(FaultCode::AcsInvalidArguments)),
        ),
    );
    let tc2 = cpe.send_message();
    let Body::TransferComplete(second) = &tc2.body else {
        panic!()
    };
    assert_eq!(second.command_key, "b");
    cpe.reply(
        200,
        &acs12(tc2.header.id.as_deref().unwrap(), TransferCompleteResponse),
    );
    let records = cpe.journal();
    let Kind::TransferCompleteAcknowledged(ack) = kind(&records[0]) else {
        panic!()
    };
    assert_eq!(ack.transfer_id, "t-2");
    cpe.send_empty_post();
}

// ---- failures answering the Inform ----

#[test]
fn fault_8005_to_the_inform_fails_the_session_without_delivering_events() {
    for status in [200, 500] {
        let mut cpe = Cpe::new(config(), start(&[("2 PERIODIC", "")], vec![]));
        cpe.journal();
        let inform = cpe.send_message();
        cpe.reply(
            status,
            &acs12(
                inform.header.id.as_deref().unwrap(),
                Body::Fault(Fault::new(FaultCode::RetryRequest)),
            ),
        );
        let reason = cpe.failed();
        assert_eq!(reason.acs_fault_code(), Some(8005));
        assert_eq!(
            reason.to_string(),
            "the ACS answered the Inform with fault 8005 Retry request"
        );
        assert_eq!(
            cpe.log,
            vec!["journal:1", "send:Inform"],
            "no InformAcknowledged"
        );
    }
}

#[test]
fn status_503_keeps_retry_after_and_401_fails() {
    let mut cpe = Cpe::new(config(), start(&[], vec![]));
    cpe.journal();
    cpe.send();
    cpe.s.on_reply(
        &mut cpe.agent,
        T0 + 10,
        503,
        b"busy",
        Some(Duration::from_secs(120)),
    );
    let reason = cpe.failed();
    assert_eq!(
        reason,
        FailureReason::HttpStatus {
            status: 503,
            retry_after: Some(Duration::from_secs(120))
        }
    );
    assert_eq!(
        reason.to_string(),
        "the ACS answered 503 Service Unavailable (retry after 120 s)"
    );
    let result = SessionResult {
        outcome: Outcome::Failed(reason),
        acs_methods: None,
        namespace: None,
        use_cwmp_version: None,
    };
    let Some(Kind::SessionEnded(ended)) = result.ended_record("sess-1", Some(120)).kind else {
        panic!()
    };
    assert_eq!(
        (ended.http_status, ended.retry_after_seconds),
        (Some(503), Some(120))
    );

    let mut cpe = Cpe::new(config(), start(&[], vec![]));
    cpe.journal();
    cpe.send();
    cpe.reply(401, b"");
    assert_eq!(cpe.failed().http_status(), Some(401));

    // A 500 that is not a SOAP fault is an HTTP failure too.
    let mut cpe = Cpe::new(config(), start(&[], vec![]));
    cpe.journal();
    cpe.send();
    cpe.reply(500, b"Internal Server Error");
    assert_eq!(cpe.failed().http_status(), Some(500));
}

#[test]
fn malformed_or_out_of_sequence_answers_to_the_inform() {
    let cases: Vec<(u16, Vec<u8>, &str)> = vec![
        (200, b"<soap-env:Envelope><unclosed".to_vec(), "Malformed"),
        (200, b"this is not XML at all".to_vec(), "Malformed"),
        (
            200,
            b"<html><body>captive portal</body></html>".to_vec(),
            "Malformed",
        ),
        (204, Vec::new(), "Protocol"),
        (200, Vec::new(), "Protocol"),
        (200, acs12("x", GetRpcMethods), "Protocol"),
        (200, acs12("x", TransferCompleteResponse), "Protocol"),
    ];
    for (status, body, expected) in cases {
        let mut cpe = Cpe::new(config(), start(&[], vec![]));
        cpe.journal();
        cpe.send();
        cpe.reply(status, &body);
        let reason = cpe.failed();
        let got = match reason {
            FailureReason::Malformed(_) => "Malformed",
            FailureReason::Protocol(_) => "Protocol",
            ref other => panic!("{other:?}"),
        };
        assert_eq!(
            got,
            expected,
            "{status} {:?}: {reason}",
            String::from_utf8_lossy(&body)
        );
        if expected == "Malformed" {
            assert!(
                reason
                    .to_string()
                    .starts_with("the ACS sent malformed SOAP: "),
                "{reason}"
            );
        }
    }
}

// ---- the ACS's requests ----

#[test]
fn unknown_acs_method_is_answered_with_9000_echoing_the_id() {
    let mut cpe = Cpe::new(config(), start(&[], vec![]));
    cpe.inform_accepted(CwmpNamespace::Cwmp12, None);
    cpe.send_empty_post();
    let unknown = "<?xml version=\"1.0\"?>\n<soap-env:Envelope \
        xmlns:soap-env=\"http://schemas.xmlsoap.org/soap/envelope/\" \
        xmlns:cwmp=\"urn:dslforum-org:cwmp-1-2\"><soap-env:Header><cwmp:ID \
        soap-env:mustUnderstand=\"1\">x-42</cwmp:ID></soap-env:Header><soap-env:Body>\
        <cwmp:X_0000FF_Frobnicate><Level>3</Level></cwmp:X_0000FF_Frobnicate></soap-env:Body>\
        </soap-env:Envelope>";
    cpe.reply(200, unknown.as_bytes());
    let answer = cpe.send_message();
    assert_eq!(answer.header.id.as_deref(), Some("x-42"));
    let Body::Fault(fault) = &answer.body else {
        panic!("{:?}", answer.body)
    };
    assert_eq!(fault.code, 9000);
    assert!(
        cpe.agent.calls.is_empty(),
        "the handler is not called for undecodable messages"
    );
    // The session goes on.
    cpe.reply(200, &acs12("x-43", GetRpcMethods));
    cpe.send_message();
    cpe.reply(204, b"");
    assert!(cpe.finished().succeeded());
}

#[test]
fn acs_request_with_bad_arguments_is_answered_9003() {
    let mut cpe = Cpe::new(config(), start(&[], vec![]));
    cpe.inform_accepted(CwmpNamespace::Cwmp12, None);
    cpe.send_empty_post();
    let bad = "<soap-env:Envelope xmlns:soap-env=\"http://schemas.xmlsoap.org/soap/envelope/\" \
        xmlns:cwmp=\"urn:dslforum-org:cwmp-1-2\"><soap-env:Header><cwmp:ID>b-1</cwmp:ID>\
        </soap-env:Header><soap-env:Body><cwmp:ScheduleInform><DelaySeconds>soon</DelaySeconds>\
        </cwmp:ScheduleInform></soap-env:Body></soap-env:Envelope>";
    cpe.reply(200, bad.as_bytes());
    let answer = cpe.send_message();
    assert_eq!(answer.header.id.as_deref(), Some("b-1"));
    assert!(
        matches!(answer.body, Body::Fault(ref f) if f.code == 9003),
        "{:?}",
        answer.body
    );
}

#[test]
fn mid_session_failures() {
    // 401 after the InformResponse: failed, but the events stay delivered (journaled earlier).
    let mut cpe = Cpe::new(config(), start(&[("1 BOOT", "")], vec![]));
    cpe.inform_accepted(CwmpNamespace::Cwmp12, None);
    cpe.send_empty_post();
    cpe.reply(401, b"");
    assert_eq!(cpe.failed().http_status(), Some(401));

    // A transport error.
    let mut cpe = Cpe::new(config(), start(&[], vec![]));
    cpe.inform_accepted(CwmpNamespace::Cwmp12, None);
    cpe.send_empty_post();
    cpe.s
        .on_transport_error(T0 + 500, "connection reset by peer".into());
    assert_eq!(
        cpe.failed().to_string(),
        "the connection to the ACS failed: connection reset by peer"
    );

    // An ACS fault where a request was expected.
    let mut cpe = Cpe::new(config(), start(&[], vec![]));
    cpe.inform_accepted(CwmpNamespace::Cwmp12, None);
    cpe.send_empty_post();
    cpe.reply(
        500,
        &acs12("f", Body::Fault(Fault::new(FaultCode::AcsInternalError))),
    );
    assert_eq!(
        cpe.failed().to_string(),
        "the ACS answered the empty POST with fault 8002 Internal error"
    );

    // An empty answer to a CPE request.
    let mut cpe = Cpe::new(config(), start(&[], vec![owed_tc("t", "k")]));
    cpe.inform_accepted(CwmpNamespace::Cwmp12, None);
    cpe.send_message();
    cpe.reply(204, b"");
    assert!(matches!(cpe.failed(), FailureReason::Protocol(_)));
}

// ---- version negotiation ----

#[test]
fn namespace_follows_the_inform_response() {
    let mut cpe = Cpe::new(config(), start(&[], vec![owed_tc("t-1", "k")]));
    let inform = cpe.inform_accepted(CwmpNamespace::Cwmp10, None);
    assert_eq!(
        inform.namespace,
        CwmpNamespace::Cwmp12,
        "the Inform goes out in the configured namespace"
    );
    assert_eq!(cpe.s.namespace(), CwmpNamespace::Cwmp10);

    let tc = cpe.send_message();
    assert_eq!(tc.namespace, CwmpNamespace::Cwmp10);
    cpe.reply(
        200,
        &acs(
            CwmpNamespace::Cwmp10,
            tc.header.id.as_deref().unwrap(),
            None,
            TransferCompleteResponse,
        ),
    );
    cpe.journal();
    cpe.send_empty_post();
    cpe.reply(200, &acs(CwmpNamespace::Cwmp10, "g", None, GetRpcMethods));
    match cpe.s.poll_output() {
        Some(Output::Send {
            body: Some(body), ..
        }) => {
            let text = String::from_utf8(body).unwrap();
            assert!(
                text.contains("xmlns:cwmp=\"urn:dslforum-org:cwmp-1-0\""),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    cpe.reply(204, b"");
    assert_eq!(cpe.finished().namespace, Some(CwmpNamespace::Cwmp10));
}

#[test]
fn use_cwmp_version_is_remembered() {
    let mut cpe = Cpe::new(config(), start(&[], vec![]));
    cpe.journal();
    let inform = cpe.send_message();
    let header = Header {
        id: inform.header.id.clone(),
        use_cwmp_version: Some("1.4".into()),
        ..Header::default()
    };
    let reply = Envelope::new(
        CwmpNamespace::Cwmp12,
        header,
        InformResponse { max_envelopes: 1 },
    );
    cpe.reply(200, reply.encode().as_bytes());
    cpe.journal();
    cpe.send_empty_post();
    cpe.reply(204, b"");
    let result = cpe.finished();
    assert_eq!(result.use_cwmp_version.as_deref(), Some("1.4"));
    assert_eq!(result.namespace, Some(CwmpNamespace::Cwmp12));
}

// ---- time ----

#[test]
fn timeout_waiting_for_the_acs() {
    let mut cpe = Cpe::new(config(), start(&[], vec![]));
    cpe.journal();
    cpe.send();
    assert_eq!(cpe.s.deadline_ms(), T0 + 60_000);
    cpe.s.on_timeout(T0 + 59_999);
    assert_eq!(cpe.s.poll_output(), None, "an early timer is ignored");
    cpe.s.on_timeout(T0 + 60_000);
    assert_eq!(
        cpe.failed(),
        FailureReason::Timeout {
            idle: true,
            limit_secs: 60
        }
    );

    // A reply that arrives after the deadline counts as a timeout as well.
    let mut cpe = Cpe::new(config(), start(&[], vec![]));
    cpe.journal();
    let inform = cpe.send_message();
    cpe.s.on_reply(
        &mut cpe.agent,
        T0 + 61_000,
        200,
        &acs12(
            inform.header.id.as_deref().unwrap(),
            InformResponse { max_envelopes: 1 },
        ),
        None,
    );
    assert!(matches!(cpe.failed(), FailureReason::Timeout { .. }));
}

#[test]
fn idle_timer_restarts_with_each_acs_message() {
    let mut cpe = Cpe::new(config(), start(&[], vec![]));
    cpe.inform_accepted(CwmpNamespace::Cwmp12, None);
    let heard = cpe.now;
    assert_eq!(cpe.s.deadline_ms(), heard + 60_000);
}

// ---- never panics, always finishes ----

/// One scripted ACS reply.
#[derive(Debug, Clone)]
enum Script {
    Raw(u16, Vec<u8>),
    Message(u16, Option<bool>, u8),
    TransportError,
    Late,
}

fn script() -> impl Strategy<Value = Script> {
    prop_oneof![
        (
            prop::sample::select(vec![200u16, 204, 301, 401, 500, 503, 0, 999]),
            prop::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(|(s, b)| Script::Raw(s, b)),
        (
            prop::sample::select(vec![200u16, 200, 200, 500]),
            prop::option::of(any::<bool>()),
            any::<u8>()
        )
            .prop_map(|(s, h, m)| Script::Message(s, h, m)),
        Just(Script::Raw(204, Vec::new())),
        Just(Script::TransportError),
        Just(Script::Late),
    ]
}

fn scripted_body(pick: u8, hold: Option<bool>, id: &str) -> Vec<u8> {
    let ns = CwmpNamespace::ALL[usize::from(pick) % CwmpNamespace::ALL.len()];
    let body: Body = match pick % 9 {
        0 => InformResponse { max_envelopes: 1 }.into(),
        1 => TransferCompleteResponse.into(),
        2 => GetRpcMethods.into(),
        3 => GetRpcMethodsResponse {
            method_list: vec!["Inform".into()],
        }
        .into(),
        4 => Body::Fault(Fault::new(FaultCode::RetryRequest)),
        5 => Body::Fault(Fault::new(FaultCode::AcsInvalidArguments)),
        6 => SetParameterValues {
            parameter_list: vec![],
            parameter_key: "k".into(),
        }
        .into(),
        7 => GetParameterValues {
            parameter_names: vec!["Device.".into()],
        }
        .into(),
        _ => inform(&[("1 BOOT", "")], 0).into(),
    };
    acs(ns, id, hold, body)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn any_replies_end_in_finished_without_panicking(
        replies in prop::collection::vec(script(), 0..24),
        tcs in 0usize..3,
        grm in any::<bool>(),
        dt in 0u64..20_000,
    ) {
        let mut config = config();
        config.send_get_rpc_methods = grm;
        let owed = (0..tcs).map(|i| owed_tc(&format!("t{i}"), "k")).collect();
        let mut s = Session::new(config, start(&[("1 BOOT", "")], owed), T0);
        let mut agent = FakeAgent::default();
        let mut now = T0;
        let mut replies = replies.into_iter();
        let mut finished = None;
        // Each reply yields at most a Journal and a Send; CPE requests add at most 2 + tcs sends.
        let bound = 4 * 24 + 20;
        for _ in 0..bound {
            match s.poll_output() {
                Some(Output::Journal(records)) => {
                    prop_assert!(!records.is_empty());
                    prop_assert_eq!(s.poll_output(), None, "no output before journaled()");
                    s.journaled();
                }
                Some(Output::Send { body, .. }) => {
                    prop_assert_eq!(s.poll_output(), None, "one message in flight");
                    if let Some(body) = &body {
                        // Every message the CPE sends decodes.
                        prop_assert!(Envelope::decode(body, &Limits::default()).is_ok());
                    }
                    now += dt;
                    match replies.next() {
                        None | Some(Script::TransportError) => s.on_transport_error(now, "gone".into()),
                        Some(Script::Late) => s.on_timeout(s.deadline_ms()),
                        Some(Script::Raw(status, bytes)) => s.on_reply(&mut agent, now, status, &bytes, None),
                        Some(Script::Message(status, hold, pick)) => {
                            let bytes = scripted_body(pick, hold, "id");
                            s.on_reply(&mut agent, now, status, &bytes, Some(Duration::from_secs(1)));
                        }
                    }
                }
                Some(Output::Finished(result)) => {
                    finished = Some(result);
                    break;
                }
                None => prop_assert!(false, "the machine stalled"),
            }
        }
        let result = finished.expect("the session finished within the bound");
        prop_assert_eq!(s.poll_output(), None);
        // Every failure has a sentence.
        if let Some(reason) = result.failure() {
            prop_assert!(!reason.to_string().is_empty());
        }
    }
}
