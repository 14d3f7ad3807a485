//! Drives the scripted ACS with a small hand-written CPE (hyper client connection + the codec).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chaos_tests::acs::{AcsAuth, AcsConfig, AcsRequest, Failure, ScriptedAcs, SessionEnd};
use chaos_tests::pki::test_pki;
use digest_auth::{AuthContext, AuthorizationHeader, HttpMethod, Qop, WwwAuthenticateHeader};
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tr069_client::cwmp::rpc::get_parameter_values::GetParameterValues;
use tr069_client::cwmp::rpc::inform::{DeviceIdStruct, EventStruct, Inform};
use tr069_client::cwmp::{
    Body, CwmpNamespace, DateTime, Envelope, Fault, FaultCode, Header, Limits,
    ParameterValueStruct, Value,
};

const T: Duration = Duration::from_secs(10);

// ------------------------------------------------------------------------------------------
// A tiny CPE
// ------------------------------------------------------------------------------------------

struct Cpe {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    path: String,
    cookie: Option<String>,
}

struct Reply {
    status: u16,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Reply {
    fn envelope(&self) -> Envelope {
        Envelope::decode(&self.body, &Limits::default()).unwrap_or_else(|e| {
            panic!(
                "undecodable answer ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Cpe {
    async fn over<IO>(io: IO, host: String, path: String) -> Cpe
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .expect("handshake");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Cpe {
            sender,
            host,
            path,
            cookie: None,
        }
    }

    async fn connect(acs: &ScriptedAcs) -> Cpe {
        let stream = TcpStream::connect(acs.addr()).await.expect("connect");
        Cpe::over(stream, acs.addr().to_string(), "/acs".to_owned()).await
    }

    async fn try_post(
        &mut self,
        body: Option<String>,
        authorization: Option<&str>,
    ) -> Result<Reply, String> {
        let mut b = Request::post(&self.path).header(header::HOST, &self.host);
        if let Some(c) = &self.cookie {
            b = b.header(header::COOKIE, c);
        }
        if let Some(a) = authorization {
            b = b.header(header::AUTHORIZATION, a);
        }
        if body.is_some() {
            b = b
                .header(header::CONTENT_TYPE, "text/xml; charset=\"utf-8\"")
                .header("SOAPAction", "");
        }
        let request = b
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| e.to_string())?;
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let response: Response<Incoming> =
            tokio::time::timeout(T, self.sender.send_request(request))
                .await
                .map_err(|_| "timeout".to_owned())?
                .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        if let Some(sc) = headers
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
        {
            self.cookie = Some(sc.split(';').next().unwrap_or_default().to_owned());
        }
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    async fn post(&mut self, body: Option<String>) -> Reply {
        self.try_post(body, None).await.expect("post")
    }
}

fn inform(events: &[&str], retry_count: u32) -> Inform {
    Inform {
        device_id: DeviceIdStruct {
            manufacturer: "Acme".to_owned(),
            oui: "00D09E".to_owned(),
            product_class: "Router".to_owned(),
            serial_number: "SN0001".to_owned(),
        },
        event: events.iter().map(|e| EventStruct::new(*e, "")).collect(),
        max_envelopes: 1,
        current_time: DateTime::from_unix(1_800_000_000, 0),
        retry_count,
        parameter_list: vec![ParameterValueStruct::new(
            "Device.DeviceInfo.SoftwareVersion",
            Value::string("1.2.3"),
        )],
    }
}

fn inform_text(ns: CwmpNamespace, id: &str, events: &[&str], retry_count: u32) -> String {
    Envelope::new(
        ns,
        Header::with_id(id),
        Body::Inform(inform(events, retry_count)),
    )
    .encode()
}

/// A CPE message written by hand (for methods the codec may not carry yet).
fn raw(ns: CwmpNamespace, id: &str, method: &str, args: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap-env:Envelope \
         xmlns:soap-env=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:soap-enc=\"http://schemas.xmlsoap.org/soap/encoding/\" \
         xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:cwmp=\"{}\">\
         <soap-env:Header><cwmp:ID soap-env:mustUnderstand=\"1\">{id}</cwmp:ID></soap-env:Header>\
         <soap-env:Body><cwmp:{method}>{args}</cwmp:{method}></soap-env:Body></soap-env:Envelope>",
        ns.uri()
    )
}

/// The method element's name in an answer, read without the codec.
fn method_of(text: &str) -> String {
    let start = text
        .find("<soap-env:Body><")
        .map(|i| i + "<soap-env:Body><".len())
        .expect("a body");
    let rest = &text[start..];
    let end = rest.find(['>', ' ', '/']).expect("end of name");
    rest[..end].trim_start_matches("cwmp:").to_owned()
}

// ------------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------------

#[tokio::test]
async fn inform_response_echoes_id_and_namespace_and_sets_cookie() {
    for ns in [CwmpNamespace::Cwmp10, CwmpNamespace::Cwmp12] {
        let acs = ScriptedAcs::start(AcsConfig::default()).await.unwrap();
        let mut cpe = Cpe::connect(&acs).await;
        let r = cpe
            .post(Some(inform_text(ns, "inform-7", &["1 BOOT"], 0)))
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-type"),
            Some("text/xml; charset=\"utf-8\"")
        );
        let cookie = r.header("set-cookie").expect("cookie").to_owned();
        let value = cookie.strip_prefix("session=").expect("session cookie");
        assert!(
            value.len() >= 16 && value.chars().all(|c| c.is_ascii_hexdigit()),
            "{cookie}"
        );
        assert!(
            !cookie.contains(';'),
            "no attributes, like GenieACS: {cookie}"
        );
        let env = r.envelope();
        assert_eq!(env.namespace, ns);
        assert_eq!(env.header.id.as_deref(), Some("inform-7"));
        assert!(
            matches!(env.body, Body::InformResponse(_)),
            "{:?}",
            env.body
        );
        assert!(r.text().contains(ns.uri()));

        // Nothing queued: the empty POST ends the session.
        let r = cpe.post(None).await;
        assert_eq!(r.status, 204);
        assert_eq!(r.header("connection"), Some("close"));
        // GenieACS also sends `Content-Length: 0`; hyper drops it from a 204 (RFC 9110 §8.6).
        assert!(r.body.is_empty());
        assert!(
            r.header("set-cookie").is_none(),
            "cookie only on the InformResponse"
        );

        let sessions = acs.wait_for_sessions(1, T).await.unwrap();
        assert_eq!(sessions.len(), 1);
        let s = &sessions[0];
        assert_eq!(s.number, 1);
        assert_eq!(s.end, SessionEnd::Completed);
        assert_eq!(s.inform_namespace, ns);
        assert_eq!(s.namespace, ns);
        assert_eq!(s.event_codes(), vec!["1 BOOT"]);
        assert_eq!(s.retry_count(), 0);
        assert_eq!(
            s.parameter("Device.DeviceInfo.SoftwareVersion"),
            Some("1.2.3")
        );
        assert_eq!(format!("session={}", s.cookie), cookie);

        let ex = acs.exchanges();
        assert_eq!(ex.len(), 2);
        assert_eq!(ex[0].request_method.as_deref(), Some("Inform"));
        assert_eq!(ex[0].request_id.as_deref(), Some("inform-7"));
        assert_eq!(ex[0].response_method.as_deref(), Some("InformResponse"));
        assert_eq!(ex[0].session, Some(1));
        assert_eq!(ex[1].request_method, None);
        assert_eq!(ex[1].status, Some(204));
        assert_eq!(ex[1].header("cookie"), Some(cookie.as_str()));
        acs.shutdown().await;
    }
}

#[tokio::test]
async fn fixed_namespace_when_echo_is_off() {
    let acs = ScriptedAcs::start(AcsConfig {
        namespace_echo: false,
        fixed_namespace: CwmpNamespace::Cwmp10,
        ..AcsConfig::default()
    })
    .await
    .unwrap();
    let mut cpe = Cpe::connect(&acs).await;
    let r = cpe
        .post(Some(inform_text(
            CwmpNamespace::Cwmp12,
            "1",
            &["2 PERIODIC"],
            0,
        )))
        .await;
    assert_eq!(r.envelope().namespace, CwmpNamespace::Cwmp10);
    acs.shutdown().await;
}

#[tokio::test]
async fn queued_requests_are_issued_and_answers_recorded() {
    let acs = ScriptedAcs::start(AcsConfig::default()).await.unwrap();
    acs.enqueue(AcsRequest::raw("GetRPCMethods", ""));
    acs.enqueue(Body::GetParameterValues(GetParameterValues {
        parameter_names: vec!["Device.DeviceInfo.".to_owned()],
    }));
    assert_eq!(acs.queued(), 2);
    let ns = CwmpNamespace::Cwmp12;
    let mut cpe = Cpe::connect(&acs).await;
    assert_eq!(
        cpe.post(Some(inform_text(ns, "i1", &["6 CONNECTION REQUEST"], 0)))
            .await
            .status,
        200
    );

    let r = cpe.post(None).await;
    assert_eq!(r.status, 200);
    let text = r.text();
    assert_eq!(method_of(&text), "GetRPCMethods");
    assert!(
        text.contains("<cwmp:ID soap-env:mustUnderstand=\"1\">acs-1</cwmp:ID>"),
        "{text}"
    );

    let answer = raw(
        ns,
        "acs-1",
        "GetRPCMethodsResponse",
        "<MethodList soap-enc:arrayType=\"xsd:string[2]\"><string>GetRPCMethods</string><string>GetParameterValues</string></MethodList>",
    );
    let r = cpe.post(Some(answer)).await;
    assert_eq!(r.status, 200);
    let env = r.envelope();
    assert_eq!(env.header.id.as_deref(), Some("acs-2"));
    assert_eq!(
        env.body,
        Body::GetParameterValues(GetParameterValues {
            parameter_names: vec!["Device.DeviceInfo.".to_owned()]
        })
    );

    // The CPE refuses it with a fault.
    let fault = Envelope::new(
        ns,
        Header::with_id("acs-2"),
        Body::Fault(Fault::new(FaultCode::InvalidParameterName)),
    )
    .encode();
    let r = cpe.post(Some(fault)).await;
    assert_eq!(r.status, 204);

    let sessions = acs.wait_for_sessions(1, T).await.unwrap();
    let s = &sessions[0];
    assert_eq!(s.end, SessionEnd::Completed);
    assert_eq!(s.acs_calls.len(), 2);
    assert_eq!(s.acs_calls[0].request.method(), "GetRPCMethods");
    assert_eq!(s.acs_calls[0].id, "acs-1");
    let a0 = s.acs_calls[0].answer.as_ref().expect("answered");
    assert_eq!(a0.method, "GetRPCMethodsResponse");
    assert_eq!(a0.id.as_deref(), Some("acs-1"));
    assert_eq!(s.acs_calls[1].id, "acs-2");
    let a1 = s.acs_calls[1].answer.as_ref().expect("answered");
    assert_eq!(a1.fault().map(|f| f.code), Some(9005));
    assert_eq!(acs.queued(), 0);
    acs.shutdown().await;
}

#[tokio::test]
async fn cpe_requests_get_their_responses() {
    let acs = ScriptedAcs::start(AcsConfig::default()).await.unwrap();
    let ns = CwmpNamespace::Cwmp10;
    let mut cpe = Cpe::connect(&acs).await;
    cpe.post(Some(inform_text(
        ns,
        "i1",
        &["7 TRANSFER COMPLETE", "M Download"],
        0,
    )))
    .await;

    let tc = raw(
        ns,
        "tc-1",
        "TransferComplete",
        "<CommandKey>dl-1</CommandKey><FaultStruct><FaultCode>0</FaultCode><FaultString></FaultString></FaultStruct>\
         <StartTime>2026-11-22T01:00:00Z</StartTime><CompleteTime>2026-11-22T01:01:00Z</CompleteTime>",
    );
    let r = cpe.post(Some(tc)).await;
    assert_eq!(r.status, 200);
    let text = r.text();
    assert_eq!(method_of(&text), "TransferCompleteResponse");
    assert!(text.contains(">tc-1</cwmp:ID>"), "{text}");
    assert!(text.contains(ns.uri()), "{text}");

    let r = cpe.post(Some(raw(ns, "g-1", "GetRPCMethods", ""))).await;
    let text = r.text();
    assert_eq!(method_of(&text), "GetRPCMethodsResponse");
    assert!(
        text.contains(
            "<MethodList soap-enc:arrayType=\"xsd:string[3]\"><string>Inform</string><string>GetRPCMethods</string><string>TransferComplete</string></MethodList>"
        ),
        "{text}"
    );

    // Not a method the ACS knows: fault 8000.
    let r = cpe.post(Some(raw(ns, "x-1", "X_Vendor_Thing", ""))).await;
    let env = r.envelope();
    match env.body {
        Body::Fault(f) => assert_eq!(f.code, 8000),
        other => panic!("expected a fault, got {other:?}"),
    }

    assert_eq!(cpe.post(None).await.status, 204);
    let s = &acs.wait_for_sessions(1, T).await.unwrap()[0];
    assert_eq!(
        s.cpe_methods(),
        vec!["TransferComplete", "GetRPCMethods", "X_Vendor_Thing"]
    );
    assert_eq!(s.cpe_calls[0].id.as_deref(), Some("tc-1"));
    assert_eq!(s.cpe_calls[0].answer, "TransferCompleteResponse");
    assert_eq!(s.cpe_calls[2].answer, "Fault");
    acs.shutdown().await;
}

#[tokio::test]
async fn genieacs_mode_rejects_autonomous_transfer_complete() {
    let acs = ScriptedAcs::start(AcsConfig {
        genieacs_cpe_methods_only: true,
        ..AcsConfig::default()
    })
    .await
    .unwrap();
    let ns = CwmpNamespace::Cwmp12;
    let mut cpe = Cpe::connect(&acs).await;
    cpe.post(Some(inform_text(
        ns,
        "i1",
        &["10 AUTONOMOUS TRANSFER COMPLETE"],
        0,
    )))
    .await;
    let atc = raw(
        ns,
        "atc-1",
        "AutonomousTransferComplete",
        "<AnnounceURL></AnnounceURL><TransferURL>http://x/fw.bin</TransferURL><IsDownload>true</IsDownload>\
         <FileType>1 Firmware Upgrade Image</FileType><FileSize>0</FileSize><TargetFileName></TargetFileName>\
         <FaultStruct><FaultCode>0</FaultCode><FaultString></FaultString></FaultStruct>\
         <StartTime>2026-11-22T01:00:00Z</StartTime><CompleteTime>2026-11-22T01:01:00Z</CompleteTime>",
    );
    let r = cpe.post(Some(atc)).await;
    match r.envelope().body {
        Body::Fault(f) => assert_eq!(f.code, 8000),
        other => panic!("expected a fault, got {other:?}"),
    }
    acs.shutdown().await;
}

#[tokio::test]
async fn fault_8005_failure_then_a_normal_session() {
    let acs = ScriptedAcs::start(AcsConfig::default()).await.unwrap();
    acs.fail_next_sessions(1, Failure::Fault(8005));
    let ns = CwmpNamespace::Cwmp12;
    let mut cpe = Cpe::connect(&acs).await;
    let r = cpe.post(Some(inform_text(ns, "i1", &["1 BOOT"], 0))).await;
    assert_eq!(r.status, 200);
    assert!(r.header("set-cookie").is_none());
    let env = r.envelope();
    assert_eq!(env.header.id.as_deref(), Some("i1"));
    match env.body {
        Body::Fault(f) => {
            assert_eq!(f.code, 8005);
            assert_eq!(f.soap_faultcode, "Server");
        }
        other => panic!("expected a fault, got {other:?}"),
    }
    // The retry is a new session.
    let mut cpe = Cpe::connect(&acs).await;
    assert_eq!(
        cpe.post(Some(inform_text(ns, "i2", &["1 BOOT"], 1)))
            .await
            .status,
        200
    );
    assert_eq!(cpe.post(None).await.status, 204);

    let sessions = acs.wait_for_sessions(2, T).await.unwrap();
    assert_eq!(sessions[0].end, SessionEnd::Failed(Failure::Fault(8005)));
    assert_eq!(sessions[0].injected, Some(Failure::Fault(8005)));
    assert_eq!(sessions[1].end, SessionEnd::Completed);
    assert_eq!(sessions[1].retry_count(), 1);
    let ex = acs.exchanges();
    assert_eq!(ex[0].response_method.as_deref(), Some("Fault"));
    assert!(
        ex[0]
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("failure injected")
    );
    acs.shutdown().await;
}

#[tokio::test]
async fn status_failures() {
    let acs = ScriptedAcs::start(AcsConfig::default()).await.unwrap();
    acs.fail_next_sessions(
        1,
        Failure::Status503 {
            retry_after_seconds: 120,
        },
    );
    acs.fail_next_sessions(1, Failure::Status(500));
    acs.fail_next_sessions(1, Failure::MalformedXml);
    let ns = CwmpNamespace::Cwmp12;

    let r = Cpe::connect(&acs)
        .await
        .post(Some(inform_text(ns, "a", &["1 BOOT"], 0)))
        .await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("120"));
    assert_eq!(r.header("connection"), Some("close"));

    let r = Cpe::connect(&acs)
        .await
        .post(Some(inform_text(ns, "b", &["1 BOOT"], 1)))
        .await;
    assert_eq!(r.status, 500);

    let r = Cpe::connect(&acs)
        .await
        .post(Some(inform_text(ns, "c", &["1 BOOT"], 2)))
        .await;
    assert_eq!(r.status, 200);
    assert!(Envelope::decode(&r.body, &Limits::default()).is_err());

    let sessions = acs.wait_for_sessions(3, T).await.unwrap();
    assert_eq!(
        sessions[0].end,
        SessionEnd::Failed(Failure::Status503 {
            retry_after_seconds: 120
        })
    );
    assert_eq!(sessions[1].end, SessionEnd::Failed(Failure::Status(500)));
    assert_eq!(sessions[2].end, SessionEnd::Failed(Failure::MalformedXml));
    acs.shutdown().await;
}

#[tokio::test]
async fn close_mid_body_and_reset() {
    let acs = ScriptedAcs::start(AcsConfig::default()).await.unwrap();
    acs.fail_next_sessions(1, Failure::CloseMidBody);
    acs.fail_next_sessions(1, Failure::ResetConnection);
    let ns = CwmpNamespace::Cwmp12;

    let err = Cpe::connect(&acs)
        .await
        .try_post(Some(inform_text(ns, "a", &["1 BOOT"], 0)), None)
        .await;
    assert!(
        err.as_ref().err().is_some_and(|e| e.starts_with("body")),
        "{:?}",
        err.map(|r| r.status)
    );

    let err = Cpe::connect(&acs)
        .await
        .try_post(Some(inform_text(ns, "b", &["1 BOOT"], 1)), None)
        .await;
    assert!(err.is_err());

    let sessions = acs.wait_for_sessions(2, T).await.unwrap();
    assert_eq!(sessions[0].end, SessionEnd::Failed(Failure::CloseMidBody));
    assert_eq!(
        sessions[1].end,
        SessionEnd::Failed(Failure::ResetConnection)
    );
    let ex = acs.exchanges();
    assert_eq!(ex[1].status, None, "no answer to the reset one");
    acs.shutdown().await;
}

#[tokio::test]
async fn delay_failure_answers_late() {
    let acs = ScriptedAcs::start(AcsConfig::default()).await.unwrap();
    acs.fail_next_sessions(1, Failure::Delay(Duration::from_millis(400)));
    let mut cpe = Cpe::connect(&acs).await;
    let t0 = std::time::Instant::now();
    let r = cpe
        .post(Some(inform_text(
            CwmpNamespace::Cwmp12,
            "a",
            &["1 BOOT"],
            0,
        )))
        .await;
    assert!(t0.elapsed() >= Duration::from_millis(400));
    assert_eq!(r.status, 200);
    assert_eq!(cpe.post(None).await.status, 204);
    let s = &acs.wait_for_sessions(1, T).await.unwrap()[0];
    assert_eq!(s.end, SessionEnd::Completed);
    assert!(matches!(s.injected, Some(Failure::Delay(_))));
    acs.shutdown().await;
}

#[tokio::test]
async fn session_needs_inform_first_and_cookie_reconnects() {
    let acs = ScriptedAcs::start(AcsConfig::default()).await.unwrap();
    acs.enqueue(AcsRequest::raw("Reboot", "<CommandKey>r1</CommandKey>"));
    let ns = CwmpNamespace::Cwmp12;

    // Empty POST first: 400.
    let r = Cpe::connect(&acs).await.post(None).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), "Invalid session");

    // Garbage first: 400, no panic.
    let r = Cpe::connect(&acs)
        .await
        .post(Some("<not really".to_owned()))
        .await;
    assert_eq!(r.status, 400);

    let mut cpe = Cpe::connect(&acs).await;
    assert_eq!(
        cpe.post(Some(inform_text(ns, "i", &["1 BOOT"], 0)))
            .await
            .status,
        200
    );
    drop(cpe.sender);

    // A new connection without the cookie and without an Inform is refused.
    let r = Cpe::connect(&acs).await.post(None).await;
    assert_eq!(r.status, 400);

    // With the cookie it continues the session.
    let mut again = Cpe::connect(&acs).await;
    again.cookie = cpe.cookie.clone();
    let r = again.post(None).await;
    assert_eq!(r.status, 200);
    assert_eq!(method_of(&r.text()), "Reboot");
    let r = again
        .post(Some(raw(ns, "acs-1", "RebootResponse", "")))
        .await;
    assert_eq!(r.status, 204);

    let sessions = acs.wait_for_sessions(1, T).await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].end, SessionEnd::Completed);
    assert_eq!(sessions[0].connections.len(), 2);
    assert_eq!(
        sessions[0].acs_calls[0]
            .answer
            .as_ref()
            .map(|a| a.method.as_str()),
        Some("RebootResponse")
    );
    let ex = acs.exchanges();
    assert!(
        ex[0]
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("Invalid session")
    );
    assert!(ex[1].decode_error.is_some());
    assert!(ex[1].request_text.is_some());
    acs.shutdown().await;
}

