//! ChangeDUState (TR-069 §A.4.1.10, CWMP ≥ 1.2, Software Module Management): the ACS installs,
//! updates or uninstalls Deployment Units, ACS→CPE. Optional for the CPE (answer 9000 when not
//! implemented).
//!
//! `Operations` lists the operations to perform, in order; `CommandKey` (optional) correlates
//! the results. The response is empty: the CPE works asynchronously and reports with a session
//! carrying `11 DU STATE CHANGE COMPLETE` + `M ChangeDUState` and a DUStateChangeComplete.
//!
//! On the wire `Operations` is *not* a SOAP-encoded array: cwmp-1-2.xsd declares it as an
//! element of the abstract type OperationStruct, repeated once per operation
//! (`maxOccurs="unbounded"`), each occurrence naming its concrete type with `xsi:type`:
//!
//! ```xml
//! <Operations xsi:type="cwmp:InstallOpStruct"><URL>…</URL><ExecutionEnvRef>…</ExecutionEnvRef></Operations>
//! <Operations xsi:type="cwmp:UninstallOpStruct"><UUID>…</UUID></Operations>
//! <CommandKey>…</CommandKey>
//! ```
//!
//! That is what the encoder writes (optional elements left out when empty). The decoder also
//! accepts an operation without `xsi:type` when its elements fit exactly one of the three
//! structures, and an array-style `Operations` container whose children are `InstallOpStruct`
//! / `UpdateOpStruct` / `UninstallOpStruct` elements (or carry such an `xsi:type`).

use crate::cwmp::decode_util as du;
use crate::cwmp::xml::{Element, Writer, XSI_NS};
use crate::cwmp::{ArgError, ArgResult, Rpc};

/// One Deployment Unit operation (cwmp-1-2.xsd InstallOpStruct / UpdateOpStruct /
/// UninstallOpStruct). Optional elements are empty strings when absent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DuOperation {
    /// Install the DU found at `url`.
    Install {
        /// Required; at most 1024 characters.
        url: String,
        /// UUID to give the new DU (`8-4-4-4-12` hex); empty to let the CPE derive it.
        uuid: String,
        /// At most 256 characters; may be empty.
        username: String,
        /// At most 256 characters; may be empty.
        password: String,
        /// Execution environment to install into (e.g. `Device.SoftwareModules.ExecEnv.1.`),
        /// at most 256 characters; empty for the CPE's choice.
        execution_env_ref: String,
    },
    /// Update one DU (by `uuid`, else by `url`) or, with neither, every DU.
    Update {
        /// Empty when not given.
        uuid: String,
        /// Which version to update when several are installed; at most 32 characters.
        version: String,
        /// New location of the DU; at most 1024 characters; may be empty.
        url: String,
        username: String,
        password: String,
    },
    /// Uninstall the DU `uuid` (every version of it unless `version` is given).
    Uninstall {
        /// Required.
        uuid: String,
        /// At most 32 characters; may be empty.
        version: String,
        /// At most 256 characters; may be empty.
        execution_env_ref: String,
    },
}

/// ACS→CPE request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChangeDuState {
    /// At least one operation.
    pub operations: Vec<DuOperation>,
    /// At most 32 characters; echoed in `M ChangeDUState` and DUStateChangeComplete.
    pub command_key: String,
}

/// CPE→ACS response: no arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChangeDuStateResponse;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Install,
    Update,
    Uninstall,
}

impl OpKind {
    const ALL: [OpKind; 3] = [OpKind::Install, OpKind::Update, OpKind::Uninstall];

    fn type_name(self) -> &'static str {
        match self {
            OpKind::Install => "InstallOpStruct",
            OpKind::Update => "UpdateOpStruct",
            OpKind::Uninstall => "UninstallOpStruct",
        }
    }

    fn from_type_name(name: &str) -> Option<OpKind> {
        OpKind::ALL.into_iter().find(|k| k.type_name() == name)
    }

    /// (element names allowed, element names required)
    fn fields(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            OpKind::Install => (
                &["URL", "UUID", "Username", "Password", "ExecutionEnvRef"],
                &["URL"],
            ),
            OpKind::Update => (&["UUID", "Version", "URL", "Username", "Password"], &[]),
            OpKind::Uninstall => (&["UUID", "Version", "ExecutionEnvRef"], &["UUID"]),
        }
    }
}

const FIELD_NAMES: [&str; 6] = [
    "URL",
    "UUID",
    "Username",
    "Password",
    "ExecutionEnvRef",
    "Version",
];

