//! End-to-end: the data-model RPCs through full sessions between the REAL agent binary and the
//! scripted ACS — GetParameterNames/Values, SetParameterValues (all or nothing, ParameterKey,
//! settings), attributes and an active VALUE CHANGE, AddObject/DeleteObject, IPPing and an
//! external provider. The IPPing test needs `ping` and the external provider test `python3`:
//! without them they print `SKIPPED ...` and pass, except under `TR069_TEST_STRICT=1` (CI).

use anyhow::{Context as _, bail, ensure};
use chaos_tests::device::*;
use chaos_tests::{AcsCall, ScriptedAcs, SessionLog};
use tr069_client::cwmp::Body;
use tr069_client::cwmp::rpc::add_object::AddObject;
use tr069_client::cwmp::rpc::delete_object::DeleteObject;
use tr069_client::cwmp::rpc::get_parameter_attributes::GetParameterAttributes;
use tr069_client::cwmp::rpc::get_parameter_names::GetParameterNames;
use tr069_client::cwmp::rpc::get_parameter_values::GetParameterValues;
use tr069_client::cwmp::rpc::set_parameter_attributes::{
    SetParameterAttributes, SetParameterAttributesStruct,
};
use tr069_client::cwmp::rpc::set_parameter_values::SetParameterValues;
use tr069_client::cwmp::{ParameterValueStruct, Value};

fn gpv(names: &[&str]) -> Body {
    Body::GetParameterValues(GetParameterValues {
        parameter_names: names.iter().map(|n| (*n).to_owned()).collect(),
    })
}

fn spv(values: &[(&str, Value)], key: &str) -> Body {
    Body::SetParameterValues(SetParameterValues {
        parameter_list: values
            .iter()
            .map(|(n, v)| ParameterValueStruct::new(*n, v.clone()))
            .collect(),
        parameter_key: key.into(),
    })
}

fn values_of(call: &AcsCall) -> anyhow::Result<Vec<(String, String)>> {
    match call.answer.as_ref().and_then(|a| a.body.as_ref()) {
        Some(Body::GetParameterValuesResponse(r)) => Ok(r
            .parameter_list
            .iter()
            .map(|p| (p.name.clone(), p.value.text.clone()))
            .collect()),
        other => bail!("{} answered {other:?}", call.method),
    }
}

fn value_of(call: &AcsCall, name: &str) -> anyhow::Result<String> {
    values_of(call)?
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .with_context(|| format!("{name} not in the {} answer", call.method))
}

fn fault_of(call: &AcsCall) -> anyhow::Result<(u32, Vec<(String, u32)>)> {
    let f = call
        .answer
        .as_ref()
        .and_then(|a| a.fault())
        .with_context(|| {
            format!(
                "{} was not answered with a fault: {:?}",
                call.method, call.answer
            )
        })?;
    Ok((
        f.code,
        f.set_parameter_values_faults
            .iter()
            .map(|p| (p.parameter_name.clone(), p.fault_code))
            .collect(),
    ))
}

