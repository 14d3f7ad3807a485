//! Interop parsing tests: messages shaped like real ACSes send them, decoded through the public
//! API. GenieACS shapes follow its `lib/soap.ts` serialisers and /work/shared/spec/interop-genieacs.md;
//! the other shapes (other prefixes, default namespaces, pretty-printing, CRLF, BOM, comments)
//! are what other ACSes and SOAP stacks produce.

use tr069_client::cwmp::rpc::download::Download;
use tr069_client::cwmp::rpc::get_parameter_names::GetParameterNames;
use tr069_client::cwmp::rpc::get_parameter_values::{
    GetParameterValues, GetParameterValuesResponse,
};
use tr069_client::cwmp::rpc::inform::InformResponse;
use tr069_client::cwmp::rpc::set_parameter_attributes::SetParameterAttributes;
use tr069_client::cwmp::rpc::set_parameter_values::SetParameterValues;
use tr069_client::cwmp::rpc::transfer_complete::TransferComplete;
use tr069_client::cwmp::xml::XmlError;
use tr069_client::cwmp::*;

const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const SOAP_ENC: &str = "http://schemas.xmlsoap.org/soap/encoding/";
const XSD: &str = "http://www.w3.org/2001/XMLSchema";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Exactly what GenieACS writes: declaration, newline, the whole envelope on one line, all
/// prefixes on the Envelope, only `cwmp:ID` in the header.
fn genieacs(ns: &str, id: &str, body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap-env:Envelope xmlns:soap-enc=\"{SOAP_ENC}\" xmlns:soap-env=\"{SOAP_ENV}\" \
         xmlns:xsd=\"{XSD}\" xmlns:xsi=\"{XSI}\" xmlns:cwmp=\"{ns}\"><soap-env:Header><cwmp:ID soap-env:mustUnderstand=\"1\">{id}</cwmp:ID>\
         </soap-env:Header><soap-env:Body>{body}</soap-env:Body></soap-env:Envelope>"
    )
}

fn genieacs12(id: &str, body: &str) -> String {
    genieacs(CwmpNamespace::Cwmp12.uri(), id, body)
}

fn decode(text: &str) -> Result<Envelope, DecodeError> {
    Envelope::decode(text.as_bytes(), &Limits::default())
}

fn decode_ok(text: &str) -> Envelope {
    decode(text).unwrap_or_else(|e| panic!("{e:?}\n{text}"))
}

const GPV_BODY: &str = "<cwmp:GetParameterValues><ParameterNames soap-enc:arrayType=\"xsd:string[2]\">\
    <string>Device.DeviceInfo.</string><string>Device.ManagementServer.PeriodicInformInterval</string>\
    </ParameterNames></cwmp:GetParameterValues>";

fn expected_gpv() -> Body {
    Body::GetParameterValues(GetParameterValues {
        parameter_names: vec![
            "Device.DeviceInfo.".to_owned(),
            "Device.ManagementServer.PeriodicInformInterval".to_owned(),
        ],
    })
}

// ---------------------------------------------------------------------------------------------
// GenieACS

#[test]
fn genieacs_get_parameter_values() {
    let env = decode_ok(&genieacs12("abc123", GPV_BODY));
    assert_eq!(env.namespace, CwmpNamespace::Cwmp12);
    assert_eq!(env.header.id.as_deref(), Some("abc123"));
    assert_eq!(env.header.hold_requests, None);
    assert_eq!(env.body, expected_gpv());
}