#[tokio::test]
async fn unanswered_request_is_requeued_for_the_next_session() {
    let acs = ScriptedAcs::start(AcsConfig::default()).await.unwrap();
    acs.enqueue(AcsRequest::raw("Reboot", "<CommandKey>r1</CommandKey>"));
    let ns = CwmpNamespace::Cwmp12;
    let mut cpe = Cpe::connect(&acs).await;
    cpe.post(Some(inform_text(ns, "i", &["1 BOOT"], 0))).await;
    assert_eq!(method_of(&cpe.post(None).await.text()), "Reboot");
    drop(cpe);
    acs.wait_for_sessions(1, T).await.unwrap();
    assert_eq!(acs.sessions()[0].end, SessionEnd::Abandoned);

    let mut cpe = Cpe::connect(&acs).await;
    cpe.post(Some(inform_text(ns, "i2", &["1 BOOT"], 1))).await;
    let r = cpe.post(None).await;
    assert_eq!(method_of(&r.text()), "Reboot");
    assert!(r.text().contains("acs-2"));
    acs.shutdown().await;
}

fn digest_answer(challenge: &str, user: &str, pass: &str, body: &[u8], force_auth: bool) -> String {
    let mut prompt = WwwAuthenticateHeader::parse(challenge).expect("challenge parses");
    if force_auth {
        prompt.qop = Some(vec![Qop::AUTH]);
    }
    let ctx = AuthContext::new_post(user, pass, "/acs", Some(body));
    prompt.respond(&ctx).expect("respond").to_header_string()
}

