//! Reading and walking the data model over its providers: the registry says what exists, the
//! folded state, the settings, the host and external providers say what it holds.
//!
//! Everything here reads; nothing writes. The RPCs (`agent::handler`) decide which journal
//! records a change is, and the fold applies them.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use crate::cwmp::{DateTime, Fault, FaultCode, ParameterValueStruct, Value};
use crate::state::AgentState;
use crate::state::settings::{self, Settings};

use super::external::{
    ExternalAnswer, ExternalCall, ExternalCalls, ExternalNode, ExternalOp, ExternalProvider,
    ExternalValue,
};
use super::host::{HostInterface, HostSource, HostTables};
use super::path::{instantiate, last_segment, to_pattern};
use super::registry::{
    ActiveNotify, AddressField, HostField, IdentityField, Instances, InterfaceField, ObjectDef,
    ParamDef, Source, StateField, UdpEchoField,
};
use crate::diagnostics::UdpEchoStats;

/// Who the device is (from the daemon's config file; SoftwareVersion may change with firmware).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceIdentity {
    pub manufacturer: String,
    /// Six upper-case hex digits.
    pub oui: String,
    pub product_class: String,
    pub serial_number: String,
    pub model_name: String,
    pub description: String,
    pub hardware_version: String,
    pub software_version: String,
}

/// The data model's fixed parts: the device, the host, the external providers.
#[derive(Debug, Clone)]
pub struct DataModel {
    pub identity: DeviceIdentity,
    pub host: Arc<dyn HostSource>,
    pub externals: Vec<ExternalProvider>,
}

impl DataModel {
    pub fn new(identity: DeviceIdentity, host: Arc<dyn HostSource>) -> DataModel {
        DataModel {
            identity,
            host,
            externals: Vec::new(),
        }
    }

    /// The provider owning `name`, if any (the longest subtree wins).
    pub fn external_for(&self, name: &str) -> Option<&ExternalProvider> {
        self.externals
            .iter()
            .filter(|e| e.owns(name))
            .max_by_key(|e| e.subtree.len())
    }
}

/// A node of the tree, as GetParameterNames lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// An object or table, named with a trailing `.`.
    Object { name: String, writable: bool },
    Param {
        name: String,
        def: &'static ParamDef,
        instances: Vec<u32>,
    },
    /// A parameter of an external provider.
    ExternalParam { name: String, writable: bool },
}

impl Entry {
    pub fn name(&self) -> &str {
        match self {
            Entry::Object { name, .. }
            | Entry::Param { name, .. }
            | Entry::ExternalParam { name, .. } => name,
        }
    }
}

/// What a name resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// `""`: the whole tree.
    Root,
    Param {
        name: String,
        def: &'static ParamDef,
        instances: Vec<u32>,
    },
    /// A single object, or one instance of a table (`def.path` ends in `{i}.`).
    Object {
        name: String,
        def: &'static ObjectDef,
        instances: Vec<u32>,
    },
    /// A table (`Device.NAT.PortMapping.`); `def` is its `{i}.` object.
    Table {
        name: String,
        def: &'static ObjectDef,
        instances: Vec<u32>,
    },
    /// Inside an external provider's subtree.
    External { name: String },
}

#[derive(Debug, Clone, Copy)]
enum Child {
    Param(&'static ParamDef),
    Object(&'static ObjectDef),
    /// The table's own pattern (`Device.NAT.PortMapping.`) and its `{i}.` object.
    Table(&'static str, &'static ObjectDef),
}

struct Index {
    params: HashMap<&'static str, &'static ParamDef>,
    objects: HashMap<&'static str, &'static ObjectDef>,
    tables: HashMap<&'static str, &'static ObjectDef>,
    children: HashMap<&'static str, Vec<Child>>,
}

fn table_pattern(def: &'static ObjectDef) -> &'static str {
    def.path.strip_suffix("{i}.").unwrap_or(def.path)
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut idx = Index {
            params: HashMap::new(),
            objects: HashMap::new(),
            tables: HashMap::new(),
            children: HashMap::new(),
        };
        for o in super::catalog::objects() {
            idx.objects.insert(o.path, o);
            if o.instances != Instances::Single {
                let table = table_pattern(o);
                idx.tables.insert(table, o);
                idx.children
                    .entry(super::registry::parent_of(table))
                    .or_default()
                    .push(Child::Table(table, o));
            } else if o.path != "Device." {
                idx.children
                    .entry(super::registry::parent_of(o.path))
                    .or_default()
                    .push(Child::Object(o));
            }
        }
        for p in super::catalog::parameters() {
            idx.params.insert(p.path, p);
            idx.children
                .entry(super::registry::parent_of(p.path))
                .or_default()
                .push(Child::Param(p));
        }
        // Parameters first, then objects: the order GetParameterNames lists them in.
        for list in idx.children.values_mut() {
            crate::ordering::sort_stably_by_key(list, |c| u64::from(!matches!(c, Child::Param(_))));
        }
        idx
    })
}

/// Looks a parameter definition up by concrete name (`None` for unknown names; instance
/// existence is not checked).
pub fn param_def(name: &str) -> Option<&'static ParamDef> {
    let (pattern, _) = to_pattern(name)?;
    index().params.get(pattern.as_str()).copied()
}