#[test]
fn genieacs_set_parameter_values_with_and_without_xsi_type() {
    let body = "<cwmp:SetParameterValues><ParameterList soap-enc:arrayType=\"cwmp:ParameterValueStruct[5]\">\
        <ParameterValueStruct><Name>Device.ManagementServer.PeriodicInformInterval</Name><Value xsi:type=\"xsd:unsignedInt\">300</Value></ParameterValueStruct>\
        <ParameterValueStruct><Name>Device.WiFi.SSID.1.SSID</Name><Value>caf&#233; &amp; &lt;friends&gt; &quot;5G&quot; &apos;x&apos;</Value></ParameterValueStruct>\
        <ParameterValueStruct><Name>Device.WiFi.Radio.1.Enable</Name><Value xsi:type=\"xsd:boolean\">1</Value></ParameterValueStruct>\
        <ParameterValueStruct><Name>Device.WiFi.Radio.2.Enable</Name><Value xsi:type=\"xsd:boolean\">0</Value></ParameterValueStruct>\
        <ParameterValueStruct><Name>Device.Time.X_ACME_Next</Name><Value xsi:type=\"xsd:dateTime\">2026-11-22T01:00:00.123Z</Value></ParameterValueStruct>\
        </ParameterList><ParameterKey>key-1</ParameterKey></cwmp:SetParameterValues>";
    let env = decode_ok(&genieacs12("7", body));
    let Body::SetParameterValues(SetParameterValues {
        parameter_list,
        parameter_key,
    }) = env.body
    else {
        panic!("{:?}", env.body)
    };
    assert_eq!(parameter_key, "key-1");
    assert_eq!(parameter_list.len(), 5);
    assert_eq!(parameter_list[0].value, Value::unsigned_int(300));
    // No xsi:type: kept untyped (the data model's type applies), text unescaped.
    assert_eq!(
        parameter_list[1].value,
        Value::untyped("café & <friends> \"5G\" 'x'")
    );
    assert_eq!(
        parameter_list[1].value.typed(),
        Ok(TypedValue::String("café & <friends> \"5G\" 'x'".into()))
    );
    // Booleans 1/0.
    assert_eq!(
        parameter_list[2].value.typed(),
        Ok(TypedValue::Boolean(true))
    );
    assert_eq!(
        parameter_list[3].value.typed(),
        Ok(TypedValue::Boolean(false))
    );
    // dateTime with milliseconds.
    let Ok(TypedValue::DateTime(dt)) = parameter_list[4].value.typed() else {
        panic!("{:?}", parameter_list[4])
    };
    assert_eq!(dt.unix_seconds(), 1_795_309_200);
    assert_eq!(dt.nanos(), 123_000_000);
}

#[test]
fn genieacs_get_parameter_names_next_level_as_1_and_0() {
    for (bit, next_level) in [("1", true), ("0", false), ("true", true), ("false", false)] {
        let body = format!(
            "<cwmp:GetParameterNames><ParameterPath>Device.IP.Interface.</ParameterPath><NextLevel>{bit}</NextLevel></cwmp:GetParameterNames>"
        );
        let env = decode_ok(&genieacs12("1", &body));
        assert_eq!(
            env.body,
            Body::GetParameterNames(GetParameterNames {
                parameter_path: "Device.IP.Interface.".into(),
                next_level,
            })
        );
    }
}

#[test]
fn genieacs_set_parameter_attributes_with_empty_notification() {
    let body = "<cwmp:SetParameterAttributes><ParameterList soap-enc:arrayType=\"cwmp:SetParameterAttributesStruct[2]\">\
        <SetParameterAttributesStruct><Name>Device.DeviceInfo.SoftwareVersion</Name><NotificationChange>true</NotificationChange>\
        <Notification>2</Notification><AccessListChange>false</AccessListChange><AccessList soap-enc:arrayType=\"xsd:string[0]\"></AccessList></SetParameterAttributesStruct>\
        <SetParameterAttributesStruct><Name>Device.WiFi.SSID.1.SSID</Name><NotificationChange>false</NotificationChange>\
        <Notification></Notification><AccessListChange>true</AccessListChange><AccessList soap-enc:arrayType=\"xsd:string[1]\"><string>Subscriber</string></AccessList></SetParameterAttributesStruct>\
        </ParameterList></cwmp:SetParameterAttributes>";
    let env = decode_ok(&genieacs12("9", body));
    let Body::SetParameterAttributes(SetParameterAttributes { parameter_list }) = env.body else {
        panic!("{:?}", env.body)
    };
    assert_eq!(parameter_list.len(), 2);
    let (first, second) = (&parameter_list[0], &parameter_list[1]);
    assert_eq!(first.name, "Device.DeviceInfo.SoftwareVersion");
    assert!(first.notification_change);
    assert_eq!(first.notification, Some(2));
    assert!(!first.access_list_change);
    assert!(first.access_list.is_empty());
    assert!(!second.notification_change);
    assert_eq!(second.notification, None);
    assert!(second.access_list_change);
    assert_eq!(second.access_list, vec!["Subscriber".to_owned()]);
}

