//! External providers: an executable that owns a subtree of the data model, speaking JSON on
//! stdin/stdout.
//!
//! One process per call: the agent writes one request object to the provider's stdin, closes
//! it, reads one answer object from its stdout and waits for it to exit. No state survives a
//! call, so a provider that crashes, hangs or is upgraded between two calls costs one fault and
//! nothing more. The protocol is documented for integrators in `docs/external-provider.md`.
//!
//! Everything here blocks (std::process): callers run it on a blocking-friendly thread.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use crate::cwmp::value::parse_typed;
use crate::cwmp::{Fault, FaultCode, SetParameterValuesFault, XsdType};

/// The `version` field of every request; bumped only for incompatible changes.
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest answer accepted. Big enough for a full routing or NAT table, small enough that a
/// runaway provider cannot exhaust a router's memory.
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// How much of the provider's stderr is kept for error messages (the rest is drained unread).
pub const MAX_STDERR_BYTES: usize = 4 * 1024;

/// cwmp-1-*.xsd caps FaultString (and SetParameterValuesFault's FaultString) at 256 characters;
/// an ACS validating the schema would reject a longer one.
const FAULT_STRING_MAX_CHARS: usize = 256;

/// How long to wait for the stderr reader once the answer is in: stderr is only needed to
/// explain a failure, and a background process that inherited it must not hold up the caller.
const STDERR_GRACE: Duration = Duration::from_millis(500);

/// The upper bound of the exit-status polling interval once stdout is closed: short, because
/// the provider normally exits right after closing stdout.
const MAX_EXIT_POLL: Duration = Duration::from_millis(20);

/// One configured provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalProvider {
    /// The subtree it owns, ending in `.` (e.g. `Device.X_ACME_Firewall.` or `Device.NAT.`).
    pub subtree: String,
    pub command: PathBuf,
    pub args: Vec<String>,
    pub timeout: Duration,
}

/// A parameter or object the provider reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalNode {
    /// Full name; objects end in `.`.
    pub name: String,
    pub writable: bool,
    /// Parameters only.
    pub xsd_type: Option<XsdType>,
}

/// A parameter value the provider reports or is asked to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalValue {
    pub name: String,
    pub value: String,
    pub xsd_type: XsdType,
}

/// One call to a provider: which provider (its index in the model's list) and what to do.
///
/// The data model never runs a provider itself: it asks an [`ExternalCalls`] port. The daemon's
/// port runs the executable (off the async workers); the per-device core's port answers from
/// the results the edge fed back and records the first call it could not answer, so the core
/// stays free of I/O (see `cpe::external_memo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalCall {
    pub provider: usize,
    pub op: ExternalOp,
}

/// What an [`ExternalCall`] asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternalOp {
    List(String),
    Get(Vec<String>),
    Set(Vec<ExternalValue>),
    Add(String),
    Delete(String),
}

/// A provider's successful answer to an [`ExternalCall`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternalAnswer {
    Nodes(Vec<ExternalNode>),
    Values(Vec<ExternalValue>),
    /// Set: whether a reboot is needed for the values to take effect.
    Set(bool),
    Added(u32),
    Deleted,
}

/// A call's outcome as the data model uses it: the answer, or the fault the ACS gets.
pub type ExternalResult = Result<ExternalAnswer, Fault>;

/// Where the data model's external-provider calls go.
pub trait ExternalCalls {
    fn call(&self, providers: &[ExternalProvider], call: ExternalCall) -> ExternalResult;
}

/// Runs each call at once, in the calling thread (it blocks: the daemon uses it only on the
/// blocking pool, the offline CLI and tests directly).
#[derive(Debug, Clone, Copy, Default)]
pub struct RunProviders;

impl ExternalCalls for RunProviders {
    fn call(&self, providers: &[ExternalProvider], call: ExternalCall) -> ExternalResult {
        let provider = providers.get(call.provider).ok_or_else(|| {
            Fault::with_string(FaultCode::InternalError, "no such external provider")
        })?;
        provider.execute(&call.op)
    }
}

/// Why a provider call failed; `to_fault` maps it to the CWMP fault the ACS gets.
#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    #[error("cannot run {command}: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("{command} did not answer within {timeout:?}")]
    Timeout { command: String, timeout: Duration },
    #[error("{command} answered something that is not the protocol: {detail}")]
    Protocol { command: String, detail: String },
    /// The provider refused: a CWMP fault code, a message and, for set, per-parameter faults.
    #[error("{message}")]
    Refused {
        code: u32,
        message: String,
        parameter_faults: Vec<(String, u32, String)>,
    },
}

impl ExternalError {
    pub fn to_fault(&self) -> Fault {
        match self {
            ExternalError::Spawn { command, source } => internal_error(format!(
                "external provider {command}: cannot run it: {source}"
            )),
            ExternalError::Timeout { command, timeout } => internal_error(format!(
                "external provider {command}: no answer within {timeout:?}"
            )),
            // The detail may end with the provider's stderr: the FaultString bound keeps what
            // reaches the ACS to ~200 characters of it.
            ExternalError::Protocol { command, detail } => {
                internal_error(format!("external provider {command}: {detail}"))
            }
            ExternalError::Refused {
                message,
                parameter_faults,
                ..
            } if !parameter_faults.is_empty() => {
                let faults = parameter_faults
                    .iter()
                    .map(|(name, code, message)| parameter_fault(name, *code, message))
                    .collect();
                let mut fault = Fault::set_parameter_values(faults);
                if !message.is_empty() {
                    fault.string = bounded(message, FAULT_STRING_MAX_CHARS);
                }
                fault
            }
            ExternalError::Refused { code, message, .. } => match cpe_fault(*code, message) {
                Some(fault) => fault,
                None => internal_error(format!(
                    "external provider refused with {code}, which is not a CPE fault code: \
                     {message}"
                )),
            },
        }
    }
}

/// Whether `code` may be sent to an ACS by a CPE: a code the schemas define in 9000–9799, or a
/// vendor code (9800–9899). Reserved-but-undefined codes and the ACS's 8xxx codes are not.
pub fn is_cpe_fault_code(code: u32) -> bool {
    match code {
        9000..=9799 => FaultCode::from_code(code).is_some(),
        9800..=9899 => true,
        _ => false,
    }
}