#[tokio::test]
async fn digest_auth_flow() {
    let acs = ScriptedAcs::start(AcsConfig {
        auth: AcsAuth::Digest {
            username: "cpe".to_owned(),
            password: "secret".to_owned(),
        },
        ..AcsConfig::default()
    })
    .await
    .unwrap();
    let ns = CwmpNamespace::Cwmp12;
    for force_auth in [false, true] {
        let mut cpe = Cpe::connect(&acs).await;
        let body = inform_text(ns, "i", &["1 BOOT"], 0);
        let r = cpe.post(Some(body.clone())).await;
        assert_eq!(r.status, 401);
        let challenge = r.header("www-authenticate").expect("challenge").to_owned();
        assert!(
            challenge.starts_with("Digest realm=\"GenieACS\",qop=\"auth,auth-int\",nonce="),
            "{challenge}"
        );
        let authorization = digest_answer(&challenge, "cpe", "secret", body.as_bytes(), force_auth);
        let r = cpe
            .try_post(Some(body), Some(&authorization))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{authorization}");
        // Later requests of the session need no credentials.
        assert_eq!(cpe.post(None).await.status, 204);
    }

    // Wrong password: 401 without a challenge, connection closed.
    let mut cpe = Cpe::connect(&acs).await;
    let body = inform_text(ns, "i", &["1 BOOT"], 0);
    let challenge = cpe
        .post(Some(body.clone()))
        .await
        .header("www-authenticate")
        .unwrap()
        .to_owned();
    let authorization = digest_answer(&challenge, "cpe", "wrong", body.as_bytes(), true);
    let r = cpe
        .try_post(Some(body), Some(&authorization))
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_none());
    assert_eq!(r.header("connection"), Some("close"));

    let sessions = acs.wait_for_sessions(2, T).await.unwrap();
    assert_eq!(sessions.len(), 2);
    assert!(sessions.iter().all(|s| s.end == SessionEnd::Completed));
    let notes: Vec<_> = acs.exchanges().into_iter().filter_map(|e| e.note).collect();
    assert!(
        notes.iter().any(|n| n.contains("wrong Digest response")),
        "{notes:?}"
    );
    acs.shutdown().await;
}