/// The local part of an element's `xsi:type`, if any.
fn xsi_type<'a>(el: &'a Element<'_>) -> Option<&'a str> {
    el.attr_ns(Some(XSI_NS), "type")
        .or_else(|| el.attr("type"))
        .map(|t| t.rsplit(':').next().unwrap_or(t).trim())
}

fn has_fields(el: &Element) -> bool {
    el.children.iter().any(|c| FIELD_NAMES.contains(&&*c.name))
}

/// The one structure whose elements fit those present, when there is exactly one.
fn infer_kind(el: &Element) -> ArgResult<OpKind> {
    let present: Vec<&str> = FIELD_NAMES
        .into_iter()
        .filter(|n| el.child(n).is_some())
        .collect();
    let fits: Vec<OpKind> = OpKind::ALL
        .into_iter()
        .filter(|k| {
            let (allowed, required) = k.fields();
            present.iter().all(|p| allowed.contains(p))
                && required.iter().all(|r| present.contains(r))
        })
        .collect();
    match fits.as_slice() {
        [kind] => Ok(*kind),
        _ => Err(ArgError::invalid(
            "Operations",
            "operation without xsi:type whose elements do not identify Install, Update or Uninstall",
        )),
    }
}

/// Reads a DeploymentUnitUUID: empty, or `8-4-4-4-12` hex digits.
fn uuid(el: &Element, required: bool) -> ArgResult<String> {
    let s = if required {
        du::string(el, "UUID")?
    } else {
        du::opt_string(el, "UUID")
    };
    let groups: Vec<&str> = s.split('-').collect();
    let well_formed = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()));
    if (required || !s.is_empty()) && !well_formed {
        return Err(ArgError::invalid("UUID", format!("{s:?} is not a UUID")));
    }
    Ok(s)
}

fn decode_op(el: &Element, kind: OpKind) -> ArgResult<DuOperation> {
    Ok(match kind {
        OpKind::Install => DuOperation::Install {
            url: du::bounded_string(el, "URL", 1024)?,
            uuid: uuid(el, false)?,
            username: du::opt_bounded_string(el, "Username", 256)?,
            password: du::opt_bounded_string(el, "Password", 256)?,
            execution_env_ref: du::opt_bounded_string(el, "ExecutionEnvRef", 256)?,
        },
        OpKind::Update => DuOperation::Update {
            uuid: uuid(el, false)?,
            version: du::opt_bounded_string(el, "Version", 32)?,
            url: du::opt_bounded_string(el, "URL", 1024)?,
            username: du::opt_bounded_string(el, "Username", 256)?,
            password: du::opt_bounded_string(el, "Password", 256)?,
        },
        OpKind::Uninstall => DuOperation::Uninstall {
            uuid: uuid(el, true)?,
            version: du::opt_bounded_string(el, "Version", 32)?,
            execution_env_ref: du::opt_bounded_string(el, "ExecutionEnvRef", 256)?,
        },
    })
}

/// An operation's kind from its `xsi:type`, else its element name, else its elements.
fn kind_of(el: &Element) -> ArgResult<OpKind> {
    if let Some(t) = xsi_type(el) {
        if let Some(kind) = OpKind::from_type_name(t) {
            return Ok(kind);
        }
        if t.ends_with("OpStruct") {
            return Err(ArgError::invalid(
                "Operations",
                format!("unknown operation type {t}"),
            ));
        }
    }
    if let Some(kind) = OpKind::from_type_name(&el.name) {
        return Ok(kind);
    }
    infer_kind(el)
}

/// Reads one `Operations` element: normally one operation, or several in the array style.
fn decode_operations(el: &Element, out: &mut Vec<DuOperation>) -> ArgResult<()> {
    let typed = xsi_type(el).and_then(OpKind::from_type_name);
    if typed.is_some() || has_fields(el) {
        out.push(decode_op(el, kind_of(el)?)?);
        return Ok(());
    }
    if el.children.is_empty() {
        return Err(ArgError::invalid("Operations", "empty operation"));
    }
    for item in &el.children {
        out.push(decode_op(item, kind_of(item)?)?);
    }
    Ok(())
}

fn opt_text(w: &mut Writer, name: &str, value: &str) {
    if !value.is_empty() {
        w.text_element(name, value);
    }
}

impl DuOperation {
    fn kind(&self) -> OpKind {
        match self {
            DuOperation::Install { .. } => OpKind::Install,
            DuOperation::Update { .. } => OpKind::Update,
            DuOperation::Uninstall { .. } => OpKind::Uninstall,
        }
    }