fn answered(s: &SessionLog) -> bool {
    s.acs_calls.iter().all(|c| c.answer.is_some())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameter_rpcs_through_full_sessions() {
    let device = Device::new(
        "parameter_rpcs_through_full_sessions",
        env!("CARGO_BIN_EXE_agent"),
    );
    scenario(&device, async {
        let acs = ScriptedAcs::start(digest_acs()).await?;
        device.write_config(&acs.url(), &[]);
        // The requests of the BOOTSTRAP session, in order.
        acs.enqueue(Body::GetParameterNames(GetParameterNames {
            parameter_path: "Device.".into(),
            next_level: true,
        }));
        acs.enqueue(gpv(&["Device.DeviceInfo.", "Device.ManagementServer.PeriodicInformInterval"]));
        acs.enqueue(spv(
            &[
                ("Device.Time.NTPServer1", Value::string("pool.ntp.org")),
                ("Device.DeviceInfo.UpTime", Value::unsigned_int(1)),
                ("Device.Nope", Value::string("x")),
            ],
            "bad",
        ));
        acs.enqueue(spv(
            &[
                ("Device.Time.NTPServer1", Value::string("pool.ntp.org")),
                ("Device.ManagementServer.PeriodicInformInterval", Value::unsigned_int(3600)),
            ],
            "pk-1",
        ));
        acs.enqueue(gpv(&["Device.Time.NTPServer1", "Device.ManagementServer."]));
        acs.enqueue(Body::AddObject(AddObject {
            object_name: "Device.NAT.PortMapping.".into(),
            parameter_key: "pk-2".into(),
        }));
        acs.enqueue(Body::AddObject(AddObject {
            object_name: "Device.NAT.PortMapping.".into(),
            parameter_key: "pk-3".into(),
        }));
        acs.enqueue(spv(&[("Device.NAT.PortMapping.2.ExternalPort", Value::unsigned_int(8080))], "pk-4"));
        acs.enqueue(Body::DeleteObject(DeleteObject {
            object_name: "Device.NAT.PortMapping.1.".into(),
            parameter_key: "pk-5".into(),
        }));
        acs.enqueue(gpv(&["Device.NAT."]));
        acs.enqueue(gpv(&["Device.DeviceInfo.UpTime", "Device.Bogus."]));
        acs.enqueue(Body::SetParameterAttributes(SetParameterAttributes {
            parameter_list: vec![SetParameterAttributesStruct {
                name: "Device.ManagementServer.PeriodicInformInterval".into(),
                notification_change: true,
                notification: Some(2),
                access_list_change: false,
                access_list: vec![],
            }],
        }));
        acs.enqueue(Body::GetParameterAttributes(GetParameterAttributes {
            parameter_names: vec!["Device.ManagementServer.PeriodicInformInterval".into()],
        }));
        let _agent = device.start().await?;
        let s = wait_session(&acs, 0, "the BOOTSTRAP session with every request answered", |s| {
            s.is_ended() && answered(s)
        })
        .await?;
        ensure!(s.acs_calls.len() == 13, "{} requests answered", s.acs_calls.len());
        let c = &s.acs_calls;

        let names = match c[0].answer.as_ref().and_then(|a| a.body.as_ref()) {
            Some(Body::GetParameterNamesResponse(r)) => r.parameter_list.clone(),
            other => bail!("GetParameterNames answered {other:?}"),
        };
        for want in ["Device.DeviceInfo.", "Device.ManagementServer.", "Device.IP.", "Device.RootDataModelVersion"] {
            ensure!(names.iter().any(|p| p.name == want), "{want} missing from {names:?}");
        }
        ensure!(value_of(&c[1], "Device.DeviceInfo.Manufacturer")? == "Example Networks");
        let uptime: u64 = value_of(&c[1], "Device.DeviceInfo.UpTime")?.parse()?;
        ensure!(uptime > 0, "UpTime {uptime} is not the host's");
        let total: u64 = value_of(&c[1], "Device.DeviceInfo.MemoryStatus.Total")?.parse()?;
        ensure!(total > 1024, "MemoryStatus.Total {total}");
        ensure!(value_of(&c[1], "Device.ManagementServer.PeriodicInformInterval")? == "86400");

        let (code, per_param) = fault_of(&c[2])?;
        ensure!(code == 9003, "fault {code}");
        ensure!(
            per_param == [("Device.DeviceInfo.UpTime".to_owned(), 9008), ("Device.Nope".to_owned(), 9005)],
            "{per_param:?}"
        );
        ensure!(
            matches!(c[3].answer.as_ref().and_then(|a| a.body.as_ref()), Some(Body::SetParameterValuesResponse(r)) if r.status == 0),
            "SetParameterValues answered {:?}",
            c[3].answer
        );
        ensure!(value_of(&c[4], "Device.Time.NTPServer1")? == "pool.ntp.org");
        ensure!(value_of(&c[4], "Device.ManagementServer.ParameterKey")? == "pk-1");
        ensure!(value_of(&c[4], "Device.ManagementServer.PeriodicInformInterval")? == "3600");
        ensure!(value_of(&c[4], "Device.ManagementServer.Password")?.is_empty(), "password shown");
        let added: Vec<u32> = c[5..7]
            .iter()
            .map(|call| match call.answer.as_ref().and_then(|a| a.body.as_ref()) {
                Some(Body::AddObjectResponse(r)) => Ok(r.instance_number),
                other => bail!("AddObject answered {other:?}"),
            })
            .collect::<anyhow::Result<_>>()?;
        ensure!(added == [1, 2], "instances {added:?}");
        let nat = values_of(&c[9])?;
        ensure!(
            nat.iter().any(|(n, v)| n == "Device.NAT.PortMapping.2.ExternalPort" && v == "8080"),
            "{nat:?}"
        );
        ensure!(!nat.iter().any(|(n, _)| n.starts_with("Device.NAT.PortMapping.1.")), "{nat:?}");
        ensure!(nat.contains(&("Device.NAT.PortMappingNumberOfEntries".into(), "1".into())));
        ensure!(fault_of(&c[10])?.0 == 9005, "an unknown name faults the whole request");
        ensure!(
            matches!(c[12].answer.as_ref().and_then(|a| a.body.as_ref()), Some(Body::GetParameterAttributesResponse(r)) if r.parameter_list[0].notification == 2),
            "GetParameterAttributes answered {:?}",
            c[12].answer
        );

        // The operator's CLI and the ACS change the same value; the ACS asked to be told
        // actively, so a session with 4 VALUE CHANGE follows, carrying the new value.
        ensure!(device.get("periodic-inform-interval").await? == "1h", "the ACS's value is the setting");
        let (code, out, err) = device.cli(&["set", "periodic-inform-interval=2h"]).await?;
        ensure!(code == 0, "set exited {code}: {out}{err}");
        let vc = wait_session(&acs, 1, "the VALUE CHANGE session", |s| s.has_event("4 VALUE CHANGE")).await?;
        ensure!(
            vc.parameter("Device.ManagementServer.PeriodicInformInterval") == Some("7200"),
            "Inform parameters {:?}",
            vc.inform.parameter_list
        );
        ensure!(vc.parameter("Device.ManagementServer.ParameterKey") == Some("pk-5"));

        // Everything the ACS set survives a restart (it is in the journal).
        let mut agent = _agent;
        agent.terminate().await?;
        let _agent = device.start().await?;
        ensure!(device.get("periodic-inform-interval").await? == "2h");
        acs.enqueue(gpv(&["Device.NAT.PortMapping.2.ExternalPort", "Device.Time.NTPServer1", "Device.ManagementServer.ParameterKey"]));
        let (code, out, err) = device.cli(&["inform-now"]).await?;
        ensure!(code == 0, "inform-now exited {code}: {out}{err}");
        let after = wait_session(&acs, vc.number as usize, "a session after the restart", |s| s.is_ended() && !s.acs_calls.is_empty()).await?;
        let v = values_of(&after.acs_calls[0])?;
        ensure!(
            v == [
                ("Device.NAT.PortMapping.2.ExternalPort".to_owned(), "8080".to_owned()),
                ("Device.Time.NTPServer1".to_owned(), "pool.ntp.org".to_owned()),
                ("Device.ManagementServer.ParameterKey".to_owned(), "pk-5".to_owned()),
            ],
            "{v:?}"
        );
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_provider_owns_its_subtree() {
    // The example provider is a Python script.
    if !test_tools::require_tool("python3", "apt-get install python3") {
        return;
    }
    let device = Device::new(
        "an_external_provider_owns_its_subtree",
        env!("CARGO_BIN_EXE_agent"),
    );
    scenario(&device, async {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/external-provider.py");
        let state_file = device.path().join("firewall.json");
        device.add_config(&format!(
            "[[datamodel.external]]\nsubtree = \"Device.X_EXAMPLE_Firewall.\"\ncommand = {}\nargs = [\"--state\", {}]\ntimeout = \"20s\"\n",
            toml_str(script),
            toml_str(&state_file.to_string_lossy()),
        ));
        let acs = ScriptedAcs::start(digest_acs()).await?;
        device.write_config(&acs.url(), &[]);
        acs.enqueue(Body::GetParameterNames(GetParameterNames {
            parameter_path: "Device.".into(),
            next_level: true,
        }));
        acs.enqueue(Body::AddObject(AddObject {
            object_name: "Device.X_EXAMPLE_Firewall.Rule.".into(),
            parameter_key: "ext-1".into(),
        }));
        acs.enqueue(spv(
            &[
                ("Device.X_EXAMPLE_Firewall.Enable", Value::boolean(true)),
                ("Device.X_EXAMPLE_Firewall.Rule.1.SourcePort", Value::unsigned_int(22)),
                ("Device.X_EXAMPLE_Firewall.Rule.1.Target", Value::string("Drop")),
            ],
            "ext-2",
        ));
        acs.enqueue(spv(&[("Device.X_EXAMPLE_Firewall.Level", Value::string("Extreme"))], "ext-3"));
        acs.enqueue(gpv(&["Device.X_EXAMPLE_Firewall.", "Device.ManagementServer.ParameterKey"]));
        let _agent = device.start().await?;
        let s = wait_session(&acs, 0, "the BOOTSTRAP session with every request answered", |s| {
            s.is_ended() && answered(s)
        })
        .await?;
        let c = &s.acs_calls;
        ensure!(c.len() == 5, "{} calls", c.len());
        match c[0].answer.as_ref().and_then(|a| a.body.as_ref()) {
            Some(Body::GetParameterNamesResponse(r)) => ensure!(
                r.parameter_list.iter().any(|p| p.name == "Device.X_EXAMPLE_Firewall."),
                "the provider's subtree is not listed under Device.: {:?}",
                r.parameter_list
            ),
            other => bail!("GetParameterNames answered {other:?}"),
        }
        ensure!(
            matches!(c[1].answer.as_ref().and_then(|a| a.body.as_ref()), Some(Body::AddObjectResponse(r)) if r.instance_number == 1),
            "AddObject answered {:?}",
            c[1].answer
        );
        ensure!(
            matches!(c[2].answer.as_ref().and_then(|a| a.body.as_ref()), Some(Body::SetParameterValuesResponse(_))),
            "SetParameterValues answered {:?}",
            c[2].answer
        );
        let (code, per_param) = fault_of(&c[3])?;
        ensure!(
            code == 9003 && per_param == [("Device.X_EXAMPLE_Firewall.Level".to_owned(), 9007)],
            "{code} {per_param:?}"
        );
        let v = values_of(&c[4])?;
        for want in [
            ("Device.X_EXAMPLE_Firewall.Enable", "true"),
            ("Device.X_EXAMPLE_Firewall.Rule.1.SourcePort", "22"),
            ("Device.X_EXAMPLE_Firewall.Rule.1.Target", "Drop"),
            ("Device.ManagementServer.ParameterKey", "ext-2"),
        ] {
            ensure!(
                v.contains(&(want.0.to_owned(), want.1.to_owned())),
                "{want:?} not in {v:?}"
            );
        }
        // The provider's own file holds the values: the agent journaled none of them.
        let file = std::fs::read_to_string(&state_file)?;
        ensure!(file.contains("Drop"), "provider state: {file}");
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_ping_diagnostics_run_and_report() {
    if !test_tools::require_ping() {
        return;
    }
    let device = Device::new(
        "ip_ping_diagnostics_run_and_report",
        env!("CARGO_BIN_EXE_agent"),
    );
    scenario(&device, async {
        let acs = ScriptedAcs::start(digest_acs()).await?;
        device.write_config(&acs.url(), &[]);
        acs.enqueue(spv(
            &[
                (
                    "Device.IP.Diagnostics.IPPing.Host",
                    Value::string("127.0.0.1"),
                ),
                (
                    "Device.IP.Diagnostics.IPPing.NumberOfRepetitions",
                    Value::unsigned_int(2),
                ),
                (
                    "Device.IP.Diagnostics.IPPing.Timeout",
                    Value::unsigned_int(2000),
                ),
                (
                    "Device.IP.Diagnostics.IPPing.DiagnosticsState",
                    Value::string("Requested"),
                ),
            ],
            "ping-1",
        ));
        let _agent = device.start().await?;
        wait_session(&acs, 0, "the BOOTSTRAP session", |s| {
            s.is_ended() && answered(s)
        })
        .await?;
        let done = wait_session(&acs, 1, "the DIAGNOSTICS COMPLETE session", |s| {
            s.has_event("8 DIAGNOSTICS COMPLETE")
        })
        .await?;
        acs.enqueue(gpv(&["Device.IP.Diagnostics.IPPing."]));
        let (code, out, err) = device.cli(&["inform-now"]).await?;
        ensure!(code == 0, "inform-now exited {code}: {out}{err}");
        let s = wait_session(
            &acs,
            done.number as usize,
            "a session reading the results",
            |s| s.is_ended() && !s.acs_calls.is_empty() && answered(s),
        )
        .await?;
        let v = values_of(&s.acs_calls[0])?;
        let get = |n: &str| {
            v.iter()
                .find(|(name, _)| name == &format!("Device.IP.Diagnostics.IPPing.{n}"))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        ensure!(get("DiagnosticsState") == "Complete", "{v:?}");
        ensure!(
            get("SuccessCount") == "2" && get("FailureCount") == "0",
            "{v:?}"
        );
        Ok(())
    })
    .await;
}