#[tokio::test]
async fn basic_auth_and_unauthorized_failure() {
    let acs = ScriptedAcs::start(AcsConfig {
        auth: AcsAuth::Basic {
            username: "cpe".to_owned(),
            password: "pw".to_owned(),
        },
        ..AcsConfig::default()
    })
    .await
    .unwrap();
    acs.fail_next_sessions(1, Failure::Unauthorized);
    let good = "Basic Y3BlOnB3"; // cpe:pw
    let ns = CwmpNamespace::Cwmp12;

    let mut cpe = Cpe::connect(&acs).await;
    let r = cpe.post(Some(inform_text(ns, "i", &["1 BOOT"], 0))).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"GenieACS\"")
    );
    // Right credentials, but the injected failure answers 401 anyway.
    let r = cpe
        .try_post(Some(inform_text(ns, "i", &["1 BOOT"], 0)), Some(good))
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_some());

    let mut cpe = Cpe::connect(&acs).await;
    let r = cpe
        .try_post(Some(inform_text(ns, "i", &["1 BOOT"], 1)), Some(good))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(cpe.post(None).await.status, 204);

    let sessions = acs.wait_for_sessions(2, T).await.unwrap();
    assert_eq!(sessions[0].end, SessionEnd::Failed(Failure::Unauthorized));
    assert_eq!(sessions[1].end, SessionEnd::Completed);
    acs.shutdown().await;
}