#[test]
fn genieacs_download_with_every_optional_element_empty() {
    let body = "<cwmp:Download><CommandKey>1a2b3c</CommandKey><FileType>1 Firmware Upgrade Image</FileType>\
        <URL>http://acs.example.net:7567/fw-2.1.bin</URL><Username></Username><Password></Password><FileSize>0</FileSize>\
        <TargetFileName></TargetFileName><DelaySeconds>0</DelaySeconds><SuccessURL></SuccessURL><FailureURL></FailureURL></cwmp:Download>";
    let env = decode_ok(&genieacs12("1a2b3c", body));
    assert_eq!(
        env.body,
        Body::Download(Download {
            command_key: "1a2b3c".into(),
            file_type: "1 Firmware Upgrade Image".into(),
            url: "http://acs.example.net:7567/fw-2.1.bin".into(),
            username: String::new(),
            password: String::new(),
            file_size: 0,
            target_file_name: String::new(),
            delay_seconds: 0,
            success_url: String::new(),
            failure_url: String::new(),
        })
    );
    assert_eq!(env.header.id.as_deref(), Some("1a2b3c"));
}

#[test]
fn genieacs_inform_response_and_hold_requests() {
    let env = decode_ok(&genieacs12(
        "1",
        "<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse>",
    ));
    assert_eq!(
        env.body,
        Body::InformResponse(InformResponse { max_envelopes: 1 })
    );
    // A standards-following ACS holding the CPE's requests.
    let text = genieacs12(
        "1",
        "<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse>",
    )
    .replace(
        "</cwmp:ID>",
        "</cwmp:ID><cwmp:HoldRequests soap-env:mustUnderstand=\"1\">true</cwmp:HoldRequests>",
    );
    let env = decode_ok(&text);
    assert_eq!(env.header.hold_requests, Some(true));
    assert_eq!(env.header.id.as_deref(), Some("1"));
}

#[test]
fn lower_case_session_timeout_header() {
    let text = genieacs12(
        "1",
        "<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse>",
    )
    .replace(
        "</cwmp:ID>",
        "</cwmp:ID><cwmp:sessionTimeout>60</cwmp:sessionTimeout>",
    );
    assert_eq!(decode_ok(&text).header.session_timeout, Some(60));
    let text = text.replace("sessionTimeout", "SessionTimeout");
    assert_eq!(decode_ok(&text).header.session_timeout, Some(60));
}

#[test]
fn genieacs_body_colon_fault() {
    for (code, name) in [
        (8000, FaultCode::AcsMethodNotSupported),
        (8005, FaultCode::RetryRequest),
    ] {
        let body = format!(
            "<soap-env:Body:Fault><faultcode>Server</faultcode><faultstring>CWMP fault</faultstring><detail><cwmp:Fault>\
             <FaultCode>{code}</FaultCode><FaultString>{}</FaultString></cwmp:Fault></detail></soap-env:Body:Fault>",
            name.name()
        );
        let env = decode_ok(&genieacs12("42", &body));
        assert_eq!(env.header.id.as_deref(), Some("42"));
        assert_eq!(env.namespace, CwmpNamespace::Cwmp12);
        let Body::Fault(fault) = env.body else {
            panic!("{:?}", env.body)
        };
        assert_eq!(fault.soap_faultcode, "Server");
        assert_eq!(fault.soap_faultstring, "CWMP fault");
        assert_eq!(fault.code, code);
        assert_eq!(fault.fault_code(), Some(name));
        assert_eq!(fault.string, name.name());
    }
}