    fn encode(&self, w: &mut Writer) {
        let xsi_type = format!("cwmp:{}", self.kind().type_name());
        w.open_with("Operations", &[("xsi:type", &xsi_type)]);
        match self {
            DuOperation::Install {
                url,
                uuid,
                username,
                password,
                execution_env_ref,
            } => {
                w.text_element("URL", url);
                opt_text(w, "UUID", uuid);
                opt_text(w, "Username", username);
                opt_text(w, "Password", password);
                opt_text(w, "ExecutionEnvRef", execution_env_ref);
            }
            DuOperation::Update {
                uuid,
                version,
                url,
                username,
                password,
            } => {
                opt_text(w, "UUID", uuid);
                opt_text(w, "Version", version);
                opt_text(w, "URL", url);
                opt_text(w, "Username", username);
                opt_text(w, "Password", password);
            }
            DuOperation::Uninstall {
                uuid,
                version,
                execution_env_ref,
            } => {
                w.text_element("UUID", uuid);
                opt_text(w, "Version", version);
                opt_text(w, "ExecutionEnvRef", execution_env_ref);
            }
        }
        w.close("Operations");
    }
}

impl Rpc for ChangeDuState {
    const NAME: &'static str = "ChangeDUState";

    fn encode_args(&self, w: &mut Writer) {
        for op in &self.operations {
            op.encode(w);
        }
        w.text_element("CommandKey", &self.command_key);
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        let mut operations = Vec::new();
        for o in el.children_named("Operations") {
            decode_operations(o, &mut operations)?;
        }
        if operations.is_empty() {
            return Err(ArgError::missing("Operations"));
        }
        Ok(ChangeDuState {
            operations,
            command_key: du::opt_bounded_string(el, "CommandKey", 32)?,
        })
    }
}

impl Rpc for ChangeDuStateResponse {
    const NAME: &'static str = "ChangeDUStateResponse";

    fn encode_args(&self, _w: &mut Writer) {}

    fn decode_args(_el: &Element) -> ArgResult<Self> {
        Ok(ChangeDuStateResponse)
    }
}

#[cfg(test)]
pub(crate) mod arb {
    use super::*;
    use crate::cwmp::rpc::arb_util::{command_key, short_string, url};
    use proptest::prelude::*;