// ------------------------------------------------------------------------------------------
// HTTPS
// ------------------------------------------------------------------------------------------

fn tls_client(ca_pem: &str, client: Option<(&str, &str)>) -> tokio_rustls::TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(cert.as_bytes())
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

async fn tls_cpe(acs: &ScriptedAcs, connector: &tokio_rustls::TlsConnector) -> Result<Cpe, String> {
    let tcp = TcpStream::connect(acs.addr())
        .await
        .map_err(|e| e.to_string())?;
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Cpe::over(
        tls,
        format!("localhost:{}", acs.addr().port()),
        "/acs".to_owned(),
    )
    .await)
}

#[tokio::test]
async fn https_with_the_test_pki() {
    let dir = tempfile::tempdir().unwrap();
    let pki = test_pki(dir.path()).unwrap();
    assert!(pki.ca_cert_pem_path.exists() && pki.client_key_pem_path.exists());

    let acs = ScriptedAcs::start(AcsConfig {
        tls: Some(pki.server_identity()),
        ..AcsConfig::default()
    })
    .await
    .unwrap();
    assert!(acs.url().starts_with("https://127.0.0.1:"));
    let mut cpe = tls_cpe(&acs, &tls_client(&pki.ca_cert_pem, None))
        .await
        .unwrap();
    let r = cpe
        .post(Some(inform_text(
            CwmpNamespace::Cwmp12,
            "i",
            &["0 BOOTSTRAP"],
            0,
        )))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(cpe.post(None).await.status, 204);
    let ex = acs.exchanges();
    assert!(ex[0].tls);
    assert!(!ex[0].client_certificate);
    acs.shutdown().await;
}