/// The fault for a provider's own code, if it is one a CPE may send.
fn cpe_fault(code: u32, message: &str) -> Option<Fault> {
    if !is_cpe_fault_code(code) {
        return None;
    }
    let string = bounded(message, FAULT_STRING_MAX_CHARS);
    Some(match FaultCode::from_code(code) {
        Some(known) => Fault::with_string(known, string),
        // Vendor codes have no name; "Server" says the CPE, not the request, is at fault, which
        // is the only safe guess for a code whose meaning the agent does not know.
        None => Fault {
            code,
            ..Fault::with_string(FaultCode::InternalError, string)
        },
    })
}

fn parameter_fault(name: &str, code: u32, message: &str) -> SetParameterValuesFault {
    let detail = (!message.is_empty()).then_some(message);
    let mut fault = if !is_cpe_fault_code(code) {
        let detail = format!("provider answered fault code {code}: {message}");
        SetParameterValuesFault::new(name, FaultCode::InternalError, Some(&detail))
    } else {
        match FaultCode::from_code(code) {
            Some(known) => SetParameterValuesFault::new(name, known, detail),
            None => SetParameterValuesFault {
                parameter_name: name.to_owned(),
                fault_code: code,
                fault_string: message.to_owned(),
            },
        }
    };
    fault.fault_string = bounded(&fault.fault_string, FAULT_STRING_MAX_CHARS);
    fault
}

fn internal_error(string: String) -> Fault {
    Fault::with_string(
        FaultCode::InternalError,
        bounded(&string, FAULT_STRING_MAX_CHARS),
    )
}

/// `text` cut to at most `max` characters, marked with `…` when cut.
fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((cut, _)) if text.chars().count() > max => format!("{}…", &text[..cut]),
        _ => text.to_owned(),
    }
}

impl ExternalProvider {
    /// Whether `name` (a parameter, an object or a partial path) lies in this provider's subtree.
    pub fn owns(&self, name: &str) -> bool {
        name.starts_with(self.subtree.as_str())
    }

    /// Every parameter and object under `path` (all levels).
    pub fn list(&self, path: &str) -> Result<Vec<ExternalNode>, ExternalError> {
        self.list_via(path, &Via::Process)
    }

    fn list_via(&self, path: &str, via: &Via<'_>) -> Result<Vec<ExternalNode>, ExternalError> {
        let answer: ListAnswer = self.call(&Op::List { path }, via)?;
        answer
            .nodes
            .into_iter()
            .map(|node| {
                self.check_name(&node.name, path)?;
                let is_object = node.name.ends_with('.');
                let xsd_type = match (is_object, node.xsd_type) {
                    (true, None) => None,
                    (true, Some(_)) => {
                        return Err(self.protocol(format!(
                            "object {:?} has a type (only parameters have one)",
                            node.name
                        )));
                    }
                    (false, None) => {
                        return Err(self.protocol(format!("parameter {:?} has no type", node.name)));
                    }
                    (false, Some(wire)) => Some(self.known_type(&node.name, &wire)?),
                };
                Ok(ExternalNode {
                    name: node.name,
                    writable: node.writable,
                    xsd_type,
                })
            })
            .collect()
    }

    /// The values of the named parameters, or of everything under partial paths ending in `.`.
    pub fn get(&self, names: &[String]) -> Result<Vec<ExternalValue>, ExternalError> {
        self.get_via(names, &Via::Process)
    }