#[test]
fn standard_fault_from_a_strict_acs() {
    let body = "<SOAP-ENV:Fault><faultcode>SOAP-ENV:Server</faultcode><faultstring>CWMP fault</faultstring><detail>\
        <cwmp:Fault><FaultCode>8002</FaultCode><FaultString>Internal error</FaultString></cwmp:Fault></detail></SOAP-ENV:Fault>";
    let text = genieacs12("1", body).replace("soap-env", "SOAP-ENV");
    let Body::Fault(fault) = decode_ok(&text).body else {
        panic!()
    };
    assert_eq!(fault.fault_code(), Some(FaultCode::AcsInternalError));
}

// ---------------------------------------------------------------------------------------------
// Namespaces and prefixes

#[test]
fn every_cwmp_namespace_is_reported_and_answered_in_kind() {
    for ns in CwmpNamespace::ALL {
        let env = decode_ok(&genieacs(ns.uri(), "ns-test", GPV_BODY));
        assert_eq!(env.namespace, ns, "{}", ns.uri());
        assert_eq!(env.body, expected_gpv());
        let answer = Envelope::new(
            env.namespace,
            Header::with_id(env.header.id.clone().unwrap()),
            GetParameterValuesResponse {
                parameter_list: vec![ParameterValueStruct::new(
                    "Device.DeviceInfo.UpTime",
                    Value::unsigned_int(42),
                )],
            },
        )
        .encode();
        assert!(
            answer.contains(&format!("xmlns:cwmp=\"{}\"", ns.uri())),
            "{answer}"
        );
        for other in CwmpNamespace::ALL.into_iter().filter(|o| *o != ns) {
            assert!(!answer.contains(other.uri()), "{answer}");
        }
        let back = decode_ok(&answer);
        assert_eq!(back.namespace, ns);
        assert_eq!(back.header.id.as_deref(), Some("ns-test"));
    }
}

#[test]
fn any_envelope_prefix() {
    for prefix in ["SOAP-ENV", "soapenv", "soap", "s", "soap_env", "env"] {
        let text = genieacs12("p", GPV_BODY).replace("soap-env", prefix);
        let env = decode_ok(&text);
        assert_eq!(env.body, expected_gpv(), "{prefix}");
        assert_eq!(env.header.id.as_deref(), Some("p"), "{prefix}");
    }
    // Other names for the cwmp and encoding prefixes, too.
    let text = genieacs12("p", GPV_BODY)
        .replace("cwmp:", "c:")
        .replace("xmlns:cwmp", "xmlns:c")
        .replace("soap-enc", "SOAP-ENC");
    assert_eq!(decode_ok(&text).body, expected_gpv());
}

#[test]
fn cwmp_declared_on_the_method_element() {
    let text = format!(
        "<soap:Envelope xmlns:soap=\"{SOAP_ENV}\" xmlns:soapenc=\"{SOAP_ENC}\"><soap:Header>\
         <cwmp:ID xmlns:cwmp=\"urn:dslforum-org:cwmp-1-0\" soap:mustUnderstand=\"1\">h1</cwmp:ID></soap:Header><soap:Body>\
         <cwmp:GetParameterValues xmlns:cwmp=\"urn:dslforum-org:cwmp-1-0\"><ParameterNames soapenc:arrayType=\"xsd:string[2]\">\
         <string>Device.DeviceInfo.</string><string>Device.ManagementServer.PeriodicInformInterval</string>\
         </ParameterNames></cwmp:GetParameterValues></soap:Body></soap:Envelope>"
    );
    let env = decode_ok(&text);
    assert_eq!(env.namespace, CwmpNamespace::Cwmp10);
    assert_eq!(env.header.id.as_deref(), Some("h1"));
    assert_eq!(env.body, expected_gpv());
}

