//! Self-test of the offline XML-Schema conformance harness (tests/support/xsd.rs).
//!
//! Uses hand-written SOAP envelopes, not the codec: the valid ones prove the schema set (local
//! SOAP envelope/encoding schemas + BBF cwmp-1-*.xsd via the catalog) loads and accepts correct
//! messages; the invalid ones prove the harness can fail, in particular that Body/Header/detail
//! children are validated strictly. The `finding_*` tests pin down facts the codec authors rely
//! on (xsi:type spellings, dateTime forms, header rules per version, ...).
//!
//! Needs xmllint: without it each validating test prints `SKIPPED ...` and passes, except under
//! `TR069_TEST_STRICT=1` (CI), where that is a failure.

#[path = "support/xsd.rs"]
mod xsd;

use xsd::SchemaVersion::{self, Cwmp10, Cwmp12, Cwmp14};

/// A SOAP envelope with the usual TR-069 prefixes. `header` = None omits soap-env:Header.
fn envelope(version: SchemaVersion, header: Option<&str>, body: &str) -> String {
    let header = match header {
        Some(h) => format!("  <soap-env:Header>\n    {h}\n  </soap-env:Header>\n"),
        None => String::new(),
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:soap-enc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:cwmp="{ns}">
{header}  <soap-env:Body>
    {body}
  </soap-env:Body>
</soap-env:Envelope>
"#,
        ns = version.namespace()
    )
}

const ID_HEADER: &str = r#"<cwmp:ID soap-env:mustUnderstand="1">1234</cwmp:ID>"#;

fn id_envelope(version: SchemaVersion, body: &str) -> String {
    envelope(version, Some(ID_HEADER), body)
}

/// A fully populated Inform. `retry_count` = false drops the required RetryCount;
/// `event_array_type` = false drops soap-enc:arrayType from the Event array.
fn inform_body(retry_count: bool, event_array_type: bool) -> String {
    let event_attr = if event_array_type {
        r#" soap-enc:arrayType="cwmp:EventStruct[2]""#
    } else {
        ""
    };
    let retry = if retry_count {
        "<RetryCount>3</RetryCount>"
    } else {
        ""
    };
    format!(
        r#"<cwmp:Inform>
      <DeviceId>
        <Manufacturer>Example Networks</Manufacturer>
        <OUI>00D09E</OUI>
        <ProductClass>HomeRouter</ProductClass>
        <SerialNumber>SN-0001</SerialNumber>
      </DeviceId>
      <Event{event_attr}>
        <EventStruct><EventCode>1 BOOT</EventCode><CommandKey></CommandKey></EventStruct>
        <EventStruct><EventCode>M Reboot</EventCode><CommandKey>reboot-42</CommandKey></EventStruct>
      </Event>
      <MaxEnvelopes>1</MaxEnvelopes>
      <CurrentTime>2024-05-06T07:08:09Z</CurrentTime>
      {retry}
      <ParameterList soap-enc:arrayType="cwmp:ParameterValueStruct[3]">
        <ParameterValueStruct>
          <Name>InternetGatewayDevice.DeviceInfo.SoftwareVersion</Name>
          <Value xsi:type="xsd:string">1.2.3 &amp; &lt;beta&gt;</Value>
        </ParameterValueStruct>
        <ParameterValueStruct>
          <Name>InternetGatewayDevice.ManagementServer.PeriodicInformInterval</Name>
          <Value xsi:type="xsd:unsignedInt">86400</Value>
        </ParameterValueStruct>
        <ParameterValueStruct>
          <Name>InternetGatewayDevice.ManagementServer.ConnectionRequestURL</Name>
          <Value xsi:type="xsd:string">http://192.0.2.1:7547/cr</Value>
        </ParameterValueStruct>
      </ParameterList>
    </cwmp:Inform>"#
    )
}

