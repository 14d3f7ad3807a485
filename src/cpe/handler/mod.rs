//! The agent's answers to the ACS's requests: each RPC turned into journal records and a
//! response (the session journals the records before the response goes out). One file per
//! data-model RPC; the lifecycle RPCs are short enough to live here.

mod add_object;
mod cancel_transfer;
mod delete_object;
mod download;
mod get_all_queued_transfers;
mod get_parameter_attributes;
mod get_parameter_names;
mod get_parameter_values;
mod get_queued_transfers;
mod schedule_download;
mod set_parameter_attributes;
pub mod set_parameter_values;
pub mod transfer_policy;
mod upload;

pub use transfer_policy::TransferSupport;

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::cwmp::rpc::factory_reset::FactoryResetResponse;
use crate::cwmp::rpc::get_rpc_methods::GetRpcMethodsResponse;
use crate::cwmp::rpc::reboot::RebootResponse;
use crate::cwmp::rpc::schedule_inform::ScheduleInformResponse;
use crate::cwmp::{Body, Fault, FaultCode};
use crate::datamodel::external::ExternalCalls;
use crate::datamodel::{DataModel, Entry, View};
use crate::records::proto::{self, record::Kind};
use crate::session::{Handled, RequestHandler};
use crate::state::settings::Settings;
use crate::state::{AgentState, REBOOT_REASON_FACTORY_RESET, record};

/// The ACS→CPE methods this agent implements (the GetRPCMethodsResponse).
pub const SUPPORTED_METHODS: &[&str] = &[
    "GetRPCMethods",
    "GetParameterValues",
    "GetParameterNames",
    "SetParameterValues",
    "GetParameterAttributes",
    "SetParameterAttributes",
    "AddObject",
    "DeleteObject",
    "ScheduleInform",
    "Reboot",
    "FactoryReset",
    "Download",
    "Upload",
    "ScheduleDownload",
    "CancelTransfer",
    "GetQueuedTransfers",
    "GetAllQueuedTransfers",
];

/// Answers ACS requests for one session. Built afresh for every ACS message, over the state
/// folded so far: a GetParameterValues after a SetParameterValues in the same session sees the
/// new values, because the session has journaled — and the core folded — the SetParameterValues
/// records before it reads the next request.
pub struct AcsRequestHandler<'a> {
    pub model: &'a DataModel,
    pub factory_settings: &'a BTreeMap<String, String>,
    /// The effective settings of `state` when the caller has them (saves a copy per request);
    /// `None`: made from `state` and `factory_settings`.
    pub settings: Option<&'a Settings>,
    pub connection_request_url: &'a str,
    /// The XMPP connection as the running agent sees it.
    pub xmpp: &'a crate::datamodel::XmppLive,
    pub state: &'a AgentState,
    pub transfers: TransferSupport,
    /// Where external-provider calls go (the core's memo; a test's direct runner).
    pub externals: &'a dyn ExternalCalls,
    /// The UDP echo responder's counters (UDPEchoConfig's read-only values).
    pub udp_echo: crate::diagnostics::UdpEchoStats,
}

impl std::fmt::Debug for AcsRequestHandler<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcsRequestHandler").finish_non_exhaustive()
    }
}

/// Every parameter at or below `name` (a parameter, a partial path or `""`).
pub(crate) fn parameters_under(view: &View, name: &str) -> Result<Vec<Entry>, Fault> {
    Ok(view
        .names(name, false)?
        .into_iter()
        .filter(|e| !matches!(e, Entry::Object { .. }))
        .collect())
}

impl AcsRequestHandler<'_> {
    fn answer(&mut self, request: &Body, now_ms: u64) -> Result<(Vec<proto::Record>, Body), Fault> {
        let settings = match self.settings {
            Some(settings) => Cow::Borrowed(settings),
            None => Cow::Owned(self.state.effective_settings(self.factory_settings)),
        };
        let mut view = View::with_settings(
            self.model,
            self.state,
            settings,
            self.connection_request_url,
            now_ms,
            self.externals,
        )
        .with_xmpp(self.xmpp);
        view.udp_echo = self.udp_echo;
        match request {
            Body::GetParameterValues(r) => Ok((Vec::new(), get_parameter_values::apply(&view, r)?)),
            Body::GetParameterNames(r) => Ok((Vec::new(), get_parameter_names::apply(&view, r)?)),
            Body::GetParameterAttributes(r) => {
                Ok((Vec::new(), get_parameter_attributes::apply(&view, r)?))
            }
            Body::SetParameterValues(r) => set_parameter_values::apply(&view, r),
            Body::SetParameterAttributes(r) => set_parameter_attributes::apply(&view, r),
            Body::AddObject(r) => add_object::apply(&view, r),
            Body::DeleteObject(r) => delete_object::apply(&view, r),
            Body::Download(r) => download::apply(&view, &self.transfers, r),
            Body::Upload(r) => upload::apply(&view, &self.transfers, r),
            Body::ScheduleDownload(r) => schedule_download::apply(&view, &self.transfers, r),
            Body::CancelTransfer(r) => cancel_transfer::apply(&view, r),
            Body::GetQueuedTransfers(_) => Ok((Vec::new(), get_queued_transfers::apply(&view))),
            Body::GetAllQueuedTransfers(_) => {
                Ok((Vec::new(), get_all_queued_transfers::apply(&view)))
            }
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

impl RequestHandler for AcsRequestHandler<'_> {
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
mod tests;