#[tokio::test]
async fn https_requiring_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = test_pki(dir.path()).unwrap();
    let acs = ScriptedAcs::start(AcsConfig {
        tls: Some(pki.server_identity_requiring_client_cert()),
        ..AcsConfig::default()
    })
    .await
    .unwrap();
    let inform = inform_text(CwmpNamespace::Cwmp12, "i", &["1 BOOT"], 0);

    // Without a client certificate: the handshake (or, in TLS 1.3, the first request) fails.
    let without = tls_client(&pki.ca_cert_pem, None);
    match tls_cpe(&acs, &without).await {
        Err(_) => {}
        Ok(mut cpe) => assert!(cpe.try_post(Some(inform.clone()), None).await.is_err()),
    }

    let with = tls_client(
        &pki.ca_cert_pem,
        Some((&pki.client_cert_pem, &pki.client_key_pem)),
    );
    let mut cpe = tls_cpe(&acs, &with).await.unwrap();
    assert_eq!(cpe.post(Some(inform)).await.status, 200);
    let ex = acs.exchanges();
    assert_eq!(ex.len(), 1);
    assert!(ex[0].client_certificate);
    assert!(
        !acs.connection_errors().is_empty(),
        "the refused handshake is logged"
    );
    acs.shutdown().await;
}