fn gpv_response_body() -> &'static str {
    r#"<cwmp:GetParameterValuesResponse>
      <ParameterList soap-enc:arrayType="cwmp:ParameterValueStruct[5]">
        <ParameterValueStruct><Name>Device.DeviceInfo.UpTime</Name><Value xsi:type="xsd:unsignedInt">3600</Value></ParameterValueStruct>
        <ParameterValueStruct><Name>Device.DeviceInfo.Manufacturer</Name><Value xsi:type="xsd:string">Example</Value></ParameterValueStruct>
        <ParameterValueStruct><Name>Device.ManagementServer.PeriodicInformEnable</Name><Value xsi:type="xsd:boolean">true</Value></ParameterValueStruct>
        <ParameterValueStruct><Name>Device.ManagementServer.PeriodicInformTime</Name><Value xsi:type="xsd:dateTime">0001-01-01T00:00:00Z</Value></ParameterValueStruct>
        <ParameterValueStruct><Name>Device.Foo.Int</Name><Value xsi:type="xsd:int">-5</Value></ParameterValueStruct>
      </ParameterList>
    </cwmp:GetParameterValuesResponse>"#
}

fn fault_body(detail: &str) -> String {
    format!(
        r#"<soap-env:Fault>
      <faultcode>Client</faultcode>
      <faultstring>CWMP fault</faultstring>
      <detail>
        {detail}
      </detail>
    </soap-env:Fault>"#
    )
}

const SPV_FAULT_DETAIL: &str = r#"<cwmp:Fault>
          <FaultCode>9003</FaultCode>
          <FaultString>Invalid arguments</FaultString>
          <SetParameterValuesFault>
            <ParameterName>Device.ManagementServer.PeriodicInformInterval</ParameterName>
            <FaultCode>9007</FaultCode>
            <FaultString>Invalid parameter value</FaultString>
          </SetParameterValuesFault>
          <SetParameterValuesFault>
            <ParameterName>Device.DeviceInfo.Manufacturer</ParameterName>
            <FaultCode>9008</FaultCode>
            <FaultString>Attempt to set a non-writable parameter</FaultString>
          </SetParameterValuesFault>
        </cwmp:Fault>"#;

fn transfer_complete_body(fault_code: u32, fault_string: &str, start: &str, end: &str) -> String {
    format!(
        r#"<cwmp:TransferComplete>
      <CommandKey>download-7</CommandKey>
      <FaultStruct><FaultCode>{fault_code}</FaultCode><FaultString>{fault_string}</FaultString></FaultStruct>
      <StartTime>{start}</StartTime>
      <CompleteTime>{end}</CompleteTime>
    </cwmp:TransferComplete>"#
    )
}