#[test]
fn default_namespaces() {
    let text = format!(
        "<Envelope xmlns=\"{SOAP_ENV}\"><Header><ID xmlns=\"urn:dslforum-org:cwmp-1-1\" mustUnderstand=\"1\">d1</ID></Header>\
         <Body><GetParameterValues xmlns=\"urn:dslforum-org:cwmp-1-1\"><ParameterNames xmlns:enc=\"{SOAP_ENC}\" enc:arrayType=\"xsd:string[2]\">\
         <string>Device.DeviceInfo.</string><string>Device.ManagementServer.PeriodicInformInterval</string>\
         </ParameterNames></GetParameterValues></Body></Envelope>"
    );
    let env = decode_ok(&text);
    assert_eq!(env.namespace, CwmpNamespace::Cwmp11);
    assert_eq!(env.header.id.as_deref(), Some("d1"));
    assert_eq!(env.body, expected_gpv());
}

// ---------------------------------------------------------------------------------------------
// Layout: pretty-printing, CRLF, comments, BOM

const PRETTY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- generated by an ACS that pretty-prints -->
<SOAP-ENV:Envelope
    xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:SOAP-ENC="http://schemas.xmlsoap.org/soap/encoding/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:cwmp="urn:dslforum-org:cwmp-1-2">
  <SOAP-ENV:Header>
    <cwmp:ID SOAP-ENV:mustUnderstand="1">
      pretty-1
    </cwmp:ID>
  </SOAP-ENV:Header>
  <SOAP-ENV:Body>
    <!-- the request -->
    <cwmp:SetParameterValues>
      <ParameterList SOAP-ENC:arrayType="cwmp:ParameterValueStruct[2]">
        <ParameterValueStruct>
          <Name>
            Device.ManagementServer.PeriodicInformInterval
          </Name>
          <Value xsi:type="xsd:unsignedInt">600</Value>
        </ParameterValueStruct>
        <!-- a commented-out <ParameterValueStruct> -->
        <ParameterValueStruct>
          <Name>Device.DeviceInfo.ProvisioningCode</Name>
          <Value xsi:type="xsd:string">  two  spaces  </Value>
        </ParameterValueStruct>
      </ParameterList>
      <ParameterKey>
        pk
      </ParameterKey>
    </cwmp:SetParameterValues>
  </SOAP-ENV:Body>
</SOAP-ENV:Envelope>
"#;

fn check_pretty(env: &Envelope) {
    assert_eq!(env.header.id.as_deref(), Some("pretty-1"));
    assert_eq!(env.namespace, CwmpNamespace::Cwmp12);
    let Body::SetParameterValues(spv) = &env.body else {
        panic!("{:?}", env.body)
    };
    assert_eq!(spv.parameter_key, "pk");
    assert_eq!(spv.parameter_list.len(), 2);
    assert_eq!(
        spv.parameter_list[0].name,
        "Device.ManagementServer.PeriodicInformInterval"
    );
    assert_eq!(spv.parameter_list[0].value, Value::unsigned_int(600));
    // Values are data: their whitespace is kept.
    assert_eq!(spv.parameter_list[1].value.text, "  two  spaces  ");
}

#[test]
fn pretty_printed_with_comments() {
    check_pretty(&decode_ok(PRETTY));
}

#[test]
fn crlf_line_endings() {
    check_pretty(&decode_ok(&PRETTY.replace('\n', "\r\n")));
}

#[test]
fn utf8_byte_order_mark() {
    check_pretty(&decode_ok(&format!("\u{feff}{PRETTY}")));
    check_pretty(&decode_ok(&format!(
        "\u{feff}{}",
        PRETTY.replace('\n', "\r\n")
    )));
}

#[test]
fn transfer_complete_times_with_milliseconds() {
    // The other direction, as an ACS test harness would read it.
    let body = "<cwmp:TransferComplete><CommandKey>dl-1</CommandKey><FaultStruct><FaultCode>0</FaultCode><FaultString></FaultString></FaultStruct>\
        <StartTime>2026-11-22T01:00:00.123Z</StartTime><CompleteTime>2026-11-22T01:00:05.5+01:00</CompleteTime></cwmp:TransferComplete>";
    let Body::TransferComplete(TransferComplete {
        start_time,
        complete_time,
        ..
    }) = decode_ok(&genieacs12("1", body)).body
    else {
        panic!()
    };
    assert_eq!(start_time.unix_millis(), 1_795_309_200_123);
    assert_eq!(
        complete_time.unix_millis(),
        1_795_309_200_000 + 5_500 - 3_600_000
    );
    assert_eq!(start_time.to_string(), "2026-11-22T01:00:00.123Z");
}