    fn get_via(
        &self,
        names: &[String],
        via: &Via<'_>,
    ) -> Result<Vec<ExternalValue>, ExternalError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let answer: GetAnswer = self.call(&Op::Get { names }, via)?;
        let full: HashSet<&str> = names
            .iter()
            .filter(|n| !n.ends_with('.'))
            .map(String::as_str)
            .collect();
        let partial: Vec<&str> = names
            .iter()
            .filter(|n| n.ends_with('.'))
            .map(String::as_str)
            .collect();
        let mut answered = HashSet::new();
        let mut values = Vec::with_capacity(answer.values.len());
        for wire in answer.values {
            self.check_name(&wire.name, &self.subtree)?;
            if wire.name.ends_with('.') {
                return Err(self.protocol(format!(
                    "answered object {:?} where a parameter value was expected",
                    wire.name
                )));
            }
            let requested = full.contains(wire.name.as_str())
                || partial.iter().any(|p| wire.name.starts_with(p));
            if !requested {
                return Err(self.protocol(format!("answered {:?}, which was not asked", wire.name)));
            }
            let xsd_type = self.known_type(&wire.name, &wire.xsd_type)?;
            let value = wire.value.into_text();
            if let Err(e) = parse_typed(&xsd_type, &value) {
                return Err(self.protocol(format!("value of {:?}: {e}", wire.name)));
            }
            if full.contains(wire.name.as_str()) {
                answered.insert(wire.name.clone());
            }
            values.push(ExternalValue {
                name: wire.name,
                value,
                xsd_type,
            });
        }
        // A provider that silently drops a name would make the agent answer the ACS with fewer
        // values than it asked for: it must either answer each or refuse (9005).
        if let Some(missing) = names
            .iter()
            .find(|n| !n.ends_with('.') && !answered.contains(n.as_str()))
        {
            return Err(self.protocol(format!("did not answer {missing:?}")));
        }
        Ok(values)
    }

    /// Sets all the values or none; returns whether a reboot is needed for them to take effect.
    pub fn set(&self, values: &[ExternalValue]) -> Result<bool, ExternalError> {
        self.set_via(values, &Via::Process)
    }

    fn set_via(&self, values: &[ExternalValue], via: &Via<'_>) -> Result<bool, ExternalError> {
        if values.is_empty() {
            return Ok(false);
        }
        let wire: Vec<WireValueOut<'_>> = values
            .iter()
            .map(|v| WireValueOut {
                name: &v.name,
                value: &v.value,
                xsd_type: request_type_name(&v.xsd_type),
            })
            .collect();
        let answer: SetAnswer = match self.call(&Op::Set { values: wire }, via) {
            Ok(answer) => answer,
            Err(ExternalError::Refused {
                code,
                message,
                parameter_faults,
            }) => {
                // A per-parameter fault for a name the ACS did not set would be meaningless to
                // it (and would hide which of its parameters failed).
                if let Some((name, ..)) = parameter_faults
                    .iter()
                    .find(|(name, ..)| !values.iter().any(|v| &v.name == name))
                {
                    return Err(self.protocol(format!(
                        "refused the set with a fault for {name:?}, which was not being set"
                    )));
                }
                return Err(ExternalError::Refused {
                    code,
                    message,
                    parameter_faults,
                });
            }
            Err(e) => return Err(e),
        };
        match answer.status {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(self.protocol(format!("answered status {other} (0 or 1 expected)"))),
        }
    }

    /// Creates an instance of the table `object` (ending in `.`); returns its number.
    pub fn add(&self, object: &str) -> Result<u32, ExternalError> {
        self.add_via(object, &Via::Process)
    }

    fn add_via(&self, object: &str, via: &Via<'_>) -> Result<u32, ExternalError> {
        let answer: AddAnswer = self
            .call(&Op::Add { object }, via)
            .map_err(without_parameters)?;
        if answer.instance == 0 {
            return Err(self.protocol("answered instance 0 (instance numbers start at 1)".into()));
        }
        Ok(answer.instance)
    }

    /// Deletes the instance `object` (ending in `.`).
    pub fn delete(&self, object: &str) -> Result<(), ExternalError> {
        self.delete_via(object, &Via::Process)
    }

    fn delete_via(&self, object: &str, via: &Via<'_>) -> Result<(), ExternalError> {
        let _: Map<String, Json> = self
            .call(&Op::Delete { object }, via)
            .map_err(without_parameters)?;
        Ok(())
    }

    /// Runs one [`ExternalOp`]; a failure is the fault the ACS gets.
    pub fn execute(&self, op: &ExternalOp) -> ExternalResult {
        self.execute_via(op, &Via::Process)
    }

    /// What [`execute`](Self::execute) makes of a provider's answer once the process has exited:
    /// the same checks (names inside the subtree and asked for, known types, parseable values,
    /// well-formed refusals), without running anything.
    pub fn read_reply(&self, op: &ExternalOp, reply: &ProviderReply<'_>) -> ExternalResult {
        self.execute_via(op, &Via::Reply(reply))
    }

    fn execute_via(&self, op: &ExternalOp, via: &Via<'_>) -> ExternalResult {
        let answer = match op {
            ExternalOp::List(path) => self.list_via(path, via).map(ExternalAnswer::Nodes),
            ExternalOp::Get(names) => self.get_via(names, via).map(ExternalAnswer::Values),
            ExternalOp::Set(values) => self.set_via(values, via).map(ExternalAnswer::Set),
            ExternalOp::Add(object) => self.add_via(object, via).map(ExternalAnswer::Added),
            ExternalOp::Delete(object) => self
                .delete_via(object, via)
                .map(|()| ExternalAnswer::Deleted),
        };
        answer.map_err(|e| e.to_fault())
    }

    /// Runs one request (or takes the answer in hand) and decodes its answer, or the provider's
    /// refusal.
    fn call<T: DeserializeOwned>(&self, op: &Op<'_>, via: &Via<'_>) -> Result<T, ExternalError> {
        match via {
            Via::Process => {
                let request = Request {
                    version: PROTOCOL_VERSION,
                    op,
                };
                let mut input = serde_json::to_vec(&request)
                    .map_err(|e| self.protocol(format!("cannot encode the request: {e}")))?;
                input.push(b'\n');
                let run = self.run(input)?;
                self.decode(op, run.status, &run.stdout, &|| run.stderr_suffix())
            }
            Via::Reply(reply) => {
                let status = if reply.exited_successfully {
                    "exited successfully".to_owned()
                } else {
                    "exited with a failure status".to_owned()
                };
                let stderr = || stderr_suffix_of(reply.stderr);
                self.decode_reply(
                    op,
                    reply.exited_successfully,
                    &status,
                    reply.stdout,
                    &stderr,
                )
            }
        }
    }

    fn decode<T: DeserializeOwned>(
        &self,
        op: &Op<'_>,
        status: ExitStatus,
        stdout: &[u8],
        stderr_suffix: &dyn Fn() -> String,
    ) -> Result<T, ExternalError> {
        self.decode_reply(
            op,
            status.success(),
            &status.to_string(),
            stdout,
            stderr_suffix,
        )
    }

    /// Decodes an answer: `status` words the exit status for messages.
    fn decode_reply<T: DeserializeOwned>(
        &self,
        op: &Op<'_>,
        success: bool,
        status: &str,
        stdout: &[u8],
        stderr_suffix: &dyn Fn() -> String,
    ) -> Result<T, ExternalError> {
        let answer = match serde_json::from_slice::<Json>(stdout) {
            Ok(Json::Object(map)) => Some(map),
            _ => None,
        };
        let map = match answer {
            Some(mut map) => {
                if let Some(error) = map.remove("error") {
                    let refused = self.refusal(error)?;
                    if !matches!(op, Op::Set { .. }) {
                        return Err(without_parameters(refused));
                    }
                    return Err(refused);
                }
                if !success {
                    return Err(self.protocol(format!(
                        "{status} without an error object{}",
                        stderr_suffix()
                    )));
                }
                map
            }
            None if !success => {
                return Err(self.protocol(format!("{status}{}", stderr_suffix())));
            }
            None => {
                let why = match serde_json::from_slice::<Json>(stdout) {
                    Ok(_) => "the answer is not a JSON object".to_owned(),
                    Err(e) => format!("the answer is not JSON ({e})"),
                };
                return Err(self.protocol(format!("{why}{}", stderr_suffix())));
            }
        };
        serde_json::from_value(Json::Object(map))
            .map_err(|e| self.protocol(format!("malformed answer: {e}")))
    }

    /// Reads `{"code":…,"message":…,"parameters":[…]}`.
    fn refusal(&self, error: Json) -> Result<ExternalError, ExternalError> {
        let error: WireError = serde_json::from_value(error)
            .map_err(|e| self.protocol(format!("malformed error object: {e}")))?;
        let mut parameter_faults = Vec::with_capacity(error.parameters.len());
        for p in error.parameters {
            self.check_name(&p.name, &self.subtree)?;
            parameter_faults.push((p.name, p.code, p.message));
        }
        let message = if error.message.is_empty() {
            FaultCode::from_code(error.code)
                .map_or_else(|| format!("fault {}", error.code), |c| c.name().to_owned())
        } else {
            error.message
        };
        Ok(ExternalError::Refused {
            code: error.code,
            message,
            parameter_faults,
        })
    }

    /// Runs the command with `input` on stdin and collects its answer, within the timeout.
    fn run(&self, input: Vec<u8>) -> Result<RunOutput, ExternalError> {
        // A timeout too large to add to the clock means "no timeout", not a panic.
        let deadline = Instant::now().checked_add(self.timeout);
        let mut child = Command::new(&self.command)
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| self.spawn_error(source))?;
        let pipes = match (child.stdin.take(), child.stdout.take(), child.stderr.take()) {
            (Some(stdin), Some(stdout), Some(stderr)) => (stdin, stdout, stderr),
            _ => {
                kill_and_reap(&mut child);
                return Err(self.spawn_error(io::Error::other("its stdio pipes are missing")));
            }
        };
        let (stdout_rx, stderr_rx) = match spawn_pipe_threads(input, pipes) {
            Ok(receivers) => receivers,
            Err(source) => {
                kill_and_reap(&mut child);
                return Err(self.spawn_error(source));
            }
        };

        let stdout = match recv_until(&stdout_rx, deadline) {
            Ok(Ok(bytes)) if bytes.len() > MAX_ANSWER_BYTES => {
                kill_and_reap(&mut child);
                return Err(self.protocol(format!("the answer exceeds {MAX_ANSWER_BYTES} bytes")));
            }
            Ok(Ok(bytes)) => bytes,
            Ok(Err(e)) => {
                kill_and_reap(&mut child);
                return Err(self.protocol(format!("cannot read its answer: {e}")));
            }
            Err(RecvTimeoutError::Timeout) => {
                kill_and_reap(&mut child);
                return Err(self.timeout_error());
            }
            Err(RecvTimeoutError::Disconnected) => {
                kill_and_reap(&mut child);
                return Err(self.protocol("the answer reader stopped".into()));
            }
        };
        let status = self.wait_until(&mut child, deadline)?;
        Ok(RunOutput {
            status,
            stdout,
            stderr: stderr_rx,
        })
    }

    /// Waits for the child to exit; kills it at the deadline.
    fn wait_until(
        &self,
        child: &mut Child,
        deadline: Option<Instant>,
    ) -> Result<ExitStatus, ExternalError> {
        // std has no wait-with-timeout; polling is cheap here because stdout is already closed,
        // so the provider is at most a few milliseconds from exiting.
        let mut pause = Duration::from_millis(1);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) => {}
                Err(e) => {
                    kill_and_reap(child);
                    return Err(self.protocol(format!("cannot wait for it: {e}")));
                }
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => MAX_EXIT_POLL,
            };
            if left.is_zero() {
                kill_and_reap(child);
                return Err(self.timeout_error());
            }
            thread::sleep(pause.min(left));
            pause = (pause * 2).min(MAX_EXIT_POLL);
        }
    }

    /// Checks an answered name: well formed, inside the subtree and under `scope`, so that a
    /// provider can never put values into a part of the data model it does not own.
    fn check_name(&self, name: &str, scope: &str) -> Result<(), ExternalError> {
        if !is_well_formed_name(name) {
            return Err(self.protocol(format!("answered a malformed name {name:?}")));
        }
        if !self.owns(name) {
            return Err(self.protocol(format!(
                "answered {name:?}, which is outside its subtree {}",
                self.subtree
            )));
        }
        if !name.starts_with(scope) {
            return Err(self.protocol(format!("answered {name:?}, which is not under {scope}")));
        }
        Ok(())
    }

    fn known_type(&self, name: &str, wire: &str) -> Result<XsdType, ExternalError> {
        match XsdType::from_wire(wire) {
            XsdType::Other(_) => {
                Err(self.protocol(format!("answered an unknown type {wire:?} for {name:?}")))
            }
            known => Ok(known),
        }
    }

    fn command_name(&self) -> String {
        self.command.display().to_string()
    }

    fn protocol(&self, detail: String) -> ExternalError {
        ExternalError::Protocol {
            command: self.command_name(),
            detail,
        }
    }

    fn spawn_error(&self, source: io::Error) -> ExternalError {
        ExternalError::Spawn {
            command: self.command_name(),
            source,
        }
    }

    fn timeout_error(&self) -> ExternalError {
        ExternalError::Timeout {
            command: self.command_name(),
            timeout: self.timeout,
        }
    }
}