/// A GetParameterValuesResponse carrying one Value with the given xsi:type (None = no xsi:type).
fn value_envelope(version: SchemaVersion, xsi_type: Option<&str>, value: &str) -> String {
    let attr = xsi_type
        .map(|t| format!(r#" xsi:type="{t}""#))
        .unwrap_or_default();
    id_envelope(
        version,
        &format!(
            r#"<cwmp:GetParameterValuesResponse><ParameterList soap-enc:arrayType="cwmp:ParameterValueStruct[1]"><ParameterValueStruct><Name>Device.X</Name><Value{attr}>{value}</Value></ParameterValueStruct></ParameterList></cwmp:GetParameterValuesResponse>"#
        ),
    )
}

const INFORM_RESPONSE: &str =
    "<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse>";

#[track_caller]
fn assert_fails_with(xml: &str, version: SchemaVersion, needle: &str) {
    let err = xsd::assert_invalid(xml, version);
    assert!(
        err.contains(needle),
        "expected {needle:?} in xmllint output:\n{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// The harness itself
// ---------------------------------------------------------------------------------------------

#[test]
fn schema_files_are_where_the_helper_expects_them() {
    for v in SchemaVersion::ALL {
        assert!(
            xsd::bbf_dir().join(v.xsd_file()).is_file(),
            "{}",
            v.xsd_file()
        );
        assert!(
            xsd::xsd_dir().join(v.driver_file()).is_file(),
            "{}",
            v.driver_file()
        );
    }
    for f in ["soap-envelope.xsd", "soap-encoding.xsd", "catalog.xml"] {
        assert!(xsd::xsd_dir().join(f).is_file(), "{f}");
    }
}

// ---------------------------------------------------------------------------------------------
// Valid messages
// ---------------------------------------------------------------------------------------------

#[test]
fn valid_inform_1_0() {
    if !xsd::require_xmllint() {
        return;
    }
    xsd::assert_valid(&id_envelope(Cwmp10, &inform_body(true, true)), Cwmp10);
}

#[test]
fn valid_inform_in_every_version() {
    if !xsd::require_xmllint() {
        return;
    }
    for v in SchemaVersion::ALL {
        xsd::assert_valid(&id_envelope(v, &inform_body(true, true)), v);
    }
}

#[test]
fn valid_get_parameter_values_response_1_2() {
    if !xsd::require_xmllint() {
        return;
    }
    xsd::assert_valid(&id_envelope(Cwmp12, gpv_response_body()), Cwmp12);
    xsd::assert_valid(&id_envelope(Cwmp14, gpv_response_body()), Cwmp14);
}

#[test]
fn valid_soap_fault_with_set_parameter_values_fault() {
    if !xsd::require_xmllint() {
        return;
    }
    for v in SchemaVersion::ALL {
        xsd::assert_valid(&id_envelope(v, &fault_body(SPV_FAULT_DETAIL)), v);
    }
}

#[test]
fn valid_transfer_complete() {
    if !xsd::require_xmllint() {
        return;
    }
    for v in SchemaVersion::ALL {
        // Success: FaultCode 0 with an empty FaultString (FaultString is required, even empty).
        let ok = transfer_complete_body(0, "", "2024-05-06T07:08:09Z", "2024-05-06T07:09:10Z");
        xsd::assert_valid(&id_envelope(v, &ok), v);
        // Failure with the "unknown time" value.
        let failed = transfer_complete_body(
            9010,
            "Download failure",
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00Z",
        );
        xsd::assert_valid(&id_envelope(v, &failed), v);
    }
}

#[test]
fn valid_messages_without_header_and_with_empty_body() {
    if !xsd::require_xmllint() {
        return;
    }
    for v in SchemaVersion::ALL {
        xsd::assert_valid(&envelope(v, None, INFORM_RESPONSE), v);
        xsd::assert_valid(&envelope(v, Some(""), ""), v);
    }
}

// ---------------------------------------------------------------------------------------------
// Invalid messages: these prove the harness can fail
// ---------------------------------------------------------------------------------------------

#[test]
fn rejects_misspelled_method_element() {
    if !xsd::require_xmllint() {
        return;
    }
    let xml = id_envelope(
        Cwmp10,
        &inform_body(true, true).replace("cwmp:Inform>", "cwmp:Inforn>"),
    );
    assert_fails_with(&xml, Cwmp10, "No matching global element declaration");
    let xml = id_envelope(Cwmp12, "<cwmp:GetParameterValuesResponses/>");
    assert_fails_with(&xml, Cwmp12, "No matching global element declaration");
}

#[test]
fn rejects_inform_without_retry_count() {
    if !xsd::require_xmllint() {
        return;
    }
    for v in SchemaVersion::ALL {
        let xml = id_envelope(v, &inform_body(false, true));
        assert_fails_with(&xml, v, "Expected is ( RetryCount )");
    }
}

#[test]
fn rejects_array_without_array_type() {
    if !xsd::require_xmllint() {
        return;
    }
    for v in SchemaVersion::ALL {
        let xml = id_envelope(v, &inform_body(true, false));
        assert_fails_with(&xml, v, "arrayType' is required but missing");
    }
}

#[test]
fn rejects_unknown_element_in_fault_detail() {
    if !xsd::require_xmllint() {
        return;
    }
    for v in SchemaVersion::ALL {
        let xml = id_envelope(
            v,
            &fault_body("<cwmp:FaultDetails><Code>1</Code></cwmp:FaultDetails>"),
        );
        assert_fails_with(&xml, v, "No matching global element declaration");
        // Unqualified elements are not allowed in detail either.
        let xml = id_envelope(v, &fault_body("<Fault><FaultCode>9000</FaultCode></Fault>"));
        xsd::assert_invalid(&xml, v);
        // ... nor unknown children inside cwmp:Fault.
        let bad = SPV_FAULT_DETAIL.replace("</cwmp:Fault>", "<Extra/></cwmp:Fault>");
        xsd::assert_invalid(&id_envelope(v, &fault_body(&bad)), v);
    }
}

#[test]
fn rejects_unqualified_or_wrong_namespace_method() {
    if !xsd::require_xmllint() {
        return;
    }
    // No namespace on the method element.
    let xml = id_envelope(
        Cwmp10,
        "<InformResponse><MaxEnvelopes>1</MaxEnvelopes></InformResponse>",
    );
    xsd::assert_invalid(&xml, Cwmp10);
    // A 1-2 message checked against the 1-0 schema (and vice versa).
    xsd::assert_invalid(&id_envelope(Cwmp12, INFORM_RESPONSE), Cwmp10);
    xsd::assert_invalid(&id_envelope(Cwmp10, INFORM_RESPONSE), Cwmp12);
}

#[test]
fn rejects_unknown_header_element() {
    if !xsd::require_xmllint() {
        return;
    }
    for v in SchemaVersion::ALL {
        let xml = envelope(
            v,
            Some("<cwmp:NoSuchHeader>1</cwmp:NoSuchHeader>"),
            INFORM_RESPONSE,
        );
        assert_fails_with(&xml, v, "No matching global element declaration");
    }
}

#[test]
fn rejects_wrong_element_order_and_bad_values() {
    if !xsd::require_xmllint() {
        return;
    }
    let swapped = inform_body(true, true).replace(
        "<CurrentTime>2024-05-06T07:08:09Z</CurrentTime>\n      <RetryCount>3</RetryCount>",
        "<RetryCount>3</RetryCount><CurrentTime>2024-05-06T07:08:09Z</CurrentTime>",
    );
    assert_ne!(swapped, inform_body(true, true));
    xsd::assert_invalid(&id_envelope(Cwmp10, &swapped), Cwmp10);
    // OUI must be 6 upper-case hex digits.
    let lower = inform_body(true, true).replace("00D09E", "00d09e");
    xsd::assert_invalid(&id_envelope(Cwmp12, &lower), Cwmp12);
    // xsi:type="xsd:unsignedInt" is checked against the value.
    xsd::assert_invalid(
        &value_envelope(Cwmp12, Some("xsd:unsignedInt"), "-1"),
        Cwmp12,
    );
}

#[test]
fn not_well_formed_xml_is_a_failure() {
    if !xsd::require_xmllint() {
        return;
    }
    let xml = id_envelope(
        Cwmp10,
        "<cwmp:InformResponse><MaxEnvelopes>1</cwmp:InformResponse>",
    );
    xsd::assert_invalid(&xml, Cwmp10);
}

#[test]
fn validate_many_maps_failures_to_labels() {
    if !xsd::require_xmllint() {
        return;
    }
    let msgs = vec![
        (
            "ok-inform".to_string(),
            id_envelope(Cwmp10, &inform_body(true, true)),
        ),
        (
            "bad-no-retry".to_string(),
            id_envelope(
                Cwmp10,
                &inform_body(true, true).replace("<RetryCount>3</RetryCount>", ""),
            ),
        ),
        (
            "ok-fault".to_string(),
            id_envelope(Cwmp10, &fault_body(SPV_FAULT_DETAIL)),
        ),
        (
            "bad-inforn".to_string(),
            id_envelope(
                Cwmp10,
                &inform_body(true, true).replace("cwmp:Inform>", "cwmp:Inforn>"),
            ),
        ),
        ("bad-not-xml".to_string(), "<soap-env:Envelope".to_string()),
        (
            "ok-response".to_string(),
            id_envelope(Cwmp10, INFORM_RESPONSE),
        ),
    ];
    let failures = xsd::validate_many(&msgs, Cwmp10);
    let labels: Vec<&str> = failures.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        labels,
        ["bad-no-retry", "bad-inforn", "bad-not-xml"],
        "{}",
        xsd::format_failures(&failures)
    );
    assert!(failures[0].1.contains("RetryCount"), "{}", failures[0].1);
    assert!(failures[1].1.contains("Inforn"), "{}", failures[1].1);
    // Diagnostics name the label, not the temp file.
    assert!(failures[0].1.contains("bad-no-retry"), "{}", failures[0].1);
    assert!(!failures[0].1.contains("msg-0"), "{}", failures[0].1);

    // Many messages in one go (exercises batching).
    let many: Vec<(String, String)> = (0..300)
        .map(|i| (format!("m{i}"), id_envelope(Cwmp12, INFORM_RESPONSE)))
        .collect();
    let failures = xsd::validate_many(&many, Cwmp12);
    assert!(failures.is_empty(), "{}", xsd::format_failures(&failures));
}

// ---------------------------------------------------------------------------------------------
// Findings for the codec authors (what the schemas accept / reject)
// ---------------------------------------------------------------------------------------------

#[test]
fn finding_base64_xsi_type_spelling() {
    if !xsd::require_xmllint() {
        return;
    }
    for v in SchemaVersion::ALL {
        // Valid: the XML Schema built-in, and SOAP-ENC's simple type.
        xsd::assert_valid(&value_envelope(v, Some("xsd:base64Binary"), "AAECAw=="), v);
        xsd::assert_valid(&value_envelope(v, Some("soap-enc:base64"), "AAECAw=="), v);
        // Invalid: there is no xsd:base64 type (a common mistake in CWMP implementations).
        assert_fails_with(
            &value_envelope(v, Some("xsd:base64"), "AAECAw=="),
            v,
            "does not resolve to a type definition",
        );
        // The content is checked.
        xsd::assert_invalid(
            &value_envelope(v, Some("xsd:base64Binary"), "not base64!"),
            v,
        );
    }
}

#[test]
fn finding_datetime_forms() {
    if !xsd::require_xmllint() {
        return;
    }
    for v in SchemaVersion::ALL {
        for ok in [
            "0001-01-01T00:00:00Z",
            "2024-05-06T07:08:09Z",
            "2024-05-06T07:08:09.123+02:00",
            "2024-05-06T07:08:09",
        ] {
            xsd::assert_valid(&value_envelope(v, Some("xsd:dateTime"), ok), v);
        }
        for bad in ["0000-01-01T00:00:00Z", "2024-05-06 07:08:09Z", "2024-05-06"] {
            xsd::assert_invalid(&value_envelope(v, Some("xsd:dateTime"), bad), v);
        }
    }
    // The Inform/TransferComplete dateTime elements are xs:dateTime too.
    let tc = transfer_complete_body(0, "", "0001-01-01T00:00:00Z", "0000-01-01T00:00:00Z");
    xsd::assert_invalid(&id_envelope(Cwmp10, &tc), Cwmp10);
}

#[test]
fn finding_value_without_xsi_type_and_booleans() {
    if !xsd::require_xmllint() {
        return;
    }
    for v in SchemaVersion::ALL {
        xsd::assert_valid(&value_envelope(v, None, "anything"), v);
        xsd::assert_valid(&value_envelope(v, Some("xsd:boolean"), "1"), v);
        xsd::assert_valid(&value_envelope(v, Some("xsd:boolean"), "false"), v);
        xsd::assert_invalid(&value_envelope(v, Some("xsd:boolean"), "True"), v);
    }
}

#[test]
fn finding_id_and_hold_requests_need_must_understand() {
    if !xsd::require_xmllint() {
        return;
    }
    for v in SchemaVersion::ALL {
        xsd::assert_valid(&envelope(v, Some(ID_HEADER), INFORM_RESPONSE), v);
        // mustUnderstand is required on cwmp:ID ...
        assert_fails_with(
            &envelope(v, Some("<cwmp:ID>1</cwmp:ID>"), INFORM_RESPONSE),
            v,
            "mustUnderstand' is required but missing",
        );
        // ... must be namespace-qualified ...
        xsd::assert_invalid(
            &envelope(
                v,
                Some(r#"<cwmp:ID mustUnderstand="1">1</cwmp:ID>"#),
                INFORM_RESPONSE,
            ),
            v,
        );
        // ... and only "0"/"1" are accepted lexically (SOAP 1.1 schema pattern), not "true".
        assert_fails_with(
            &envelope(
                v,
                Some(r#"<cwmp:ID soap-env:mustUnderstand="true">1</cwmp:ID>"#),
                INFORM_RESPONSE,
            ),
            v,
            "pattern '0|1'",
        );
        // soap-env:actor is not declared on the cwmp header elements.
        xsd::assert_invalid(
            &envelope(
                v,
                Some(
                    r#"<cwmp:ID soap-env:mustUnderstand="1" soap-env:actor="http://x/">1</cwmp:ID>"#,
                ),
                INFORM_RESPONSE,
            ),
            v,
        );
        // HoldRequests: boolean, mustUnderstand required as well.
        let hold = format!(
            r#"{ID_HEADER}<cwmp:HoldRequests soap-env:mustUnderstand="1">false</cwmp:HoldRequests>"#
        );
        xsd::assert_valid(&envelope(v, Some(&hold), INFORM_RESPONSE), v);
        xsd::assert_invalid(
            &envelope(
                v,
                Some("<cwmp:HoldRequests>0</cwmp:HoldRequests>"),
                INFORM_RESPONSE,
            ),
            v,
        );
    }
    // NOTE (harness gap, libxml2 2.9): `fixed="1"` on the attribute use is NOT enforced because
    // it is declared on a `ref` to the global soap-env:mustUnderstand attribute, so
    // mustUnderstand="0" on cwmp:ID validates. Not asserted either way here.
}

#[test]
fn finding_header_elements_per_version() {
    if !xsd::require_xmllint() {
        return;
    }
    let session_timeout = "<cwmp:SessionTimeout>60</cwmp:SessionTimeout>";
    let supported = "<cwmp:SupportedCWMPVersions>1.0,1.1,1.2,1.3,1.4</cwmp:SupportedCWMPVersions>";
    let use_version =
        r#"<cwmp:UseCWMPVersion soap-env:mustUnderstand="1">1.4</cwmp:UseCWMPVersion>"#;
    for h in [session_timeout, supported, use_version] {
        // Not declared by cwmp-1-0.xsd nor cwmp-1-2.xsd ...
        for v in [Cwmp10, Cwmp12] {
            assert_fails_with(
                &envelope(v, Some(&format!("{ID_HEADER}{h}")), INFORM_RESPONSE),
                v,
                "No matching global element declaration",
            );
        }
        // ... declared by cwmp-1-4.xsd (SessionTimeout via cwmp-1-3.xsd).
        xsd::assert_valid(
            &envelope(Cwmp14, Some(&format!("{ID_HEADER}{h}")), INFORM_RESPONSE),
            Cwmp14,
        );
    }
    // UseCWMPVersion requires mustUnderstand; SupportedCWMPVersions/SessionTimeout do not.
    xsd::assert_invalid(
        &envelope(
            Cwmp14,
            Some("<cwmp:UseCWMPVersion>1.4</cwmp:UseCWMPVersion>"),
            INFORM_RESPONSE,
        ),
        Cwmp14,
    );
    xsd::assert_valid(
        &envelope(
            Cwmp14,
            Some(r#"<cwmp:SessionTimeout soap-env:mustUnderstand="0">60</cwmp:SessionTimeout>"#),
            INFORM_RESPONSE,
        ),
        Cwmp14,
    );
}

#[test]
fn finding_encoding_style_allowed_on_body_not_envelope() {
    if !xsd::require_xmllint() {
        return;
    }
    for v in SchemaVersion::ALL {
        let style = r#"soap-env:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/""#;
        let on_envelope = id_envelope(v, INFORM_RESPONSE).replacen(
            "<soap-env:Envelope ",
            &format!("<soap-env:Envelope {style} "),
            1,
        );
        assert_fails_with(&on_envelope, v, "encodingStyle' is not allowed");
        let on_body = id_envelope(v, INFORM_RESPONSE).replacen(
            "<soap-env:Body>",
            &format!("<soap-env:Body {style}>"),
            1,
        );
        xsd::assert_valid(&on_body, v);
    }
}

#[test]
fn finding_event_codes_differ_between_1_0_and_1_2() {
    if !xsd::require_xmllint() {
        return;
    }
    let with_event = |code: &str| {
        inform_body(true, true).replace(
            "<EventCode>1 BOOT</EventCode>",
            &format!("<EventCode>{code}</EventCode>"),
        )
    };
    // cwmp-1-0.xsd enumerates event codes 0..9 and M Reboot/ScheduleInform/Download/Upload.
    for code in [
        "10 AUTONOMOUS TRANSFER COMPLETE",
        "M ScheduleDownload",
        "14 HEARTBEAT",
    ] {
        xsd::assert_invalid(&id_envelope(Cwmp10, &with_event(code)), Cwmp10);
        xsd::assert_valid(&id_envelope(Cwmp12, &with_event(code)), Cwmp12);
    }
    for code in ["X 00D09E MyEvent", "M X_VENDOR_Method"] {
        xsd::assert_valid(&id_envelope(Cwmp10, &with_event(code)), Cwmp10);
    }
}

#[test]
fn finding_fault_codes_per_version() {
    if !xsd::require_xmllint() {
        return;
    }
    let fault = |code: u32| {
        fault_body(&format!(
            "<cwmp:Fault><FaultCode>{code}</FaultCode><FaultString>x</FaultString></cwmp:Fault>"
        ))
    };
    // 1-0: 9000..9013, 9800..9899, 8000..8005, 8800..8899 only.
    for code in [9000, 9013, 9800, 8005, 8899] {
        xsd::assert_valid(&id_envelope(Cwmp10, &fault(code)), Cwmp10);
    }
    for code in [9014, 9019, 8006, 0] {
        xsd::assert_invalid(&id_envelope(Cwmp10, &fault(code)), Cwmp10);
    }
    // 1-2 (and 1-4): 9000..9899 and 8000..8899.
    for code in [9019, 9032, 9799, 9899, 8006, 8899] {
        xsd::assert_valid(&id_envelope(Cwmp12, &fault(code)), Cwmp12);
    }
    for code in [9900, 8900, 0] {
        xsd::assert_invalid(&id_envelope(Cwmp12, &fault(code)), Cwmp12);
    }
    // TransferComplete FaultStruct/FaultCode: 1-0 allows only 0, 9001, 9002, 9010, 9011, 9012.
    let tc = transfer_complete_body(9017, "x", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z");
    xsd::assert_invalid(&id_envelope(Cwmp10, &tc), Cwmp10);
    xsd::assert_valid(&id_envelope(Cwmp12, &tc), Cwmp12);
}

#[test]
fn finding_arrays_and_length_limits() {
    if !xsd::require_xmllint() {
        return;
    }
    // arrayType is a plain string: neither the element type nor the count is checked.
    let lying = inform_body(true, true).replace("cwmp:EventStruct[2]", "xsd:string[99]");
    xsd::assert_valid(&id_envelope(Cwmp10, &lying), Cwmp10);
    // At most 64 EventStructs.
    let one = "<EventStruct><EventCode>2 PERIODIC</EventCode><CommandKey/></EventStruct>";
    for (n, ok) in [(64, true), (65, false)] {
        let body = inform_body(true, true).replace(
            "<EventStruct><EventCode>1 BOOT</EventCode><CommandKey></CommandKey></EventStruct>",
            &one.repeat(n - 1),
        );
        let xml = id_envelope(Cwmp12, &body);
        if ok {
            xsd::assert_valid(&xml, Cwmp12)
        } else {
            xsd::assert_invalid(&xml, Cwmp12);
        }
    }
    // CommandKey <= 32 chars, parameter Name <= 256 chars.
    let tc = transfer_complete_body(0, "", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z");
    let long_key = tc.replace("download-7", &"k".repeat(33));
    xsd::assert_invalid(&id_envelope(Cwmp12, &long_key), Cwmp12);
    let long_name = gpv_response_body().replace("Device.Foo.Int", &"n".repeat(257));
    xsd::assert_invalid(&id_envelope(Cwmp12, &long_name), Cwmp12);
    // GetRPCMethodsResponse needs at least one method name.
    let empty = r#"<cwmp:GetRPCMethodsResponse><MethodList soap-enc:arrayType="xsd:string[0]"></MethodList></cwmp:GetRPCMethodsResponse>"#;
    xsd::assert_invalid(&id_envelope(Cwmp10, empty), Cwmp10);
    // Array members may not carry soap-enc:position (the cwmp restrictions drop it).
    let positioned = r#"<cwmp:GetRPCMethodsResponse><MethodList soap-enc:arrayType="xsd:string[1]"><string soap-enc:position="[0]">Inform</string></MethodList></cwmp:GetRPCMethodsResponse>"#;
    xsd::assert_invalid(&id_envelope(Cwmp10, positioned), Cwmp10);
}