/// The effective notification of a parameter: forced ones are always active; otherwise what the
/// ACS set, or the default.
pub fn effective_notification(def: &ParamDef, state: &AgentState, name: &str) -> u32 {
    match def.active_notify {
        ActiveNotify::ForceEnabled => 2,
        ActiveNotify::ForceDefaultEnabled => state
            .attributes
            .get(name)
            .map(|a| a.notification)
            .unwrap_or(2),
        ActiveNotify::Normal | ActiveNotify::CanDeny => state
            .attributes
            .get(name)
            .map(|a| a.notification)
            .unwrap_or(0),
    }
}

/// Whether a parameter can be written on this device (not only in TR-181): its provider must be
/// able to change it.
pub fn effectively_writable(def: &ParamDef) -> bool {
    def.writable && matches!(def.source, Source::Store { .. } | Source::Setting)
}

/// Whether instances of a table can be added/deleted on this device.
pub fn table_writable(def: &ObjectDef) -> bool {
    def.writable && def.instances == Instances::Store
}

fn name_fault(name: &str) -> Fault {
    Fault::with_string(
        FaultCode::InvalidParameterName,
        format!("Invalid parameter name: {name}"),
    )
}

fn internal(what: impl std::fmt::Display) -> Fault {
    Fault::with_string(FaultCode::InternalError, format!("Internal error: {what}"))
}

/// Reads one walked entry's value into the answer.
type ReadEntry<'f> = dyn FnMut(Entry, &mut Vec<ParameterValueStruct>) -> Result<(), Fault> + 'f;

/// The XMPP connection as the running agent sees it (not journaled: it changes with every
/// reconnect; `ConnReqJabberID`, which the ACS relies on, is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmppLive {
    /// `Status`: one of `registry::XMPP_STATUSES`.
    pub status: &'static str,
    /// The full JID the server bound (kept while reconnecting, as TR-181 asks of ConnReqJabberID).
    pub jabber_id: String,
    /// When `status` last changed (unix ms); `None`: never.
    pub last_change_ms: Option<u64>,
    pub tls_established: bool,
}

impl Default for XmppLive {
    fn default() -> Self {
        XmppLive {
            status: "Disabled",
            jabber_id: String::new(),
            last_change_ms: None,
            tls_established: false,
        }
    }
}

static NO_XMPP: XmppLive = XmppLive {
    status: "Disabled",
    jabber_id: String::new(),
    last_change_ms: None,
    tls_established: false,
};

/// The data model as seen at one instant: the fixed parts plus the folded state.
pub struct View<'a> {
    pub model: &'a DataModel,
    pub state: &'a AgentState,
    /// The effective settings of `state`: borrowed when the caller keeps them (the core does),
    /// since copying both settings maps for every view was a tenth of a provisioning flow.
    pub settings: Cow<'a, Settings>,
    pub connection_request_url: &'a str,
    pub now_ms: u64,
    /// Where calls to external providers go (never run from here directly).
    pub externals: &'a dyn ExternalCalls,
    /// The UDP echo responder's counters (the running agent's; zero elsewhere).
    pub udp_echo: UdpEchoStats,
    /// The XMPP connection's live state (see [`View::with_xmpp`]).
    pub xmpp: &'a XmppLive,
    interfaces: OnceCell<Result<Vec<HostInterface>, String>>,
    tables: OnceCell<Result<HostTables, String>>,
}

