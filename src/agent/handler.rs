//! The agent's answers to the ACS's requests: each RPC turned into journal records and a
//! response, without I/O (the session journals the records before the response goes out).
//!
//! This scope: GetRPCMethods, ScheduleInform, Reboot and FactoryReset. The parameter RPCs
//! (issue #5) and the transfer RPCs (issue #6) are answered with fault 9000 "Method not
//! supported" and are not listed in the GetRPCMethodsResponse until they exist, so an ACS never
//! believes a change was made.

use journal::proto::{self, record::Kind};

use crate::cwmp::rpc::factory_reset::FactoryResetResponse;
use crate::cwmp::rpc::get_rpc_methods::GetRpcMethodsResponse;
use crate::cwmp::rpc::reboot::RebootResponse;
use crate::cwmp::rpc::schedule_inform::ScheduleInformResponse;
use crate::cwmp::{Body, Fault, FaultCode};
use crate::session::{Handled, RequestHandler};
use crate::state::{REBOOT_REASON_FACTORY_RESET, record};

/// The ACS→CPE methods this agent implements (the GetRPCMethodsResponse).
pub const SUPPORTED_METHODS: &[&str] =
    &["GetRPCMethods", "ScheduleInform", "Reboot", "FactoryReset"];

/// Answers ACS requests for one session.
#[derive(Debug, Default)]
pub struct AcsRequestHandler;

impl AcsRequestHandler {
    fn answer(&mut self, request: &Body, now_ms: u64) -> Result<(Vec<proto::Record>, Body), Fault> {
        match request {
            Body::GetRpcMethods(_) => Ok((
                Vec::new(),
                GetRpcMethodsResponse {
                    method_list: SUPPORTED_METHODS.iter().map(|m| (*m).to_owned()).collect(),
                }
                .into(),
            )),
            Body::ScheduleInform(si) => {
                if si.delay_seconds == 0 {
                    return Err(Fault::with_string(
                        FaultCode::InvalidArguments,
                        "ScheduleInform DelaySeconds must be greater than 0",
                    ));
                }
                let due_at_unix = (now_ms / 1000).saturating_add(u64::from(si.delay_seconds));
                Ok((
                    vec![record(Kind::ScheduleInformRequested(
                        proto::ScheduleInformRequested {
                            command_key: si.command_key.clone(),
                            due_at_unix: i64::try_from(due_at_unix).unwrap_or(i64::MAX),
                        },
                    ))],
                    ScheduleInformResponse.into(),
                ))
            }
            Body::Reboot(r) => Ok((
                vec![record(Kind::RebootRequested(proto::RebootRequested {
                    command_key: r.command_key.clone(),
                    reason: "Reboot".to_owned(),
                }))],
                RebootResponse.into(),
            )),
            Body::FactoryReset(_) => Ok((
                vec![record(Kind::RebootRequested(proto::RebootRequested {
                    command_key: String::new(),
                    reason: REBOOT_REASON_FACTORY_RESET.to_owned(),
                }))],
                FactoryResetResponse.into(),
            )),
            other => Err(Fault::with_string(
                FaultCode::MethodNotSupported,
                format!("Method not supported: {}", other.name()),
            )),
        }
    }
}

impl RequestHandler for AcsRequestHandler {
    fn handle(&mut self, request: &Body, now_ms: u64) -> Handled {
        match self.answer(request, now_ms) {
            Ok((records, response)) => Handled { records, response },
            Err(fault) => Handled {
                records: Vec::new(),
                response: Body::Fault(fault),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cwmp::rpc::get_parameter_values::GetParameterValues;
    use crate::cwmp::rpc::get_rpc_methods::GetRpcMethods;
    use crate::cwmp::rpc::reboot::Reboot;
    use crate::cwmp::rpc::schedule_inform::ScheduleInform;

    #[test]
    fn schedule_inform_records_the_due_time() {
        let mut h = AcsRequestHandler;
        let out = h.handle(
            &Body::ScheduleInform(ScheduleInform {
                delay_seconds: 30,
                command_key: "si".into(),
            }),
            1_000_500,
        );
        assert!(matches!(out.response, Body::ScheduleInformResponse(_)));
        match &out.records[..] {
            [
                proto::Record {
                    kind: Some(Kind::ScheduleInformRequested(r)),
                },
            ] => {
                assert_eq!((r.command_key.as_str(), r.due_at_unix), ("si", 1030));
            }
            other => panic!("{other:?}"),
        }
        let zero = h.handle(
            &Body::ScheduleInform(ScheduleInform {
                delay_seconds: 0,
                command_key: "si".into(),
            }),
            0,
        );
        assert!(matches!(zero.response, Body::Fault(ref f) if f.code == 9003));
        assert!(zero.records.is_empty());
    }

    #[test]
    fn reboot_and_factory_reset_are_journaled_requests() {
        let mut h = AcsRequestHandler;
        let out = h.handle(
            &Body::Reboot(Reboot {
                command_key: "rk".into(),
            }),
            0,
        );
        assert!(matches!(out.response, Body::RebootResponse(_)));
        assert!(
            matches!(&out.records[..], [proto::Record { kind: Some(Kind::RebootRequested(r)) }] if r.command_key == "rk")
        );
        let out = h.handle(
            &Body::FactoryReset(crate::cwmp::rpc::factory_reset::FactoryReset),
            0,
        );
        assert!(
            matches!(&out.records[..], [proto::Record { kind: Some(Kind::RebootRequested(r)) }] if r.reason == REBOOT_REASON_FACTORY_RESET)
        );
    }

    #[test]
    fn unimplemented_methods_get_9000_and_are_not_advertised() {
        let mut h = AcsRequestHandler;
        let out = h.handle(
            &Body::GetParameterValues(GetParameterValues {
                parameter_names: vec!["Device.".into()],
            }),
            0,
        );
        assert!(matches!(out.response, Body::Fault(ref f) if f.code == 9000));
        let out = h.handle(&Body::GetRpcMethods(GetRpcMethods), 0);
        match out.response {
            Body::GetRpcMethodsResponse(r) => {
                assert!(!r.method_list.iter().any(|m| m == "GetParameterValues"))
            }
            other => panic!("{other:?}"),
        }
    }
}