// ---------------------------------------------------------------------------------------------
// Strictness

#[test]
fn unknown_method_is_fault_9000_echoing_the_id() {
    let text = genieacs12(
        "unk-7",
        "<cwmp:X_ACME_Frobnicate><Level>3</Level></cwmp:X_ACME_Frobnicate>",
    );
    let err = decode(&text).unwrap_err();
    assert_eq!(
        err.kind,
        DecodeErrorKind::UnknownMethod("X_ACME_Frobnicate".into())
    );
    assert_eq!(err.id.as_deref(), Some("unk-7"));
    assert_eq!(err.fault().code, 9000);
    assert_eq!(
        err.fault().fault_code(),
        Some(FaultCode::MethodNotSupported)
    );
    let reply = err.fault_envelope(CwmpNamespace::Cwmp12);
    assert_eq!(reply.header.id.as_deref(), Some("unk-7"));
    assert_eq!(reply.namespace, CwmpNamespace::Cwmp12);
    let wire = reply.encode();
    let back = decode_ok(&wire);
    assert_eq!(back.header.id.as_deref(), Some("unk-7"));
    let Body::Fault(f) = back.body else {
        panic!("{wire}")
    };
    assert_eq!(f.code, 9000);
    assert_eq!(f.soap_faultcode, "Server");
}

#[test]
fn unknown_method_in_an_old_namespace_is_answered_in_it() {
    let text = genieacs(
        CwmpNamespace::Cwmp10.uri(),
        "u",
        "<cwmp:SetVouchers><VoucherList/></cwmp:SetVouchers>",
    );
    let err = decode(&text).unwrap_err();
    assert_eq!(err.fault().code, 9000);
    let wire = err.fault_envelope(CwmpNamespace::Cwmp12).encode();
    assert!(wire.contains(CwmpNamespace::Cwmp10.uri()), "{wire}");
}

#[test]
fn malformed_arguments_are_fault_9003() {
    let cases = [
        // Not a boolean.
        "<cwmp:GetParameterNames><ParameterPath>Device.</ParameterPath><NextLevel>yes</NextLevel></cwmp:GetParameterNames>",
        // Missing required argument.
        "<cwmp:GetParameterNames><ParameterPath>Device.</ParameterPath></cwmp:GetParameterNames>",
        // Not a number.
        "<cwmp:Download><CommandKey/><FileType>1 Firmware Upgrade Image</FileType><URL>http://x/</URL><Username/><Password/>\
         <FileSize>big</FileSize><TargetFileName/><DelaySeconds>0</DelaySeconds><SuccessURL/><FailureURL/></cwmp:Download>",
        // Negative unsignedInt.
        "<cwmp:Download><CommandKey/><FileType>1 Firmware Upgrade Image</FileType><URL>http://x/</URL><Username/><Password/>\
         <FileSize>0</FileSize><TargetFileName/><DelaySeconds>-5</DelaySeconds><SuccessURL/><FailureURL/></cwmp:Download>",
        // Not a dateTime.
        "<cwmp:TransferComplete><CommandKey>k</CommandKey><FaultStruct><FaultCode>0</FaultCode><FaultString/></FaultStruct>\
         <StartTime>22/11/2026</StartTime><CompleteTime/></cwmp:TransferComplete>",
        // CommandKey longer than 32 characters.
        "<cwmp:TransferComplete><CommandKey>0123456789012345678901234567890123</CommandKey><FaultStruct><FaultCode>0</FaultCode>\
         <FaultString/></FaultStruct></cwmp:TransferComplete>",
    ];
    for body in cases {
        let err = decode(&genieacs12("bad", body)).unwrap_err();
        assert!(
            matches!(err.kind, DecodeErrorKind::InvalidArguments { .. }),
            "{err:?}"
        );
        assert_eq!(err.fault().code, 9003, "{body}");
        assert_eq!(err.fault().soap_faultcode, "Client");
        assert_eq!(
            err.fault_envelope(CwmpNamespace::Cwmp12)
                .header
                .id
                .as_deref(),
            Some("bad")
        );
    }
}