impl<'a> View<'a> {
    pub fn new(
        model: &'a DataModel,
        state: &'a AgentState,
        factory_settings: &BTreeMap<String, String>,
        connection_request_url: &'a str,
        now_ms: u64,
        externals: &'a dyn ExternalCalls,
    ) -> View<'a> {
        let settings = Cow::Owned(state.effective_settings(factory_settings));
        View::with_settings(
            model,
            state,
            settings,
            connection_request_url,
            now_ms,
            externals,
        )
    }

    /// `new` with the effective settings of `state` given (the caller's, when it has them).
    pub fn with_settings(
        model: &'a DataModel,
        state: &'a AgentState,
        settings: Cow<'a, Settings>,
        connection_request_url: &'a str,
        now_ms: u64,
        externals: &'a dyn ExternalCalls,
    ) -> View<'a> {
        View {
            model,
            state,
            settings,
            connection_request_url,
            now_ms,
            externals,
            udp_echo: UdpEchoStats::default(),
            xmpp: &NO_XMPP,
            interfaces: OnceCell::new(),
            tables: OnceCell::new(),
        }
    }

    /// The host's tables, read once per view.
    pub fn tables(&self) -> Result<&HostTables, Fault> {
        self.tables
            .get_or_init(|| self.model.host.tables().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| internal(format_args!("cannot read the host's tables: {e}")))
    }

    /// The same view, with the running agent's XMPP connection state.
    pub fn with_xmpp(mut self, xmpp: &'a XmppLive) -> View<'a> {
        self.xmpp = xmpp;
        self
    }

    fn external_call(&self, provider: &ExternalProvider, op: ExternalOp) -> ExternalResultOf {
        let index = self
            .model
            .externals
            .iter()
            .position(|p| p == provider)
            .ok_or_else(|| internal(format_args!("unknown external provider")))?;
        self.externals.call(
            &self.model.externals,
            ExternalCall {
                provider: index,
                op,
            },
        )
    }

    /// Every parameter and object of `provider` under `path`.
    pub fn external_list(
        &self,
        provider: &ExternalProvider,
        path: &str,
    ) -> Result<Vec<ExternalNode>, Fault> {
        match self.external_call(provider, ExternalOp::List(path.to_owned()))? {
            ExternalAnswer::Nodes(nodes) => Ok(nodes),
            other => Err(unexpected_answer(&other)),
        }
    }

    /// The values of `names` (parameters or partial paths) from `provider`.
    pub fn external_get(
        &self,
        provider: &ExternalProvider,
        names: &[String],
    ) -> Result<Vec<ExternalValue>, Fault> {
        match self.external_call(provider, ExternalOp::Get(names.to_vec()))? {
            ExternalAnswer::Values(values) => Ok(values),
            other => Err(unexpected_answer(&other)),
        }
    }

    /// Sets `values` through `provider` (all or none); whether a reboot is needed.
    pub fn external_set(
        &self,
        provider: &ExternalProvider,
        values: &[ExternalValue],
    ) -> Result<bool, Fault> {
        match self.external_call(provider, ExternalOp::Set(values.to_vec()))? {
            ExternalAnswer::Set(reboot) => Ok(reboot),
            other => Err(unexpected_answer(&other)),
        }
    }

    /// A new instance of `provider`'s table `object`.
    pub fn external_add(&self, provider: &ExternalProvider, object: &str) -> Result<u32, Fault> {
        match self.external_call(provider, ExternalOp::Add(object.to_owned()))? {
            ExternalAnswer::Added(n) => Ok(n),
            other => Err(unexpected_answer(&other)),
        }
    }

    /// Deletes `provider`'s instance `object`.
    pub fn external_delete(&self, provider: &ExternalProvider, object: &str) -> Result<(), Fault> {
        match self.external_call(provider, ExternalOp::Delete(object.to_owned()))? {
            ExternalAnswer::Deleted => Ok(()),
            other => Err(unexpected_answer(&other)),
        }
    }

    /// The host's interfaces, read once per view (one RPC sees one consistent listing).
    fn interfaces(&self) -> Result<&[HostInterface], Fault> {
        self.interfaces
            .get_or_init(|| self.model.host.interfaces().map_err(|e| e.to_string()))
            .as_deref()
            .map_err(|e| internal(format_args!("cannot list network interfaces: {e}")))
    }

    fn interface(&self, index: u32) -> Result<Option<&HostInterface>, Fault> {
        Ok(self.interfaces()?.iter().find(|i| i.index == index))
    }

    /// The instance numbers of a table, in ascending order.
    pub fn instances(
        &self,
        def: &ObjectDef,
        table_name: &str,
        enclosing: &[u32],
    ) -> Result<Vec<u32>, Fault> {
        Ok(match def.instances {
            Instances::Single => Vec::new(),
            Instances::Store => self
                .state
                .object_instances
                .get(table_name)
                .map(|s| s.iter().copied().collect())
                .unwrap_or_default(),
            Instances::EthernetInterfaces => self
                .interfaces()?
                .iter()
                .filter(|i| i.is_ethernet && !i.is_loopback)
                .map(|i| i.index)
                .collect(),
            Instances::IpInterfaces => self.interfaces()?.iter().map(|i| i.index).collect(),
            Instances::One => vec![1],
            Instances::Ipv4Addresses | Instances::Ipv6Addresses => {
                let Some(&ifindex) = enclosing.first() else {
                    return Ok(Vec::new());
                };
                let count = match self.interface(ifindex)? {
                    Some(i) if def.instances == Instances::Ipv4Addresses => i.ipv4.len(),
                    Some(i) => i.ipv6.len(),
                    None => 0,
                };
                (1..=u32::try_from(count).unwrap_or(u32::MAX)).collect()
            }
            Instances::Results(count_param) => {
                let n: u32 = self
                    .state
                    .parameters
                    .get(count_param)
                    .and_then(|p| p.value.parse().ok())
                    .unwrap_or(0);
                (1..=n).collect()
            }
            Instances::Neighbours => numbered(self.tables()?.neighbours.len()),
            Instances::NeighbourAddress => {
                let t = self.tables()?;
                match enclosing.first().and_then(|&i| t.neighbours.get(slot(i))) {
                    Some(n) if n.ip.is_ipv4() => vec![1],
                    _ => Vec::new(),
                }
            }
            Instances::Ipv4Routes => numbered(self.tables()?.ipv4_routes.len()),
            Instances::Ipv6Routes => numbered(self.tables()?.ipv6_routes.len()),
            Instances::DnsServers => numbered(self.tables()?.dns_servers.len()),
            Instances::ThermalZones => self
                .tables()?
                .thermal_zones
                .iter()
                .map(|z| z.index.saturating_add(1))
                .collect(),
            Instances::Processes => self.tables()?.processes.iter().map(|p| p.pid).collect(),
            Instances::Processors => numbered(self.tables()?.processors.len()),
            Instances::ActivePorts => numbered(self.tables()?.active_ports.len()),
            Instances::Ipv6Prefixes => {
                let Some(&ifindex) = enclosing.first() else {
                    return Ok(Vec::new());
                };
                match self.interface(ifindex)? {
                    Some(i) => numbered(super::host_values::ipv6_prefixes(i).len()),
                    None => Vec::new(),
                }
            }
        })
    }

    /// Resolves a name from the ACS: `""`, a parameter, an object, a table or an instance.
    /// Unknown names and missing instances are fault 9005.
    pub fn resolve(&self, name: &str) -> Result<Node, Fault> {
        if name.is_empty() {
            return Ok(Node::Root);
        }
        if self.model.external_for(name).is_some() {
            return Ok(Node::External {
                name: name.to_owned(),
            });
        }
        let (pattern, instances) = to_pattern(name).ok_or_else(|| name_fault(name))?;
        let idx = index();
        let node = if let Some(def) = idx.params.get(pattern.as_str()) {
            Node::Param {
                name: name.to_owned(),
                def,
                instances,
            }
        } else if let Some(def) = idx.objects.get(pattern.as_str()) {
            Node::Object {
                name: name.to_owned(),
                def,
                instances,
            }
        } else if let Some(def) = idx.tables.get(pattern.as_str()) {
            Node::Table {
                name: name.to_owned(),
                def,
                instances,
            }
        } else {
            return Err(name_fault(name));
        };
        self.check_instances_exist(name, &pattern)?;
        Ok(node)
    }

    /// Every `{i}` in the name must be an existing instance of its table.
    fn check_instances_exist(&self, name: &str, pattern: &str) -> Result<(), Fault> {
        // Most parameters sit in no table: nothing to check, and nothing to split or allocate.
        if !pattern.contains("{i}") {
            return Ok(());
        }
        let idx = index();
        // The table's pattern and name are prefixes of `pattern` and `name` (up to the dot
        // before the `{i}`), sliced rather than joined from segments: this runs for every
        // parameter a SetParameterValues names in a table.
        let mut names = name.trim_end_matches('.').split('.');
        let (mut name_at, mut pattern_at) = (0, 0);
        let mut enclosing = Vec::new();
        for seg in pattern.trim_end_matches('.').split('.') {
            let name_seg = names.next().ok_or_else(|| name_fault(name))?;
            if seg == "{i}" {
                let table_pattern = pattern.get(..pattern_at).unwrap_or_default();
                let table_name = name.get(..name_at).unwrap_or_default();
                let def = idx
                    .tables
                    .get(table_pattern)
                    .ok_or_else(|| name_fault(name))?;
                let number: u32 = name_seg.parse().map_err(|_| name_fault(name))?;
                if !self
                    .instances(def, table_name, &enclosing)?
                    .contains(&number)
                {
                    return Err(name_fault(name));
                }
                enclosing.push(number);
            }
            pattern_at += seg.len() + 1;
            name_at += name_seg.len() + 1;
        }
        Ok(())
    }

    /// GetParameterNames: the entries under `name` — only the next level, or the node itself and
    /// everything below it.
    pub fn names(&self, name: &str, next_level: bool) -> Result<Vec<Entry>, Fault> {
        let node = self.resolve(name)?;
        let mut out = Vec::new();
        match node {
            Node::Root => {
                out.push(Entry::Object {
                    name: "Device.".into(),
                    writable: false,
                });
                if !next_level {
                    self.walk_object("Device.", &[], &mut |e| {
                        out.push(e);
                        Ok(())
                    })?;
                }
            }
            Node::Param {
                name,
                def,
                instances,
            } => {
                if next_level {
                    return Err(Fault::with_string(
                        FaultCode::InvalidArguments,
                        format!("NextLevel must be false for the parameter {name}"),
                    ));
                }
                out.push(Entry::Param {
                    name,
                    def,
                    instances,
                });
            }
            Node::External { name } => {
                let provider = self
                    .model
                    .external_for(&name)
                    .ok_or_else(|| name_fault(&name))?;
                let nodes = self.external_list(provider, &name)?;
                if !name.ends_with('.') {
                    if next_level {
                        return Err(Fault::with_string(
                            FaultCode::InvalidArguments,
                            format!("NextLevel must be false for the parameter {name}"),
                        ));
                    }
                    let node = nodes
                        .into_iter()
                        .find(|n| n.name == name)
                        .ok_or_else(|| name_fault(&name))?;
                    out.push(external_entry(node));
                } else {
                    if !next_level && name == provider.subtree {
                        out.push(Entry::Object {
                            name: name.clone(),
                            writable: false,
                        });
                    }
                    for n in nodes {
                        if n.name == name || (next_level && !is_next_level(&name, &n.name)) {
                            continue;
                        }
                        out.push(external_entry(n));
                    }
                }
            }
            Node::Object {
                name, instances, ..
            } => {
                if !next_level {
                    out.push(Entry::Object {
                        name: name.clone(),
                        writable: self.object_writable(&name),
                    });
                }
                let mut emit = |e: Entry| {
                    out.push(e);
                    Ok(())
                };
                if next_level {
                    self.object_children(&name, &instances, &mut emit)?;
                } else {
                    self.walk_object(&name, &instances, &mut emit)?;
                }
            }
            Node::Table {
                name,
                def,
                instances,
            } => {
                if !next_level {
                    out.push(Entry::Object {
                        name: name.clone(),
                        writable: table_writable(def),
                    });
                }
                for n in self.instances(def, &name, &instances)? {
                    let instance_name = format!("{name}{n}.");
                    out.push(Entry::Object {
                        name: instance_name.clone(),
                        writable: table_writable(def),
                    });
                    if !next_level {
                        let mut inner = instances.clone();
                        inner.push(n);
                        self.walk_object(&instance_name, &inner, &mut |e| {
                            out.push(e);
                            Ok(())
                        })?;
                    }
                }
            }
        }
        Ok(out)
    }

    fn object_writable(&self, name: &str) -> bool {
        // An instance is writable (deletable) when its table is.
        match to_pattern(name) {
            Some((pattern, _)) => index()
                .objects
                .get(pattern.as_str())
                .is_some_and(|d| d.instances != Instances::Single && table_writable(d)),
            None => false,
        }
    }

    /// The immediate children of a concrete object: its parameters, its single objects and its
    /// tables, plus external subtrees attached to it.
    fn object_children(
        &self,
        name: &str,
        instances: &[u32],
        emit: &mut dyn FnMut(Entry) -> Result<(), Fault>,
    ) -> Result<(), Fault> {
        let Some((pattern, _)) = to_pattern(name) else {
            return Ok(());
        };
        let idx = index();
        for child in idx.children.get(pattern.as_str()).into_iter().flatten() {
            match *child {
                Child::Param(def) => {
                    let child_name = format!("{name}{}", last_segment(def.path));
                    if self.model.external_for(&child_name).is_some() {
                        continue;
                    }
                    emit(Entry::Param {
                        name: child_name,
                        def,
                        instances: instances.to_vec(),
                    })?;
                }
                Child::Object(def) => emit(Entry::Object {
                    name: format!("{name}{}.", last_segment(def.path)),
                    writable: false,
                })?,
                Child::Table(table, def) => {
                    let child_name = format!("{name}{}.", last_segment(table));
                    let writable =
                        self.model.external_for(&child_name).is_some() || table_writable(def);
                    emit(Entry::Object {
                        name: child_name,
                        writable,
                    })?
                }
            }
        }
        for ext in &self.model.externals {
            if super::registry::parent_of(&ext.subtree) == name
                && !to_pattern(&ext.subtree).is_some_and(|(p, _)| {
                    idx.objects.contains_key(p.as_str()) || idx.tables.contains_key(p.as_str())
                })
            {
                emit(Entry::Object {
                    name: ext.subtree.clone(),
                    writable: false,
                })?;
            }
        }
        Ok(())
    }

    /// Every entry below a concrete object, depth first.
    pub fn walk_object(
        &self,
        name: &str,
        instances: &[u32],
        emit: &mut dyn FnMut(Entry) -> Result<(), Fault>,
    ) -> Result<(), Fault> {
        if let Some(provider) = self.model.external_for(name) {
            for n in self.external_list(provider, name)? {
                if n.name != name {
                    emit(external_entry(n))?;
                }
            }
            return Ok(());
        }
        let mut children = Vec::new();
        self.object_children(name, instances, &mut |e| {
            children.push(e);
            Ok(())
        })?;
        for child in children {
            match &child {
                Entry::Object {
                    name: child_name, ..
                } => {
                    let is_table = to_pattern(child_name)
                        .is_some_and(|(p, _)| index().tables.contains_key(p.as_str()));
                    emit(child.clone())?;
                    if self.model.external_for(child_name).is_some() {
                        self.walk_object(child_name, instances, emit)?;
                    } else if is_table {
                        let Some((pattern, _)) = to_pattern(child_name) else {
                            continue;
                        };
                        let Some(def) = index().tables.get(pattern.as_str()).copied() else {
                            continue;
                        };
                        let writable = table_writable(def);
                        for n in self.instances(def, child_name, instances)? {
                            let instance_name = format!("{child_name}{n}.");
                            emit(Entry::Object {
                                name: instance_name.clone(),
                                writable,
                            })?;
                            let mut inner = instances.to_vec();
                            inner.push(n);
                            self.walk_object(&instance_name, &inner, emit)?;
                        }
                    } else {
                        self.walk_object(child_name, instances, emit)?;
                    }
                }
                _ => emit(child)?,
            }
        }
        Ok(())
    }

    /// GetParameterValues of one name (full or partial), appended to `out`.
    pub fn values(&self, name: &str, out: &mut Vec<ParameterValueStruct>) -> Result<(), Fault> {
        let node = self.resolve(name)?;
        let mut read_entry = |e: Entry, out: &mut Vec<ParameterValueStruct>| -> Result<(), Fault> {
            if let Entry::Param {
                name,
                def,
                instances,
            } = e
            {
                let value = self.read(def, &name, &instances)?;
                out.push(ParameterValueStruct::new(name, value));
            }
            Ok(())
        };
        match node {
            Node::Param {
                name,
                def,
                instances,
            } => read_entry(
                Entry::Param {
                    name,
                    def,
                    instances,
                },
                out,
            ),
            Node::External { name } => {
                let provider = self
                    .model
                    .external_for(&name)
                    .ok_or_else(|| name_fault(&name))?;
                let values = self.external_get(provider, std::slice::from_ref(&name))?;
                out.extend(
                    values.into_iter().map(|v| {
                        ParameterValueStruct::new(v.name, Value::new(v.xsd_type, v.value))
                    }),
                );
                Ok(())
            }
            Node::Root => self.values_below("Device.", &[], out, &mut read_entry),
            Node::Object {
                name, instances, ..
            } => self.values_below(&name, &instances, out, &mut read_entry),
            Node::Table {
                name,
                def,
                instances,
            } => {
                for n in self.instances(def, &name, &instances)? {
                    let mut inner = instances.clone();
                    inner.push(n);
                    self.values_below(&format!("{name}{n}."), &inner, out, &mut read_entry)?;
                }
                Ok(())
            }
        }
    }

    fn values_below(
        &self,
        name: &str,
        instances: &[u32],
        out: &mut Vec<ParameterValueStruct>,
        read_entry: &mut ReadEntry<'_>,
    ) -> Result<(), Fault> {
        let mut external_roots = Vec::new();
        let mut entries = Vec::new();
        self.walk_object(name, instances, &mut |e| {
            match &e {
                Entry::Object { name: n, .. }
                    if self.model.external_for(n).is_some_and(|p| p.subtree == *n) =>
                {
                    external_roots.push(n.clone())
                }
                Entry::Param { .. } => entries.push(e),
                _ => {}
            }
            Ok(())
        })?;
        for e in entries {
            read_entry(e, out)?;
        }
        for root in external_roots {
            let Some(provider) = self.model.external_for(&root) else {
                continue;
            };
            let values = self.external_get(provider, std::slice::from_ref(&root))?;
            out.extend(
                values
                    .into_iter()
                    .map(|v| ParameterValueStruct::new(v.name, Value::new(v.xsd_type, v.value))),
            );
        }
        Ok(())
    }

    /// Reads one registry parameter. Hidden values (passwords) read as empty strings.
    pub fn read(&self, def: &ParamDef, name: &str, instances: &[u32]) -> Result<Value, Fault> {
        let mut text = if is_hidden(def) {
            String::new()
        } else {
            self.read_text(def, name, instances)?
        };
        // A dateTime is never empty on the wire: unset is the Unknown Time.
        if text.is_empty() && def.syntax == super::registry::Syntax::DateTime {
            text = DateTime::UNKNOWN.to_string();
        }
        Ok(Value::new(def.syntax.xsd_type(), text))
    }

    /// The value as stored/seen, passwords included (for comparisons and exports, never the
    /// ACS).
    pub fn read_text(
        &self,
        def: &ParamDef,
        name: &str,
        instances: &[u32],
    ) -> Result<String, Fault> {
        let host = &self.model.host;
        Ok(match def.source {
            Source::Constant(v) => v.to_owned(),
            Source::Identity(f) => {
                let id = &self.model.identity;
                match f {
                    IdentityField::Manufacturer => id.manufacturer.clone(),
                    IdentityField::Oui => id.oui.clone(),
                    IdentityField::ModelName => id.model_name.clone(),
                    IdentityField::Description => id.description.clone(),
                    IdentityField::ProductClass => id.product_class.clone(),
                    IdentityField::SerialNumber => id.serial_number.clone(),
                    IdentityField::HardwareVersion => id.hardware_version.clone(),
                    IdentityField::SoftwareVersion => {
                        if self.state.software_version.is_empty() {
                            id.software_version.clone()
                        } else {
                            self.state.software_version.clone()
                        }
                    }
                }
            }
            Source::Host(f) => match f {
                HostField::UpTime => host
                    .uptime_secs()
                    .map_err(internal)?
                    .min(u64::from(u32::MAX))
                    .to_string(),
                HostField::MemoryTotal => host
                    .memory_kib()
                    .map_err(internal)?
                    .0
                    .min(u64::from(u32::MAX))
                    .to_string(),
                HostField::MemoryFree => host
                    .memory_kib()
                    .map_err(internal)?
                    .1
                    .min(u64::from(u32::MAX))
                    .to_string(),
                HostField::CpuUsage => host
                    .cpu_usage_percent()
                    .map_err(internal)?
                    .min(100)
                    .to_string(),
                HostField::CurrentLocalTime => {
                    DateTime::from_unix_millis(i64::try_from(self.now_ms).unwrap_or(i64::MAX))
                        .to_string()
                }
                HostField::TimeStatus => match host.time_synchronized() {
                    Some(true) => "Synchronized",
                    Some(false) => "Unsynchronized",
                    None => "Error",
                }
                .to_owned(),
            },
            Source::Interface(f) => {
                let iface = instances
                    .first()
                    .map(|&i| self.interface(i))
                    .transpose()?
                    .flatten()
                    .ok_or_else(|| name_fault(name))?;
                interface_value(iface, f)
            }
            Source::Address(f) => {
                let (Some(&ifindex), Some(&n)) = (instances.first(), instances.get(1)) else {
                    return Err(name_fault(name));
                };
                let iface = self.interface(ifindex)?.ok_or_else(|| name_fault(name))?;
                let slot = usize::try_from(n).unwrap_or(usize::MAX).saturating_sub(1);
                if name.contains(".IPv4Address.") {
                    let a = iface.ipv4.get(slot).ok_or_else(|| name_fault(name))?;
                    match f {
                        AddressField::Enable => "true".into(),
                        AddressField::Status => "Enabled".into(),
                        AddressField::IpAddress => a.address.to_string(),
                        AddressField::SubnetMask => prefix_to_mask(a.prefix_len),
                        AddressField::AddressingType => "Static".into(),
                        AddressField::Origin => String::new(),
                    }
                } else {
                    let a = iface.ipv6.get(slot).ok_or_else(|| name_fault(name))?;
                    match f {
                        AddressField::Enable => "true".into(),
                        AddressField::Status => "Enabled".into(),
                        AddressField::IpAddress => a.address.to_string(),
                        AddressField::Origin => a.origin.to_owned(),
                        AddressField::SubnetMask | AddressField::AddressingType => String::new(),
                    }
                }
            }
            Source::Setting => match settings::setting_for_parameter(name) {
                Some(s) => self.settings.get(s.name),
                None => String::new(),
            },
            Source::State(f) => match f {
                StateField::ParameterKey => self.state.parameter_key.clone(),
                StateField::ConnectionRequestUrl => self.connection_request_url.to_owned(),
                StateField::FirstUseDate => match self.state.first_use_ms {
                    Some(ms) => DateTime::from_unix_millis(i64::try_from(ms).unwrap_or(i64::MAX))
                        .to_string(),
                    None => DateTime::UNKNOWN.to_string(),
                },
                StateField::XmppJabberId => self.xmpp.jabber_id.clone(),
                StateField::XmppStatus => self.xmpp.status.to_owned(),
                StateField::XmppLastChangeDate => match self.xmpp.last_change_ms {
                    Some(ms) => DateTime::from_unix_millis(i64::try_from(ms).unwrap_or(i64::MAX))
                        .to_string(),
                    None => DateTime::UNKNOWN.to_string(),
                },
                StateField::XmppTlsEstablished => self.xmpp.tls_established.to_string(),
            },
            Source::Store { default } => self
                .state
                .parameters
                .get(name)
                .map(|p| p.value.clone())
                .unwrap_or_else(|| default.to_owned()),
            Source::Table(f) => super::host_values::table_value(self, f, name, instances)?,
            Source::UdpEcho(f) => {
                let e = &self.udp_echo;
                let time = |t: Option<std::time::SystemTime>| {
                    t.map_or_else(
                        || DateTime::UNKNOWN.to_string(),
                        crate::diagnostics::timestamp,
                    )
                };
                match f {
                    UdpEchoField::PacketsReceived => e.packets_received.to_string(),
                    UdpEchoField::PacketsResponded => e.packets_responded.to_string(),
                    UdpEchoField::BytesReceived => e.bytes_received.to_string(),
                    UdpEchoField::BytesResponded => e.bytes_responded.to_string(),
                    UdpEchoField::TimeFirstPacketReceived => time(e.first_packet),
                    UdpEchoField::TimeLastPacketReceived => time(e.last_packet),
                }
            }
            Source::Count(rel) => {
                let table_name = format!("{}{rel}", super::registry::parent_of(name));
                let (pattern, _) = to_pattern(&table_name).ok_or_else(|| name_fault(name))?;
                let def = index()
                    .tables
                    .get(pattern.as_str())
                    .ok_or_else(|| internal(format_args!("{} counts no table", def.path)))?;
                self.instances(def, &table_name, instances)?
                    .len()
                    .to_string()
            }
        })
    }

    /// The instantiated names of every registry parameter whose value comes from the host, with
    /// their current values (for sampling notifications).
    pub fn host_backed_values(&self, names: &[String]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for name in names {
            let Some((pattern, instances)) = to_pattern(name) else {
                continue;
            };
            let Some(def) = index().params.get(pattern.as_str()) else {
                continue;
            };
            if self.check_instances_exist(name, &pattern).is_err() {
                continue;
            }
            if let Ok(v) = self.read_text(def, name, &instances) {
                out.push((name.clone(), v));
            }
        }
        out
    }
}

