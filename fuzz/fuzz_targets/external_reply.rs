//! An external provider's answer (JSON on its stdout, plus its exit status) to each kind of
//! request: read exactly as the agent reads it after the process exited. Never a panic, and an
//! accepted answer only speaks of names inside the provider's subtree that were asked for.
#![no_main]

use std::path::PathBuf;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tr069_client::cwmp::XsdType;
use tr069_client::datamodel::external::{
    ExternalAnswer, ExternalOp, ExternalProvider, ExternalValue, ProviderReply,
};

const SUBTREE: &str = "Device.X_ACME_Firewall.";

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let provider = ExternalProvider {
        subtree: SUBTREE.into(),
        command: PathBuf::from("/nonexistent/provider"),
        args: Vec::new(),
        timeout: Duration::from_secs(1),
    };
    let op = match selector % 5 {
        0 => ExternalOp::List(SUBTREE.into()),
        1 => ExternalOp::Get(vec![
            format!("{SUBTREE}Enable"),
            format!("{SUBTREE}Rule."),
        ]),
        2 => ExternalOp::Set(vec![ExternalValue {
            name: format!("{SUBTREE}Enable"),
            value: "true".into(),
            xsd_type: XsdType::Boolean,
        }]),
        3 => ExternalOp::Add(format!("{SUBTREE}Rule.")),
        _ => ExternalOp::Delete(format!("{SUBTREE}Rule.1.")),
    };
    let reply = ProviderReply {
        exited_successfully: selector & 0x80 == 0,
        stdout: rest,
        stderr: "",
    };
    match provider.read_reply(&op, &reply) {
        Ok(ExternalAnswer::Nodes(nodes)) => {
            for n in nodes {
                assert!(n.name.starts_with(SUBTREE), "{n:?}");
            }
        }
        Ok(ExternalAnswer::Values(values)) => {
            for v in values {
                assert!(
                    v.name == format!("{SUBTREE}Enable") || v.name.starts_with(&format!("{SUBTREE}Rule.")),
                    "answered {v:?}, which was not asked"
                );
            }
        }
        Ok(ExternalAnswer::Added(n)) => assert!(n > 0),
        Ok(_) => {}
        Err(fault) => {
            // Whatever the provider says, the ACS gets a fault it can read: a CWMP code and a
            // FaultString within the schema's 256 characters.
            assert!(fault.string.chars().count() <= 256, "{fault:?}");
            for f in &fault.set_parameter_values_faults {
                assert!(f.fault_string.chars().count() <= 256, "{fault:?}");
            }
        }
    }
});