// ------------------------------------------------------------------------------------------
// Connection request
// ------------------------------------------------------------------------------------------

/// A CPE's connection-request server: Digest with qop="auth", an opaque, checks the answer.
async fn cr_server() -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<Option<String>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let tx = tx.clone();
                    async move {
                        let auth = req
                            .headers()
                            .get(header::AUTHORIZATION)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        let _ = tx.send(auth.clone());
                        let ok = auth.as_deref().is_some_and(|a| {
                            let Ok(parsed) = AuthorizationHeader::parse(a) else {
                                return false;
                            };
                            let mut expected = parsed.clone();
                            let ctx = AuthContext::new_with_method(
                                "acs",
                                "crpass",
                                parsed.uri.as_str(),
                                Option::<&[u8]>::None,
                                HttpMethod::GET,
                            );
                            expected.digest(&ctx);
                            parsed.nonce == "abc123" && expected.response == parsed.response
                        });
                        let mut resp = Response::new(Full::new(Bytes::new()));
                        if !ok {
                            *resp.status_mut() = StatusCode::UNAUTHORIZED;
                            resp.headers_mut().insert(
                                header::WWW_AUTHENTICATE,
                                "Digest realm=\"cpe\", qop=\"auth\", nonce=\"abc123\", opaque=\"op42\"".parse().unwrap(),
                            );
                        }
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn connection_request_with_digest() {
    let acs = ScriptedAcs::start(AcsConfig::default()).await.unwrap();
    let (addr, mut seen) = cr_server().await;
    let url = format!("http://{addr}/cr/xyz");

    let status = acs.connection_request(&url, "acs", "crpass").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        seen.recv().await.unwrap(),
        None,
        "first GET carries no credentials"
    );
    let auth = seen.recv().await.unwrap().expect("retry with credentials");
    assert!(
        auth.contains("qop=auth,") || auth.contains("qop=auth "),
        "qop unquoted: {auth}"
    );
    assert!(auth.contains("nc=00000001"), "{auth}");
    assert!(auth.contains("opaque=\"op42\""), "{auth}");
    assert!(auth.contains("uri=\"/cr/xyz\""), "{auth}");

    let status = acs.connection_request(&url, "acs", "wrong").await.unwrap();
    assert_eq!(status, 401);

    let log = acs.connection_requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].statuses, vec![401, 200]);
    assert_eq!(log[1].statuses, vec![401, 401]);

    // Nobody listening: an error, not a panic.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    assert!(
        acs.connection_request(&format!("http://{closed}/"), "a", "b")
            .await
            .is_err()
    );
    acs.shutdown().await;
}