/// Whether a parameter's value is hidden from the ACS (returned as an empty string).
pub fn is_hidden(def: &ParamDef) -> bool {
    def.path.ends_with("Password")
}

/// Whether a parameter's value is read live from the host (and so must be sampled to notice
/// changes).
pub fn is_host_backed(def: &ParamDef) -> bool {
    matches!(
        def.source,
        Source::Host(_)
            | Source::Interface(_)
            | Source::Address(_)
            | Source::Count(_)
            | Source::Table(_)
            | Source::UdpEcho(_)
    )
}

/// Instance numbers 1..=n.
fn numbered(n: usize) -> Vec<u32> {
    (1..=u32::try_from(n).unwrap_or(u32::MAX)).collect()
}

use super::host_values::slot;

impl super::host_values::HostView for View<'_> {
    fn tables(&self) -> Result<&HostTables, Fault> {
        View::tables(self)
    }
    fn interfaces(&self) -> Result<&[HostInterface], Fault> {
        View::interfaces(self)
    }
    fn now_ms(&self) -> u64 {
        self.now_ms
    }
}

fn is_next_level(parent: &str, child: &str) -> bool {
    let Some(rest) = child.strip_prefix(parent) else {
        return false;
    };
    let rest = rest.strip_suffix('.').unwrap_or(rest);
    !rest.is_empty() && !rest.contains('.')
}