/// Per-parameter faults only mean something for a set: dropped elsewhere so that `to_fault`
/// never answers a GetParameterValues or AddObject with the SetParameterValues fault form.
fn without_parameters(e: ExternalError) -> ExternalError {
    match e {
        ExternalError::Refused { code, message, .. } => ExternalError::Refused {
            code,
            message,
            parameter_faults: Vec::new(),
        },
        other => other,
    }
}

/// TR-106 names: dot-separated segments of letters, digits, `_` and `-` (instance numbers are
/// digits); objects end with `.`.
pub fn is_well_formed_name(name: &str) -> bool {
    let body = name.strip_suffix('.').unwrap_or(name);
    !body.is_empty()
        && body.split('.').all(|segment| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
}

/// The type name sent to providers: always `xsd:` + the bare name, so that a provider compares
/// one spelling (the agent writes base64 as `soap-enc:base64` on the CWMP wire).
fn request_type_name(t: &XsdType) -> String {
    format!("xsd:{}", t.name())
}

/// A provider's answer in hand (see [`ExternalProvider::read_reply`]).
#[derive(Debug, Clone, Copy)]
pub struct ProviderReply<'a> {
    /// The process exited with status 0.
    pub exited_successfully: bool,
    pub stdout: &'a [u8],
    /// What it wrote to stderr (quoted in error messages only).
    pub stderr: &'a str,
}