#[test]
fn oversized_input_is_refused() {
    // Default limit: 4 MiB.
    assert_eq!(Limits::default().max_bytes, 4 * 1024 * 1024);
    let big = genieacs12(
        "big",
        &format!("{GPV_BODY}<!--{}-->", "x".repeat(4 * 1024 * 1024)),
    );
    let err = decode(&big).unwrap_err();
    assert!(
        matches!(err.kind, DecodeErrorKind::Xml(XmlError::TooLarge { .. })),
        "{:?}",
        err.kind
    );
    assert_eq!(err.fault().code, 9004);
    // A custom limit.
    let text = genieacs12("1", GPV_BODY);
    let limits = Limits {
        max_bytes: text.len() - 1,
        ..Limits::default()
    };
    assert!(matches!(
        Envelope::decode(text.as_bytes(), &limits).unwrap_err().kind,
        DecodeErrorKind::Xml(XmlError::TooLarge { .. })
    ));
    let limits = Limits {
        max_bytes: text.len(),
        ..Limits::default()
    };
    assert!(Envelope::decode(text.as_bytes(), &limits).is_ok());
}

#[test]
fn hostile_and_broken_input_is_an_error_never_a_panic() {
    let good = genieacs12("1", GPV_BODY);
    let bomb = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\
        <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>\
        <soap-env:Envelope xmlns:soap-env=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap-env:Body><x>&lol3;</x></soap-env:Body></soap-env:Envelope>";
    let deep = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
    let deep_in_body = good.replace(
        GPV_BODY,
        &format!("{}{}", "<a>".repeat(200), "</a>".repeat(200)),
    );
    let cases: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("not XML", "HTTP/1.1 200 OK\r\n\r\nhello".into()),
        ("JSON", "{\"method\":\"GetParameterValues\"}".into()),
        ("truncated", good[..good.len() / 2].to_owned()),
        ("truncated at the end", good[..good.len() - 1].to_owned()),
        ("entity bomb", bomb.into()),
        (
            "external entity",
            "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>".into(),
        ),
        ("deep nesting", deep),
        ("deep nesting in the body", deep_in_body),
        (
            "mismatched tags",
            good.replace("</soap-env:Body>", "</soap-env:Bdy>"),
        ),
        (
            "not SOAP",
            "<Envelope><Body><GetRPCMethods/></Body></Envelope>".replace("Envelope>", "Envelop>"),
        ),
        ("empty body", genieacs12("1", "")),
        (
            "no body",
            good.replace("<soap-env:Body>", "")
                .replace("</soap-env:Body>", ""),
        ),
        (
            "wrong envelope namespace",
            good.replace(SOAP_ENV, "http://www.w3.org/2003/05/soap-envelope"),
        ),
        (
            "undefined entity",
            genieacs12(
                "1",
                "<cwmp:Reboot><CommandKey>&nbsp;</CommandKey></cwmp:Reboot>",
            ),
        ),
        (
            "NUL char ref",
            genieacs12(
                "1",
                "<cwmp:Reboot><CommandKey>&#0;</CommandKey></cwmp:Reboot>",
            ),
        ),
    ];
    for (label, text) in &cases {
        assert!(decode(text).is_err(), "{label} should not decode");
    }
    let mut bytes = good.clone().into_bytes();
    bytes[60] = 0xff;
    assert!(
        Envelope::decode(&bytes, &Limits::default()).is_err(),
        "invalid UTF-8"
    );
    // Every prefix of a valid message: errors only, no panic.
    for end in 0..good.len() {
        if good.is_char_boundary(end) {
            let _ = decode(&good[..end]);
        }
    }
}