#[tokio::test]
async fn settled_waits_for_the_open_session_which_would_take_what_is_queued() {
    // The race behind a flaky transfers test: counting `sessions()` while a TransferComplete
    // session was still open, then queueing; that open session took the request.
    let acs = ScriptedAcs::start(AcsConfig::default()).await.unwrap();
    let ns = CwmpNamespace::Cwmp12;
    let mut cpe = Cpe::connect(&acs).await;
    let r = cpe
        .post(Some(inform_text(ns, "i1", &["7 TRANSFER COMPLETE"], 0)))
        .await;
    assert_eq!(r.status, 200);
    assert!(
        acs.wait_settled(Duration::from_millis(300)).await.is_err(),
        "a session is open"
    );
    let counted_while_open = acs.sessions().len();
    acs.enqueue(AcsRequest::raw("GetRPCMethods", ""));
    let r = cpe.post(None).await;
    assert_eq!(method_of(&r.text()), "GetRPCMethods");
    let answer = raw(
        ns,
        "acs-1",
        "GetRPCMethodsResponse",
        "<MethodList soap-enc:arrayType=\"xsd:string[1]\"><string>Inform</string></MethodList>",
    );
    assert_eq!(cpe.post(Some(answer)).await.status, 204);
    let settled = acs.wait_settled(T).await.unwrap();
    assert_eq!(settled, 1);
    let sessions = acs.sessions();
    assert_eq!(
        sessions[..counted_while_open]
            .iter()
            .map(|s| s.acs_calls.len())
            .sum::<usize>(),
        1,
        "the request went to the session counted before it was queued"
    );
    acs.shutdown().await;
}