/// Where a call's answer comes from.
enum Via<'a> {
    /// Run the provider's executable.
    Process,
    /// An answer already in hand.
    Reply(&'a ProviderReply<'a>),
}

/// `"; stderr: …"`, or nothing for an empty stderr.
fn stderr_suffix_of(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!("; stderr: {}", bounded(text, MAX_STDERR_BYTES))
    }
}

/// What a finished provider left behind.
struct RunOutput {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: Receiver<String>,
}

impl RunOutput {
    /// `"; stderr: …"`, or nothing when the provider wrote nothing to stderr.
    fn stderr_suffix(&self) -> String {
        let text = self.stderr.recv_timeout(STDERR_GRACE).unwrap_or_default();
        stderr_suffix_of(&text)
    }
}

type StdoutResult = io::Result<Vec<u8>>;

/// Feeds stdin and drains stdout and stderr on their own threads: a provider that writes a large
/// answer before reading its whole request (or fills stderr) would otherwise deadlock with us.
fn spawn_pipe_threads(
    input: Vec<u8>,
    (mut stdin, stdout, mut stderr): (ChildStdin, ChildStdout, ChildStderr),
) -> io::Result<(Receiver<StdoutResult>, Receiver<String>)> {
    thread::Builder::new()
        .name("ext-provider-in".into())
        .spawn(move || {
            // A write error is not reported: a provider may answer (or fail) without reading its
            // request, and its answer and exit status say more than EPIPE would.
            let _ = stdin.write_all(&input);
            drop(stdin);
        })?;

    let (stdout_tx, stdout_rx) = mpsc::channel();
    thread::Builder::new()
        .name("ext-provider-out".into())
        .spawn(move || {
            let mut bytes = Vec::new();
            // One byte over the limit is enough to know it is too big; stopping there (and
            // dropping the pipe) means an oversized answer is refused without being buffered.
            let result = stdout
                .take(MAX_ANSWER_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
                .map(|_| bytes);
            let _ = stdout_tx.send(result);
        })?;

    let (stderr_tx, stderr_rx) = mpsc::channel();
    thread::Builder::new()
        .name("ext-provider-err".into())
        .spawn(move || {
            let mut kept = Vec::new();
            let _ = (&mut stderr)
                .take(MAX_STDERR_BYTES as u64)
                .read_to_end(&mut kept);
            let _ = stderr_tx.send(String::from_utf8_lossy(&kept).into_owned());
            // Keep draining so a chatty provider never blocks on a full stderr pipe.
            let _ = io::copy(&mut stderr, &mut io::sink());
        })?;
    Ok((stdout_rx, stderr_rx))
}

fn recv_until<T>(rx: &Receiver<T>, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
    match deadline {
        Some(d) => rx.recv_timeout(d.saturating_duration_since(Instant::now())),
        None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
    }
}

fn kill_and_reap(child: &mut Child) {
    // Both fail only if the child is already gone, which is the wanted outcome anyway.
    let _ = child.kill();
    let _ = child.wait();
}

#[derive(Serialize)]
struct Request<'a> {
    version: u32,
    #[serde(flatten)]
    op: &'a Op<'a>,
}