    pub fn uuid() -> impl Strategy<Value = String> {
        "[0-9a-fA-F]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    }

    fn opt_uuid() -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), uuid()]
    }

    fn exec_env_ref() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "Device\\.SoftwareModules\\.ExecEnv\\.[1-9]\\."
        ]
    }

    fn opt_url() -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), url()]
    }

    pub fn du_operation() -> impl Strategy<Value = DuOperation> {
        prop_oneof![
            (
                url(),
                opt_uuid(),
                short_string(256),
                short_string(256),
                exec_env_ref()
            )
                .prop_map(|(url, uuid, username, password, execution_env_ref)| {
                    DuOperation::Install {
                        url,
                        uuid,
                        username,
                        password,
                        execution_env_ref,
                    }
                }),
            (
                opt_uuid(),
                short_string(32),
                opt_url(),
                short_string(256),
                short_string(256)
            )
                .prop_map(|(uuid, version, url, username, password)| {
                    DuOperation::Update {
                        uuid,
                        version,
                        url,
                        username,
                        password,
                    }
                }),
            (uuid(), short_string(32), exec_env_ref()).prop_map(
                |(uuid, version, execution_env_ref)| {
                    DuOperation::Uninstall {
                        uuid,
                        version,
                        execution_env_ref,
                    }
                }
            ),
        ]
    }

    pub fn request() -> impl Strategy<Value = ChangeDuState> {
        (
            proptest::collection::vec(du_operation(), 1..4),
            command_key(),
        )
            .prop_map(|(operations, command_key)| ChangeDuState {
                operations,
                command_key,
            })
    }

    pub fn response() -> impl Strategy<Value = ChangeDuStateResponse> {
        Just(ChangeDuStateResponse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cwmp::rpc::Body;
    use crate::cwmp::rpc::arb_util::{decode_ok, expect_invalid_arguments, genieacs_envelope};

    const UUID: &str = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";

    fn request(ops: &str) -> String {
        genieacs_envelope(
            "60",
            &format!("<cwmp:ChangeDUState>{ops}<CommandKey>du-1</CommandKey></cwmp:ChangeDUState>"),
        )
    }

    fn install() -> DuOperation {
        DuOperation::Install {
            url: "http://du.example/app.ipk".into(),
            uuid: String::new(),
            username: String::new(),
            password: String::new(),
            execution_env_ref: "Device.SoftwareModules.ExecEnv.1.".into(),
        }
    }

    fn uninstall() -> DuOperation {
        DuOperation::Uninstall {
            uuid: UUID.into(),
            version: "1.0".into(),
            execution_env_ref: String::new(),
        }
    }

    #[test]
    fn encodes_what_the_schema_validates() {
        let mut w = Writer::new();
        ChangeDuState {
            operations: vec![install(), uninstall()],
            command_key: "du-1".into(),
        }
        .encode_args(&mut w);
        assert_eq!(
            w.as_str(),
            format!(
                "<Operations xsi:type=\"cwmp:InstallOpStruct\"><URL>http://du.example/app.ipk</URL>\
                 <ExecutionEnvRef>Device.SoftwareModules.ExecEnv.1.</ExecutionEnvRef></Operations>\
                 <Operations xsi:type=\"cwmp:UninstallOpStruct\"><UUID>{UUID}</UUID><Version>1.0</Version></Operations>\
                 <CommandKey>du-1</CommandKey>"
            )
        );
    }

    #[test]
    fn decodes_by_xsi_type() {
        let env = decode_ok(&request(&format!(
            "<Operations xsi:type=\"cwmp:InstallOpStruct\"><URL>http://du.example/app.ipk</URL>\
             <ExecutionEnvRef>Device.SoftwareModules.ExecEnv.1.</ExecutionEnvRef></Operations>\
             <Operations xsi:type=\"cwmp:UninstallOpStruct\"><UUID>{UUID}</UUID><Version>1.0</Version></Operations>\
             <Operations xsi:type=\"cwmp:UpdateOpStruct\"><UUID>{UUID}</UUID></Operations>"
        )));
        assert_eq!(
            env.body,
            Body::ChangeDuState(ChangeDuState {
                operations: vec![
                    install(),
                    uninstall(),
                    DuOperation::Update {
                        uuid: UUID.into(),
                        version: String::new(),
                        url: String::new(),
                        username: String::new(),
                        password: String::new(),
                    },
                ],
                command_key: "du-1".into(),
            })
        );
    }

    #[test]
    fn decodes_untyped_and_array_style_operations() {
        let env = decode_ok(&request(&format!(
            "<Operations><URL>http://du.example/app.ipk</URL>\
             <ExecutionEnvRef>Device.SoftwareModules.ExecEnv.1.</ExecutionEnvRef></Operations>\
             <Operations soap-enc:arrayType=\"cwmp:OperationStruct[1]\"><UninstallOpStruct><UUID>{UUID}</UUID>\
             <Version>1.0</Version></UninstallOpStruct></Operations>"
        )));
        let Body::ChangeDuState(req) = env.body else {
            panic!()
        };
        assert_eq!(req.operations, vec![install(), uninstall()]);
    }

    #[test]
    fn ambiguous_untyped_operation_is_9003() {
        // UUID alone fits both Update and Uninstall.
        let err = expect_invalid_arguments(&request(&format!(
            "<Operations><UUID>{UUID}</UUID></Operations>"
        )));
        assert!(
            matches!(err, ArgError::Invalid { ref name, .. } if name == "Operations"),
            "{err:?}"
        );
    }

    #[test]
    fn missing_operations_or_required_elements_is_9003() {
        let err = expect_invalid_arguments(&request(""));
        assert_eq!(err, ArgError::missing("Operations"));
        let err = expect_invalid_arguments(&request(
            "<Operations xsi:type=\"cwmp:UninstallOpStruct\"><Version>1.0</Version></Operations>",
        ));
        assert_eq!(err, ArgError::missing("UUID"));
        let err = expect_invalid_arguments(&request(
            "<Operations xsi:type=\"cwmp:InstallOpStruct\"><UUID>not-a-uuid</UUID><URL>http://a/</URL></Operations>",
        ));
        assert!(
            matches!(err, ArgError::Invalid { ref name, .. } if name == "UUID"),
            "{err:?}"
        );
    }

    proptest::proptest! {
        #[test]
        fn round_trips(request in super::arb::request(), response in super::arb::response()) {
            crate::cwmp::rpc::arb_util::round_trip(request.into())?;
            crate::cwmp::rpc::arb_util::round_trip(response.into())?;
        }
    }
}