fn external_entry(n: ExternalNode) -> Entry {
    if n.name.ends_with('.') {
        Entry::Object {
            name: n.name,
            writable: n.writable,
        }
    } else {
        Entry::ExternalParam {
            name: n.name,
            writable: n.writable,
        }
    }
}

fn prefix_to_mask(prefix: u8) -> String {
    let bits: u32 = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    };
    std::net::Ipv4Addr::from(bits).to_string()
}

fn interface_value(i: &HostInterface, f: InterfaceField) -> String {
    let s = &i.stats;
    let clamp32 = |v: u64| v.min(u64::from(u32::MAX)).to_string();
    match f {
        InterfaceField::Enable => i.admin_up.to_string(),
        InterfaceField::Status => i.status.to_owned(),
        InterfaceField::Name => i.name.clone(),
        InterfaceField::MacAddress => i.mac.to_ascii_uppercase(),
        InterfaceField::Upstream => i.upstream.to_string(),
        InterfaceField::MaxBitRate => i.speed_mbps.map_or("-1".to_owned(), |v| v.to_string()),
        InterfaceField::CurrentBitRate => i.speed_mbps.unwrap_or(0).to_string(),
        InterfaceField::DuplexMode => i.duplex.unwrap_or("Auto").to_owned(),
        InterfaceField::IpType => if i.is_loopback { "Loopback" } else { "Normal" }.to_owned(),
        InterfaceField::IsLoopback => i.is_loopback.to_string(),
        InterfaceField::Mtu => i.mtu.clamp(64, 65_535).to_string(),
        InterfaceField::Ipv4Enable => (!i.ipv4.is_empty()).to_string(),
        InterfaceField::Ipv6Enable => i.ipv6_enabled.to_string(),
        InterfaceField::Ipv4AddressCount => i.ipv4.len().to_string(),
        InterfaceField::Ipv6AddressCount => i.ipv6.len().to_string(),
        InterfaceField::BytesSent => s.bytes_sent.to_string(),
        InterfaceField::BytesReceived => s.bytes_received.to_string(),
        InterfaceField::PacketsSent => s.packets_sent.to_string(),
        InterfaceField::PacketsReceived => s.packets_received.to_string(),
        InterfaceField::ErrorsSent => clamp32(s.errors_sent),
        InterfaceField::ErrorsReceived => clamp32(s.errors_received),
        InterfaceField::DiscardPacketsSent => clamp32(s.discard_packets_sent),
        InterfaceField::DiscardPacketsReceived => clamp32(s.discard_packets_received),
        InterfaceField::MulticastPacketsReceived => s.multicast_packets_received.to_string(),
    }
}

/// Every parameter of the registry whose value the given instance numbers select (for
/// `param_def`-style lookups by tests and the CLI).
pub fn all_parameter_patterns() -> impl Iterator<Item = &'static ParamDef> {
    super::catalog::parameters()
}

/// Instantiates a pattern (re-exported for callers building names).
pub fn name_of(pattern: &str, instances: &[u32]) -> String {
    instantiate(pattern, instances)
}

type ExternalResultOf = super::external::ExternalResult;

fn unexpected_answer(answer: &ExternalAnswer) -> Fault {
    internal(format_args!(
        "the external provider port answered the wrong kind of result: {answer:?}"
    ))
}
