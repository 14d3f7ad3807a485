//! Runs the shipped example provider (examples/external-provider.py) through `ExternalProvider`:
//! the template integrators copy must actually speak the protocol the agent implements.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tr069_client::cwmp::{FaultCode, SetParameterValuesFault, XsdType};
use tr069_client::datamodel::external::{
    ExternalError, ExternalNode, ExternalProvider, ExternalValue,
};

const ROOT: &str = "Device.X_EXAMPLE_Firewall.";

/// The example provider, or `None` when python3 is missing: the test was skipped (a failure
/// under `TR069_TEST_STRICT=1`, as in CI) and returns.
fn example(state: &Path) -> Option<ExternalProvider> {
    if !test_tools::require_tool("python3", "apt-get install python3") {
        return None;
    }
    Some(ExternalProvider {
        subtree: ROOT.to_owned(),
        command: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/external-provider.py"),
        args: vec![
            "--state".to_owned(),
            state.to_str().expect("utf-8 temp path").to_owned(),
        ],
        // Generous: CI machines are slow to start Python, and nothing here should hang.
        timeout: Duration::from_secs(30),
    })
}

fn name(suffix: &str) -> String {
    format!("{ROOT}{suffix}")
}

fn value(suffix: &str, text: &str, xsd_type: XsdType) -> ExternalValue {
    ExternalValue {
        name: name(suffix),
        value: text.to_owned(),
        xsd_type,
    }
}

fn get_one(p: &ExternalProvider, suffix: &str) -> String {
    let values = p.get(&[name(suffix)]).expect("get");
    assert_eq!(values.len(), 1, "{values:?}");
    values[0].value.clone()
}

#[test]
fn list_and_get_describe_the_subtree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(p) = example(&dir.path().join("state.json")) else {
        return;
    };

    let nodes = p.list(ROOT).expect("list");
    let node = |suffix: &str| {
        nodes
            .iter()
            .find(|n| n.name == name(suffix))
            .unwrap_or_else(|| panic!("{suffix} not listed in {nodes:?}"))
            .clone()
    };
    assert_eq!(
        node("Enable"),
        ExternalNode {
            name: name("Enable"),
            writable: true,
            xsd_type: Some(XsdType::Boolean),
        }
    );
    assert_eq!(node("Level").xsd_type, Some(XsdType::String));
    assert_eq!(
        node("RuleNumberOfEntries"),
        ExternalNode {
            name: name("RuleNumberOfEntries"),
            writable: false,
            xsd_type: Some(XsdType::UnsignedInt),
        }
    );
    assert_eq!(
        node("Rule."),
        ExternalNode {
            name: name("Rule."),
            writable: true,
            xsd_type: None,
        }
    );

    let values = p.get(&[ROOT.to_owned()]).expect("get subtree");
    let names: Vec<&str> = values.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        names,
        [name("Enable"), name("Level"), name("RuleNumberOfEntries")]
    );
    assert_eq!(get_one(&p, "RuleNumberOfEntries"), "0");

    let err = p.list(&name("Nope.")).expect_err("unknown path");
    assert_eq!(err.to_fault().code, 9005);
}

#[test]
fn set_is_all_or_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(p) = example(&dir.path().join("state.json")) else {
        return;
    };

    let reboot = p
        .set(&[
            value("Enable", "true", XsdType::Boolean),
            value("Level", "High", XsdType::String),
        ])
        .expect("valid set");
    assert!(!reboot);
    assert_eq!(get_one(&p, "Enable"), "true");
    assert_eq!(get_one(&p, "Level"), "High");

    // One good value and one bad: nothing changes, and the ACS learns which parameter failed.
    let err = p
        .set(&[
            value("Enable", "false", XsdType::Boolean),
            value("Level", "Extreme", XsdType::String),
        ])
        .expect_err("bad level");
    let fault = err.to_fault();
    assert_eq!(fault.code, 9003);
    assert_eq!(fault.set_parameter_values_faults.len(), 1, "{fault:?}");
    let SetParameterValuesFault {
        parameter_name,
        fault_code,
        ..
    } = &fault.set_parameter_values_faults[0];
    assert_eq!(
        (parameter_name.as_str(), *fault_code),
        (name("Level").as_str(), 9007)
    );
    assert_eq!(get_one(&p, "Enable"), "true");
    assert_eq!(get_one(&p, "Level"), "High");

    // Each kind of refusal carries its own per-parameter code.
    let err = p
        .set(&[
            value("RuleNumberOfEntries", "3", XsdType::UnsignedInt),
            value("Enable", "1", XsdType::UnsignedInt),
            value("Missing", "x", XsdType::String),
        ])
        .expect_err("three bad values");
    let codes: Vec<(String, u32)> = err
        .to_fault()
        .set_parameter_values_faults
        .into_iter()
        .map(|f| (f.parameter_name, f.fault_code))
        .collect();
    assert_eq!(
        codes,
        [
            (
                name("RuleNumberOfEntries"),
                FaultCode::NonWritableParameter.code()
            ),
            (name("Enable"), FaultCode::InvalidParameterType.code()),
            (name("Missing"), FaultCode::InvalidParameterName.code()),
        ]
    );

    // Setting a value to what it already is succeeds: sets may be repeated after a crash.
    p.set(&[value("Level", "High", XsdType::String)])
        .expect("idempotent set");
}

#[test]
fn instances_are_never_reused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(p) = example(&dir.path().join("state.json")) else {
        return;
    };
    let table = name("Rule.");

    assert_eq!(p.add(&table).expect("first add"), 1);
    assert_eq!(p.add(&table).expect("second add"), 2);
    assert_eq!(get_one(&p, "RuleNumberOfEntries"), "2");
    p.set(&[
        value("Rule.2.SourcePort", "8080", XsdType::UnsignedInt),
        value("Rule.2.Target", "Accept", XsdType::String),
    ])
    .expect("set rule 2");
    assert_eq!(get_one(&p, "Rule.2.SourcePort"), "8080");

    p.delete(&name("Rule.2.")).expect("delete");
    assert_eq!(
        p.add(&table).expect("third add"),
        3,
        "a deleted instance number was reused"
    );
    assert_eq!(get_one(&p, "RuleNumberOfEntries"), "2");

    for gone in [name("Rule.2."), name("Rule.2.SourcePort")] {
        match p.get(std::slice::from_ref(&gone)) {
            Err(err @ ExternalError::Refused { .. }) => assert_eq!(err.to_fault().code, 9005),
            other => panic!("get {gone} after delete: {other:?}"),
        }
    }
    let err = p.delete(&name("Rule.2.")).expect_err("second delete");
    assert_eq!(err.to_fault().code, 9005);
    let err = p
        .set(&[value("Rule.1.SourcePort", "70000", XsdType::UnsignedInt)])
        .expect_err("port out of range");
    assert_eq!(
        err.to_fault().set_parameter_values_faults[0].fault_code,
        9007
    );
}