#[derive(Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Op<'a> {
    List { path: &'a str },
    Get { names: &'a [String] },
    Set { values: Vec<WireValueOut<'a>> },
    Add { object: &'a str },
    Delete { object: &'a str },
}

#[derive(Serialize)]
struct WireValueOut<'a> {
    name: &'a str,
    value: &'a str,
    #[serde(rename = "type")]
    xsd_type: String,
}

#[derive(Deserialize)]
struct ListAnswer {
    nodes: Vec<WireNode>,
}

#[derive(Deserialize)]
struct WireNode {
    name: String,
    /// Absent means read-only: the safe reading of a provider that did not say.
    #[serde(default)]
    writable: bool,
    #[serde(rename = "type")]
    xsd_type: Option<String>,
}

#[derive(Deserialize)]
struct GetAnswer {
    values: Vec<WireValueIn>,
}

#[derive(Deserialize)]
struct WireValueIn {
    name: String,
    value: WireScalar,
    #[serde(rename = "type")]
    xsd_type: String,
}

/// Values are strings on the wire, but JSON numbers and booleans are accepted because scripts
/// naturally emit them; their JSON text is the value's text.
#[derive(Deserialize)]
#[serde(untagged)]
enum WireScalar {
    Text(String),
    Bool(bool),
    Number(serde_json::Number),
}

impl WireScalar {
    fn into_text(self) -> String {
        match self {
            WireScalar::Text(s) => s,
            WireScalar::Bool(b) => b.to_string(),
            WireScalar::Number(n) => n.to_string(),
        }
    }
}

#[derive(Deserialize)]
struct SetAnswer {
    status: u64,
}

#[derive(Deserialize)]
struct AddAnswer {
    instance: u32,
}

#[derive(Deserialize)]
struct WireError {
    code: u32,
    #[serde(default)]
    message: String,
    #[serde(default)]
    parameters: Vec<WireParameterFault>,
}

#[derive(Deserialize)]
struct WireParameterFault {
    name: String,
    code: u32,
    #[serde(default)]
    message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBTREE: &str = "Device.X_TEST.";

    fn provider(script: &str, extra: &[&str]) -> ExternalProvider {
        let mut args = vec!["-c".to_owned(), script.to_owned(), "provider".to_owned()];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        ExternalProvider {
            subtree: SUBTREE.to_owned(),
            command: PathBuf::from("/bin/sh"),
            args,
            timeout: Duration::from_secs(10),
        }
    }

    /// A provider that reads its request and prints `json`.
    fn answering(json: &str) -> ExternalProvider {
        provider(&format!("cat >/dev/null; printf '%s\\n' '{json}'"), &[])
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn value(name: &str, value: &str, xsd_type: XsdType) -> ExternalValue {
        ExternalValue {
            name: name.to_owned(),
            value: value.to_owned(),
            xsd_type,
        }
    }

    #[track_caller]
    fn protocol_detail(result: Result<impl std::fmt::Debug, ExternalError>) -> String {
        match result {
            Err(ExternalError::Protocol { detail, .. }) => detail,
            other => panic!("expected a protocol error, got {other:?}"),
        }
    }

    #[test]
    fn list_reads_parameters_and_objects() {
        let p = answering(
            r#"{"nodes":[{"name":"Device.X_TEST.Bar","writable":true,"type":"xsd:string"},{"name":"Device.X_TEST.Count","type":"unsignedInt"},{"name":"Device.X_TEST.Rule.1.","writable":true}]}"#,
        );
        let nodes = p.list(SUBTREE).expect("list");
        assert_eq!(
            nodes,
            vec![
                ExternalNode {
                    name: "Device.X_TEST.Bar".into(),
                    writable: true,
                    xsd_type: Some(XsdType::String),
                },
                ExternalNode {
                    name: "Device.X_TEST.Count".into(),
                    writable: false,
                    xsd_type: Some(XsdType::UnsignedInt),
                },
                ExternalNode {
                    name: "Device.X_TEST.Rule.1.".into(),
                    writable: true,
                    xsd_type: None,
                },
            ]
        );
    }

    #[test]
    fn list_checks_types_and_scope() {
        let typed_object =
            answering(r#"{"nodes":[{"name":"Device.X_TEST.Rule.","type":"xsd:string"}]}"#);
        assert!(protocol_detail(typed_object.list(SUBTREE)).contains("has a type"));
        let untyped = answering(r#"{"nodes":[{"name":"Device.X_TEST.A"}]}"#);
        assert!(protocol_detail(untyped.list(SUBTREE)).contains("no type"));
        let unknown = answering(r#"{"nodes":[{"name":"Device.X_TEST.A","type":"xsd:float"}]}"#);
        assert!(protocol_detail(unknown.list(SUBTREE)).contains("unknown type"));
        let outside =
            answering(r#"{"nodes":[{"name":"Device.ManagementServer.URL","type":"string"}]}"#);
        assert!(protocol_detail(outside.list(SUBTREE)).contains("outside its subtree"));
        let sibling = answering(r#"{"nodes":[{"name":"Device.X_TEST.B","type":"string"}]}"#);
        assert!(protocol_detail(sibling.list("Device.X_TEST.A.")).contains("not under"));
        let malformed = answering(r#"{"nodes":[{"name":"Device.X_TEST..A","type":"string"}]}"#);
        assert!(protocol_detail(malformed.list(SUBTREE)).contains("malformed name"));
    }

    #[test]
    fn requests_are_one_versioned_json_object() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("request.json");
        let file_arg = file.to_str().expect("utf-8 temp path");
        let p = provider(r#"cat > "$1"; printf '{"status":1}'"#, &[file_arg]);
        let reboot = p
            .set(&[
                value("Device.X_TEST.Count", "7", XsdType::UnsignedInt),
                value("Device.X_TEST.Blob", "AAE=", XsdType::Base64),
            ])
            .expect("set");
        assert!(reboot);
        let request: Json =
            serde_json::from_slice(&std::fs::read(&file).expect("request file")).expect("json");
        assert_eq!(
            request,
            serde_json::json!({
                "version": 1,
                "op": "set",
                "values": [
                    {"name": "Device.X_TEST.Count", "value": "7", "type": "xsd:unsignedInt"},
                    {"name": "Device.X_TEST.Blob", "value": "AAE=", "type": "xsd:base64"},
                ],
            })
        );

        let p = provider(r#"cat > "$1"; printf '{"values":[]}'"#, &[file_arg]);
        p.get(&names(&["Device.X_TEST.Rule."])).expect("get");
        let request: Json =
            serde_json::from_slice(&std::fs::read(&file).expect("request file")).expect("json");
        assert_eq!(
            request,
            serde_json::json!({"version": 1, "op": "get", "names": ["Device.X_TEST.Rule."]})
        );

        let p = provider(r#"cat > "$1"; printf '{"instance":4}'"#, &[file_arg]);
        assert_eq!(p.add("Device.X_TEST.Rule.").expect("add"), 4);
        let request: Json =
            serde_json::from_slice(&std::fs::read(&file).expect("request file")).expect("json");
        assert_eq!(
            request,
            serde_json::json!({"version": 1, "op": "add", "object": "Device.X_TEST.Rule."})
        );
    }

    #[test]
    fn get_reads_values_including_json_scalars() {
        let p = answering(
            r#"{"values":[{"name":"Device.X_TEST.A","value":"x","type":"xsd:string"},{"name":"Device.X_TEST.Rule.1.Port","value":80,"type":"unsignedInt"},{"name":"Device.X_TEST.Rule.1.Enable","value":true,"type":"boolean"}]}"#,
        );
        let values = p
            .get(&names(&["Device.X_TEST.A", "Device.X_TEST.Rule."]))
            .expect("get");
        assert_eq!(
            values,
            vec![
                value("Device.X_TEST.A", "x", XsdType::String),
                value("Device.X_TEST.Rule.1.Port", "80", XsdType::UnsignedInt),
                value("Device.X_TEST.Rule.1.Enable", "true", XsdType::Boolean),
            ]
        );
    }

    #[test]
    fn get_rejects_values_it_may_not_give() {
        let outside = answering(
            r#"{"values":[{"name":"Device.ManagementServer.URL","value":"http://evil","type":"string"}]}"#,
        );
        let err = outside.get(&names(&[SUBTREE])).expect_err("outside");
        assert!(
            matches!(&err, ExternalError::Protocol { detail, .. } if detail.contains("outside its subtree"))
        );
        assert_eq!(err.to_fault().code, 9002);

        let unasked =
            answering(r#"{"values":[{"name":"Device.X_TEST.B","value":"1","type":"int"}]}"#);
        assert!(protocol_detail(unasked.get(&names(&["Device.X_TEST.A"]))).contains("not asked"));

        let missing =
            answering(r#"{"values":[{"name":"Device.X_TEST.A","value":"1","type":"int"}]}"#);
        let detail = protocol_detail(missing.get(&names(&["Device.X_TEST.A", "Device.X_TEST.B"])));
        assert!(
            detail.contains("did not answer \"Device.X_TEST.B\""),
            "{detail}"
        );

        let mistyped = answering(
            r#"{"values":[{"name":"Device.X_TEST.A","value":"-1","type":"unsignedInt"}]}"#,
        );
        assert!(
            protocol_detail(mistyped.get(&names(&["Device.X_TEST.A"]))).contains("not a valid")
        );

        let unknown = answering(
            r#"{"values":[{"name":"Device.X_TEST.A","value":"1","type":"xsd:decimal"}]}"#,
        );
        assert!(
            protocol_detail(unknown.get(&names(&["Device.X_TEST.A"]))).contains("unknown type")
        );

        let object =
            answering(r#"{"values":[{"name":"Device.X_TEST.R.","value":"","type":"string"}]}"#);
        assert!(protocol_detail(object.get(&names(&[SUBTREE]))).contains("object"));
    }

    #[test]
    fn garbage_and_malformed_answers_are_protocol_errors() {
        let garbage = provider("cat >/dev/null; echo 'hello, world'", &[]);
        let err = garbage.list(SUBTREE).expect_err("garbage");
        assert!(
            matches!(&err, ExternalError::Protocol { detail, .. } if detail.contains("not JSON"))
        );
        let fault = err.to_fault();
        assert_eq!(fault.code, 9002);
        assert!(fault.string.contains("/bin/sh"), "{}", fault.string);

        let array = answering("[1,2]");
        assert!(protocol_detail(array.list(SUBTREE)).contains("not a JSON object"));
        let silent = provider("cat >/dev/null", &[]);
        assert!(protocol_detail(silent.delete("Device.X_TEST.R.1.")).contains("not JSON"));
        let wrong_shape = answering(r#"{"nodes":"none"}"#);
        assert!(protocol_detail(wrong_shape.list(SUBTREE)).contains("malformed answer"));
        let bad_error = answering(r#"{"error":"no"}"#);
        assert!(protocol_detail(bad_error.list(SUBTREE)).contains("malformed error object"));
    }

    #[test]
    fn failing_exit_reports_status_and_stderr() {
        let p = provider("cat >/dev/null; echo 'UCI commit failed' >&2; exit 3", &[]);
        let err = p.get(&names(&["Device.X_TEST.A"])).expect_err("exit 3");
        let detail = match &err {
            ExternalError::Protocol { detail, .. } => detail.clone(),
            other => panic!("{other:?}"),
        };
        assert!(detail.contains("exit status: 3"), "{detail}");
        assert!(detail.contains("UCI commit failed"), "{detail}");
        let fault = err.to_fault();
        assert_eq!(fault.code, 9002);
        assert!(
            fault.string.contains("UCI commit failed"),
            "{}",
            fault.string
        );

        // A valid answer does not excuse a failing exit: the provider may have died half-way.
        let p = provider(r#"cat >/dev/null; printf '{"instance":2}'; exit 1"#, &[]);
        assert!(protocol_detail(p.add("Device.X_TEST.R.")).contains("without an error object"));
    }

    #[test]
    fn stderr_reaching_the_acs_is_bounded() {
        let p = provider(
            "cat >/dev/null; i=0; while [ $i -lt 200 ]; do printf 'secret-secret-secret-secret-' >&2; i=$((i+1)); done; exit 1",
            &[],
        );
        let err = p.list(SUBTREE).expect_err("exit 1");
        // The log message keeps up to 4 KiB of stderr; the FaultString only a prefix of it.
        assert!(err.to_string().len() > 4000);
        assert!(err.to_string().len() < 4200);
        let fault = err.to_fault();
        assert!(fault.string.chars().count() <= 256, "{}", fault.string);
        assert!(fault.string.ends_with('…'));
    }

    #[test]
    fn an_error_object_is_a_refusal_whatever_the_exit_status() {
        let p = provider(
            r#"cat >/dev/null; printf '{"error":{"code":9005,"message":"no such rule"}}'; exit 1"#,
            &[],
        );
        let err = p.delete("Device.X_TEST.Rule.9.").expect_err("refused");
        assert!(
            matches!(&err, ExternalError::Refused { code: 9005, message, parameter_faults } if message == "no such rule" && parameter_faults.is_empty())
        );
        let fault = err.to_fault();
        assert_eq!(fault.code, 9005);
        assert_eq!(fault.string, "no such rule");
        assert_eq!(fault.soap_faultcode, "Client");
    }

    #[test]
    fn refusal_codes_are_checked() {
        let refusal = |code: u32| {
            let p = answering(&format!(r#"{{"error":{{"code":{code},"message":"m"}}}}"#));
            p.add("Device.X_TEST.R.").expect_err("refused").to_fault()
        };
        assert_eq!(refusal(9001).code, 9001);
        let vendor = refusal(9850);
        assert_eq!(
            (vendor.code, vendor.soap_faultcode.as_str()),
            (9850, "Server")
        );
        for invalid in [0, 1, 8001, 9500, 9900, 10000] {
            let fault = refusal(invalid);
            assert_eq!(fault.code, 9002, "{invalid}");
            assert!(
                fault.string.contains(&invalid.to_string()),
                "{}",
                fault.string
            );
        }
        let unnamed = answering(r#"{"error":{"code":9004}}"#);
        let err = unnamed.add("Device.X_TEST.R.").expect_err("refused");
        assert_eq!(err.to_string(), "Resources exceeded");
        let long = answering(&format!(
            r#"{{"error":{{"code":9001,"message":"{}"}}}}"#,
            "é".repeat(400)
        ));
        let fault = long
            .add("Device.X_TEST.R.")
            .expect_err("refused")
            .to_fault();
        assert_eq!(fault.string.chars().count(), 256);
    }

    #[test]
    fn a_refused_set_becomes_the_set_parameter_values_fault() {
        let p = answering(
            r#"{"error":{"code":9003,"message":"Invalid arguments","parameters":[{"name":"Device.X_TEST.Level","code":9007,"message":"Extreme is not a level"},{"name":"Device.X_TEST.Count","code":9008}]}}"#,
        );
        let err = p
            .set(&[
                value("Device.X_TEST.Level", "Extreme", XsdType::String),
                value("Device.X_TEST.Count", "1", XsdType::UnsignedInt),
            ])
            .expect_err("refused");
        let fault = err.to_fault();
        assert_eq!(fault.code, 9003);
        assert_eq!(
            fault.set_parameter_values_faults,
            vec![
                SetParameterValuesFault {
                    parameter_name: "Device.X_TEST.Level".into(),
                    fault_code: 9007,
                    fault_string: "Invalid parameter value: Extreme is not a level".into(),
                },
                SetParameterValuesFault::new(
                    "Device.X_TEST.Count",
                    FaultCode::NonWritableParameter,
                    None
                ),
            ]
        );

        let bad_code = answering(
            r#"{"error":{"code":9003,"parameters":[{"name":"Device.X_TEST.A","code":42,"message":"?"}]}}"#,
        );
        let fault = bad_code
            .set(&[value("Device.X_TEST.A", "1", XsdType::Int)])
            .expect_err("refused")
            .to_fault();
        assert_eq!(fault.set_parameter_values_faults[0].fault_code, 9002);

        let stranger = answering(
            r#"{"error":{"code":9003,"parameters":[{"name":"Device.X_TEST.B","code":9007}]}}"#,
        );
        let detail = protocol_detail(stranger.set(&[value("Device.X_TEST.A", "1", XsdType::Int)]));
        assert!(detail.contains("not being set"), "{detail}");
        let outside = answering(
            r#"{"error":{"code":9003,"parameters":[{"name":"Device.Other.A","code":9007}]}}"#,
        );
        let detail = protocol_detail(outside.set(&[value("Device.Other.A", "1", XsdType::Int)]));
        assert!(detail.contains("outside its subtree"), "{detail}");
    }

    #[test]
    fn parameter_faults_outside_a_set_are_dropped() {
        let p = answering(
            r#"{"error":{"code":9005,"message":"unknown","parameters":[{"name":"Device.X_TEST.A","code":9005}]}}"#,
        );
        let fault = p
            .get(&names(&["Device.X_TEST.A"]))
            .expect_err("refused")
            .to_fault();
        assert_eq!(fault.code, 9005);
        assert!(fault.set_parameter_values_faults.is_empty());
    }

    #[test]
    fn set_add_and_delete_answers_are_checked() {
        let one = [value("Device.X_TEST.A", "1", XsdType::Int)];
        assert!(!answering(r#"{"status":0}"#).set(&one).expect("status 0"));
        assert!(answering(r#"{"status":1}"#).set(&one).expect("status 1"));
        assert!(protocol_detail(answering(r#"{"status":2}"#).set(&one)).contains("status 2"));
        assert!(protocol_detail(answering("{}").set(&one)).contains("status"));
        assert!(
            protocol_detail(answering(r#"{"instance":0}"#).add("Device.X_TEST.R."))
                .contains("instance 0")
        );
        assert!(
            protocol_detail(answering(r#"{"instance":-3}"#).add("Device.X_TEST.R."))
                .contains("malformed")
        );
        answering("{}")
            .delete("Device.X_TEST.R.1.")
            .expect("delete");
    }

    #[test]
    fn nothing_to_do_runs_nothing() {
        let never = ExternalProvider {
            command: PathBuf::from("/nonexistent/provider"),
            ..provider("", &[])
        };
        assert_eq!(never.get(&[]).expect("empty get"), Vec::new());
        assert!(!never.set(&[]).expect("empty set"));
    }

    #[test]
    fn a_missing_command_is_a_spawn_error() {
        let p = ExternalProvider {
            command: PathBuf::from("/nonexistent/provider"),
            ..provider("", &[])
        };
        let err = p.list(SUBTREE).expect_err("spawn");
        assert!(matches!(err, ExternalError::Spawn { .. }));
        let fault = err.to_fault();
        assert_eq!(fault.code, 9002);
        assert!(
            fault.string.contains("/nonexistent/provider"),
            "{}",
            fault.string
        );
    }

    #[test]
    fn a_hung_provider_is_killed_at_the_timeout() {
        for script in [
            // Never answers.
            "exec sleep 30",
            // Answers, closes stdout, then never exits.
            r#"cat >/dev/null; printf '{}'; exec 1>&-; exec sleep 30"#,
        ] {
            let p = ExternalProvider {
                timeout: Duration::from_millis(300),
                ..provider(script, &[])
            };
            let started = Instant::now();
            let err = p.delete("Device.X_TEST.R.1.").expect_err("timeout");
            assert!(started.elapsed() < Duration::from_secs(5), "{script}");
            assert!(
                matches!(err, ExternalError::Timeout { .. }),
                "{script}: {err:?}"
            );
            let fault = err.to_fault();
            assert_eq!(fault.code, 9002);
            assert!(fault.string.contains("300ms"), "{}", fault.string);
        }
    }

    #[test]
    fn an_oversized_answer_is_refused() {
        let p = provider(
            &format!("cat >/dev/null; head -c {} /dev/zero", MAX_ANSWER_BYTES + 1),
            &[],
        );
        assert!(protocol_detail(p.list(SUBTREE)).contains("exceeds"));
    }

    #[test]
    fn a_provider_that_ignores_a_large_request_does_not_deadlock() {
        // Far more than a pipe buffer: the agent must not block writing a request nobody reads.
        let values: Vec<ExternalValue> = (0..20_000)
            .map(|i| {
                value(
                    &format!("Device.X_TEST.V{i}"),
                    "some value",
                    XsdType::String,
                )
            })
            .collect();
        let p = provider(r#"printf '{"status":0}'"#, &[]);
        assert!(!p.set(&values).expect("set"));
    }

    #[test]
    fn names_are_checked_for_shape() {
        for good in [
            "Device.",
            "Device.X_A.B-c",
            "Device.X.Rule.12.",
            "Device.X.A",
        ] {
            assert!(is_well_formed_name(good), "{good}");
        }
        for bad in [
            "",
            ".",
            "Device..A",
            ".Device",
            "Device.A b",
            "Device.A<",
            "Device.A..",
        ] {
            assert!(!is_well_formed_name(bad), "{bad}");
        }
    }

    #[test]
    fn bounded_cuts_on_characters() {
        assert_eq!(bounded("abc", 3), "abc");
        assert_eq!(bounded("abcd", 3), "ab…");
        assert_eq!(bounded("ééééé", 4), "ééé…");
    }
}
