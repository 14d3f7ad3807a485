//! The registry against the Broadband Forum's own definition of Device:2.11.
//!
//! Every object and parameter in `datamodel::registry` (vendor `X_` extensions aside) must exist
//! in `tr-181-2-11-0-full.xml` with the same type (named data types followed down to their xsd
//! primitive), access, table-ness, forcedInform and activeNotify, and facets no looser than the
//! standard's: the same string maxLength, enumerations that are subsets, ranges inside the BBF
//! ranges. The product never reads these files; this test is what keeps the table honest.

use std::collections::HashMap;
use std::sync::OnceLock;

use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
use tr069_client::cwmp::XsdType;
use tr069_client::datamodel::catalog::{objects, parameters};
use tr069_client::datamodel::registry::{
    ActiveNotify, OBJECTS, ObjectDef, PARAMETERS, ParamDef, Syntax,
};

const TR181: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bbf/tr-181-2-11-0-full.xml");
/// Where the named data types tr-181 imports (DiagnosticsState, Alias, ...) are defined; the
/// full tr-181 file repeats most of them, and its own definitions win.
const TR106_TYPES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bbf/tr-106-1-1-0-types.xml");
const MODEL: &str = "Device:2.11";

/// The xsd primitives a BBF `<syntax>` (or a named data type) is built on.
const PRIMITIVES: &[&str] = &[
    "string",
    "boolean",
    "unsignedInt",
    "int",
    "unsignedLong",
    "long",
    "dateTime",
    "base64",
    "hexBinary",
];

// ---------------------------------------------------------------------------------------------
// A minimal element tree: the checks need names, attributes and nesting, never text.

#[derive(Debug, Default)]
struct Node {
    /// Local name (`dm:document` → `document`).
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
}

impl Node {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn children_named<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a Node> + 'n
    where
        'a: 'n,
    {
        self.children.iter().filter(move |c| c.name == name)
    }

    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }
}

fn node_of(start: &BytesStart<'_>) -> Result<Node, String> {
    let qname = start.name();
    let raw = qname.0;
    let name = raw.rsplit(':').next().unwrap_or(raw).to_owned();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| format!("<{raw}>: {e}"))?;
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| format!("<{raw}> {}: {e}", attr.key.0))?;
        attrs.push((attr.key.0.to_owned(), value.into_owned()));
    }
    Ok(Node {
        name,
        attrs,
        children: Vec::new(),
    })
}

fn parse_xml(xml: &str) -> Result<Node, String> {
    let mut reader = Reader::from_str(xml);
    // The document node collects the root element.
    let mut stack = vec![Node::default()];
    loop {
        let position = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| format!("XML error near byte {position}: {e}"))?;
        match event {
            Event::Start(start) => stack.push(node_of(&start)?),
            Event::Empty(start) => {
                let node = node_of(&start)?;
                stack
                    .last_mut()
                    .ok_or("element outside the document")?
                    .children
                    .push(node);
            }
            Event::End(_) => {
                let done = stack.pop().ok_or("unbalanced end tag")?;
                stack
                    .last_mut()
                    .ok_or("end tag closes the document")?
                    .children
                    .push(done);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    match stack.pop() {
        Some(mut document) if stack.is_empty() => document
            .children
            .pop()
            .ok_or_else(|| "empty document".to_owned()),
        _ => Err("unclosed elements at end of file".to_owned()),
    }
}

// ---------------------------------------------------------------------------------------------
// The BBF model, flattened to what the registry declares.

#[derive(Debug, Clone, Default, PartialEq)]
struct Facets {
    max_len: Option<u32>,
    enumeration: Vec<String>,
    /// `<range>` elements; a missing bound is the type's own.
    ranges: Vec<(Option<i128>, Option<i128>)>,
}

impl Facets {
    /// The facets an element states itself (`<size>`, `<enumeration>`, `<range>` children).
    fn of(node: &Node) -> Result<Facets, String> {
        let mut facets = Facets::default();
        // A facet the standard has deleted no longer applies.
        for size in node
            .children_named("size")
            .filter(|s| s.attr("status") != Some("deleted"))
        {
            if let Some(max) = size.attr("maxLength") {
                facets.max_len = Some(max.parse().map_err(|e| format!("maxLength {max:?}: {e}"))?);
            }
        }
        facets.enumeration = node
            .children_named("enumeration")
            .filter_map(|e| e.attr("value").map(str::to_owned))
            .collect();
        for range in node.children_named("range") {
            let bound = |key: &str| -> Result<Option<i128>, String> {
                range
                    .attr(key)
                    .map(|v| v.parse().map_err(|e| format!("{key} {v:?}: {e}")))
                    .transpose()
            };
            facets
                .ranges
                .push((bound("minInclusive")?, bound("maxInclusive")?));
        }
        Ok(facets)
    }

    /// These facets, with `base`'s standing in where these state none (a derived type or a
    /// parameter restricts its data type, it does not drop its limits).
    fn over(mut self, base: Facets) -> Facets {
        if self.max_len.is_none() {
            self.max_len = base.max_len;
        }
        if self.enumeration.is_empty() {
            self.enumeration = base.enumeration;
        }
        if self.ranges.is_empty() {
            self.ranges = base.ranges;
        }
        self
    }
}

#[derive(Debug, Clone, PartialEq)]
struct BbfSyntax {
    primitive: String,
    /// A comma-separated list of the primitive; `facets.max_len` is then the list's.
    list: bool,
    facets: Facets,
}

#[derive(Debug, Clone)]
struct BbfParam {
    access: String,
    active_notify: Option<String>,
    forced_inform: bool,
    status: Option<String>,
    syntax: BbfSyntax,
}

#[derive(Debug, Clone)]
struct BbfObject {
    access: String,
    max_entries: String,
    status: Option<String>,
}

#[derive(Debug, Default)]
struct BbfModel {
    objects: HashMap<String, BbfObject>,
    params: HashMap<String, BbfParam>,
}

struct DataTypes<'a> {
    by_name: HashMap<&'a str, &'a Node>,
}

impl<'a> DataTypes<'a> {
    /// The named types, earlier documents taking precedence.
    fn new(documents: &[&'a Node]) -> DataTypes<'a> {
        let mut by_name = HashMap::new();
        for document in documents {
            for data_type in document.children_named("dataType") {
                if let Some(name) = data_type.attr("name") {
                    by_name.entry(name).or_insert(data_type);
                }
            }
        }
        DataTypes { by_name }
    }

    /// A named type down to its primitive, accumulating facets along the `base` chain.
    fn resolve(&self, name: &str, depth: usize) -> Result<(String, Facets), String> {
        if depth > 16 {
            return Err(format!("dataType {name}: base chain too deep"));
        }
        let node = self
            .by_name
            .get(name)
            .ok_or_else(|| format!("dataType {name} is not defined"))?;
        if let Some(primitive) = node
            .children
            .iter()
            .find(|c| PRIMITIVES.contains(&c.name.as_str()))
        {
            return Ok((primitive.name.clone(), Facets::of(primitive)?));
        }
        let base = node
            .attr("base")
            .ok_or_else(|| format!("dataType {name} has neither a primitive nor a base"))?;
        let (primitive, inherited) = self.resolve(base, depth + 1)?;
        Ok((primitive, Facets::of(node)?.over(inherited)))
    }

    fn syntax(&self, syntax: &Node) -> Result<BbfSyntax, String> {
        let list = syntax.child("list");
        let (primitive, mut facets) = if let Some(primitive) = syntax
            .children
            .iter()
            .find(|c| PRIMITIVES.contains(&c.name.as_str()))
        {
            (primitive.name.clone(), Facets::of(primitive)?)
        } else if let Some(reference) = syntax.child("dataType") {
            let name = reference
                .attr("ref")
                .ok_or("<dataType> in a syntax without ref")?;
            let (primitive, inherited) = self.resolve(name, 0)?;
            (primitive, Facets::of(reference)?.over(inherited))
        } else {
            return Err("syntax with neither a primitive nor a dataType".to_owned());
        };
        if let Some(list) = list {
            // An item's maxLength does not bound the whole value; only the list's own does.
            facets.max_len = Facets::of(list)?.max_len;
        }
        Ok(BbfSyntax {
            primitive,
            list: list.is_some(),
            facets,
        })
    }
}

fn load_model(tr181_xml: &str, types_xml: &str) -> Result<BbfModel, String> {
    let tr181 = parse_xml(tr181_xml).map_err(|e| format!("tr-181: {e}"))?;
    let tr106 = parse_xml(types_xml).map_err(|e| format!("tr-106 types: {e}"))?;
    let types = DataTypes::new(&[&tr181, &tr106]);
    let model = tr181
        .children_named("model")
        .find(|m| m.attr("name") == Some(MODEL))
        .ok_or_else(|| format!("no <model name=\"{MODEL}\">"))?;
    let mut out = BbfModel::default();
    for object in model.children_named("object") {
        // The full file names every object; a `base` only appears in the component files.
        let path = object
            .attr("name")
            .or_else(|| object.attr("base"))
            .ok_or("object without a name")?;
        out.objects.insert(
            path.to_owned(),
            BbfObject {
                access: object.attr("access").unwrap_or("readOnly").to_owned(),
                max_entries: object.attr("maxEntries").unwrap_or("1").to_owned(),
                status: object.attr("status").map(str::to_owned),
            },
        );
        for param in object.children_named("parameter") {
            let name = param
                .attr("name")
                .or_else(|| param.attr("base"))
                .ok_or_else(|| format!("{path}: parameter without a name"))?;
            let full = format!("{path}{name}");
            let syntax = param
                .child("syntax")
                .ok_or_else(|| format!("{full}: no <syntax>"))?;
            let syntax = types.syntax(syntax).map_err(|e| format!("{full}: {e}"))?;
            out.params.insert(
                full,
                BbfParam {
                    access: param.attr("access").unwrap_or("readOnly").to_owned(),
                    active_notify: param.attr("activeNotify").map(str::to_owned),
                    forced_inform: param.attr("forcedInform") == Some("true"),
                    status: param.attr("status").map(str::to_owned),
                    syntax,
                },
            );
        }
    }
    Ok(out)
}

/// `ManagementServer.HeartbeatPolicy.` came with TR-069 Amendment 6 and TR-181 Issue 2
/// Amendment 12 (Device:2.12), after the 2.11 file this test reads. Its definition, transcribed
/// from Device:2.12: the object is single and read-only; Enable (boolean), ReportingInterval
/// (unsignedInt, 20 s or more, default 30) and InitiationTime (dateTime) are writable.
fn add_device_2_12_heartbeat(model: &mut BbfModel) {
    let object = "Device.ManagementServer.HeartbeatPolicy.";
    model.objects.insert(
        object.to_owned(),
        BbfObject {
            access: "readOnly".into(),
            max_entries: "1".into(),
            status: None,
        },
    );
    let param = |primitive: &str, ranges: Vec<(Option<i128>, Option<i128>)>| BbfParam {
        access: "readWrite".into(),
        active_notify: None,
        forced_inform: false,
        status: None,
        syntax: BbfSyntax {
            primitive: primitive.into(),
            list: false,
            facets: Facets {
                ranges,
                ..Facets::default()
            },
        },
    };
    for (name, p) in [
        ("Enable", param("boolean", Vec::new())),
        (
            "ReportingInterval",
            param("unsignedInt", vec![(Some(20), None)]),
        ),
        ("InitiationTime", param("dateTime", Vec::new())),
    ] {
        model.params.insert(format!("{object}{name}"), p);
    }
}

fn model() -> &'static BbfModel {
    static MODEL_CELL: OnceLock<BbfModel> = OnceLock::new();
    MODEL_CELL.get_or_init(|| {
        let read = |path: &str| {
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
        };
        let mut model = load_model(&read(TR181), &read(TR106_TYPES))
            .unwrap_or_else(|e| panic!("cannot load the BBF model: {e}"));
        add_device_2_12_heartbeat(&mut model);
        model
    })
}

// ---------------------------------------------------------------------------------------------
// The checks.

fn xsd_of(primitive: &str) -> Option<XsdType> {
    Some(match primitive {
        "string" => XsdType::String,
        "boolean" => XsdType::Boolean,
        "unsignedInt" => XsdType::UnsignedInt,
        "int" => XsdType::Int,
        "unsignedLong" => XsdType::UnsignedLong,
        "long" => XsdType::Long,
        "dateTime" => XsdType::DateTime,
        "base64" => XsdType::Base64,
        "hexBinary" => XsdType::HexBinary,
        _ => return None,
    })
}

fn active_notify_of(attr: Option<&str>) -> Option<ActiveNotify> {
    Some(match attr {
        None | Some("normal") => ActiveNotify::Normal,
        Some("canDeny") => ActiveNotify::CanDeny,
        Some("forceEnabled") => ActiveNotify::ForceEnabled,
        Some("forceDefaultEnabled") => ActiveNotify::ForceDefaultEnabled,
        Some(_) => return None,
    })
}

/// A status the model still defines the item under (deleted and obsoleted ones are gone, or
/// must not be implemented).
fn current(status: Option<&str>) -> bool {
    !matches!(status, Some("deleted" | "obsoleted"))
}

/// Whether [min, max] lies inside one of the BBF ranges (a missing bound being the type's).
fn range_within(ranges: &[(Option<i128>, Option<i128>)], min: i128, max: i128) -> bool {
    ranges
        .iter()
        .any(|(lo, hi)| lo.is_none_or(|lo| lo <= min) && hi.is_none_or(|hi| max <= hi))
}

fn check_param(def: &ParamDef, model: &BbfModel) -> Vec<String> {
    let path = def.path;
    let Some(bbf) = model.params.get(path) else {
        return vec![format!("{path}: no such parameter in {MODEL}")];
    };
    let mut errors = Vec::new();
    let mut fail = |what: String| errors.push(format!("{path}: {what}"));
    if !current(bbf.status.as_deref()) {
        fail(format!(
            "is {} in {MODEL}",
            bbf.status.as_deref().unwrap_or("")
        ));
    }
    // A list of any primitive travels as one comma-separated xsd:string (TR-106).
    let expected = if bbf.syntax.list {
        Some(XsdType::String)
    } else {
        xsd_of(&bbf.syntax.primitive)
    };
    match expected {
        Some(expected) if expected == def.syntax.xsd_type() => {}
        _ => fail(format!(
            "type {:?}, BBF {}{}",
            def.syntax.xsd_type(),
            bbf.syntax.primitive,
            if bbf.syntax.list { " (list)" } else { "" }
        )),
    }
    let bbf_writable = bbf.access == "readWrite";
    if def.writable != bbf_writable {
        fail(format!(
            "writable {}, BBF access {}",
            def.writable, bbf.access
        ));
    }
    if def.forced_inform != bbf.forced_inform {
        fail(format!(
            "forced_inform {}, BBF forcedInform {}",
            def.forced_inform, bbf.forced_inform
        ));
    }
    match active_notify_of(bbf.active_notify.as_deref()) {
        Some(expected) if expected == def.active_notify => {}
        _ => fail(format!(
            "active_notify {:?}, BBF activeNotify {}",
            def.active_notify,
            bbf.active_notify.as_deref().unwrap_or("(normal)")
        )),
    }
    let facets = &bbf.syntax.facets;
    match def.syntax {
        Syntax::String {
            max_len,
            enumeration,
        } => {
            if let Some(bbf_max) = facets.max_len {
                if max_len != bbf_max {
                    fail(format!("max_len {max_len}, BBF maxLength {bbf_max}"));
                }
            }
            if !facets.enumeration.is_empty() {
                if enumeration.is_empty() {
                    fail(format!(
                        "no enumeration, BBF enumerates {:?}",
                        facets.enumeration
                    ));
                }
                let extra: Vec<&str> = enumeration
                    .iter()
                    .copied()
                    .filter(|v| !facets.enumeration.iter().any(|b| b == v))
                    .collect();
                if !extra.is_empty() {
                    fail(format!(
                        "enumeration values {extra:?} not in BBF {:?}",
                        facets.enumeration
                    ));
                }
            }
        }
        Syntax::UnsignedInt { min, max } => {
            if !facets.ranges.is_empty()
                && !range_within(&facets.ranges, i128::from(min), i128::from(max))
            {
                fail(format!(
                    "range {min}..={max} outside BBF {:?}",
                    facets.ranges
                ));
            }
        }
        Syntax::Int { min, max } => {
            if !facets.ranges.is_empty()
                && !range_within(&facets.ranges, i128::from(min), i128::from(max))
            {
                fail(format!(
                    "range {min}..={max} outside BBF {:?}",
                    facets.ranges
                ));
            }
        }
        Syntax::Long { min, max } => {
            if !facets.ranges.is_empty()
                && !range_within(&facets.ranges, i128::from(min), i128::from(max))
            {
                fail(format!(
                    "range {min}..={max} outside BBF {:?}",
                    facets.ranges
                ));
            }
        }
        Syntax::Boolean | Syntax::UnsignedLong | Syntax::DateTime => {}
    }
    errors
}

fn check_object(def: &ObjectDef, model: &BbfModel) -> Vec<String> {
    let path = def.path;
    let Some(bbf) = model.objects.get(path) else {
        return vec![format!("{path}: no such object in {MODEL}")];
    };
    let mut errors = Vec::new();
    if !current(bbf.status.as_deref()) {
        errors.push(format!(
            "{path}: is {} in {MODEL}",
            bbf.status.as_deref().unwrap_or("")
        ));
    }
    let bbf_writable = bbf.access == "readWrite";
    if def.writable != bbf_writable {
        errors.push(format!(
            "{path}: writable {}, BBF access {}",
            def.writable, bbf.access
        ));
    }
    let table = path.ends_with("{i}.");
    let bbf_table = bbf.max_entries != "1";
    if table != bbf_table {
        errors.push(format!(
            "{path}: {} in the registry, BBF maxEntries {}",
            if table { "a table" } else { "single" },
            bbf.max_entries
        ));
    }
    errors
}

/// Every mismatch between the given registry entries and the model, vendor extensions skipped.
fn check_registry(params: &[ParamDef], objects: &[ObjectDef], model: &BbfModel) -> Vec<String> {
    let standard = |path: &str| !path.contains(".X_");
    objects
        .iter()
        .filter(|o| standard(o.path))
        .flat_map(|o| check_object(o, model))
        .chain(
            params
                .iter()
                .filter(|p| standard(p.path))
                .flat_map(|p| check_param(p, model)),
        )
        .collect()
}

// ---------------------------------------------------------------------------------------------

#[test]
fn the_registry_conforms_to_tr181_device_2_11() {
    let model = model();
    let all_params: Vec<ParamDef> = parameters().copied().collect();
    let all_objects: Vec<ObjectDef> = objects().copied().collect();
    let errors = check_registry(&all_params, &all_objects, model);
    assert!(
        errors.is_empty(),
        "{} registry entries disagree with {MODEL}:\n  {}",
        errors.len(),
        errors.join("\n  ")
    );
    // The check did look at something: every standard entry was found.
    let checked = all_params
        .iter()
        .filter(|p| !p.path.contains(".X_"))
        .count();
    println!(
        "{checked} parameters and {} objects match {MODEL} (HeartbeatPolicy: Device:2.12)",
        all_objects.len()
    );
    assert!(checked >= 400, "only {checked} parameters supported");
}

#[test]
fn the_bbf_parser_resolves_named_types_and_facets() {
    let model = model();
    let param = |path: &str| {
        model
            .params
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing from the parsed model"))
    };
    // StatsCounter64 → unsignedLong.
    let bytes = param("Device.Ethernet.Interface.{i}.Stats.BytesSent");
    assert_eq!(bytes.syntax.primitive, "unsignedLong");
    assert_eq!(bytes.active_notify.as_deref(), Some("canDeny"));
    // StatsCounter32 → unsignedInt.
    let errors = param("Device.IP.Interface.{i}.Stats.ErrorsSent");
    assert_eq!(errors.syntax.primitive, "unsignedInt");
    // Alias → _AliasCWMP → _AliasCommon, whose string carries the maxLength.
    let alias = param("Device.IP.Interface.{i}.Alias");
    assert_eq!(alias.syntax.primitive, "string");
    assert_eq!(alias.syntax.facets.max_len, Some(64));
    // IPv4Address narrows IPAddress's 45 to 15.
    let ipv4 = param("Device.IP.Interface.{i}.IPv4Address.{i}.IPAddress");
    assert_eq!(ipv4.syntax.facets.max_len, Some(15));
    // The parameter's own enumeration overrides its data type's.
    let state = param("Device.IP.Diagnostics.IPPing.DiagnosticsState");
    assert!(
        state
            .syntax
            .facets
            .enumeration
            .iter()
            .any(|v| v == "Error_Internal")
    );
    let dscp = param("Device.IP.Diagnostics.IPPing.DSCP");
    assert_eq!(dscp.syntax.facets.ranges, [(Some(0), Some(63))]);
    let inform = param("Device.DeviceInfo.SoftwareVersion");
    assert!(inform.forced_inform);
    assert_eq!(inform.active_notify.as_deref(), Some("forceEnabled"));
    let table = &model.objects["Device.NAT.PortMapping.{i}."];
    assert_eq!(
        (table.access.as_str(), table.max_entries.as_str()),
        ("readWrite", "unbounded")
    );
    assert_eq!(model.objects["Device.DeviceInfo."].max_entries, "1");
}

/// Wrong entries must be reported, or a passing conformance test proves nothing.
#[test]
fn deliberately_wrong_entries_are_reported() {
    let model = model();
    let find = |path: &str| {
        *PARAMETERS
            .iter()
            .find(|p| p.path == path)
            .unwrap_or_else(|| panic!("{path} not in the registry"))
    };
    let mentions = |errors: &[String], needle: &str| errors.iter().any(|e| e.contains(needle));

    let uptime = find("Device.DeviceInfo.UpTime");
    assert!(
        check_param(&uptime, model).is_empty(),
        "the control is right"
    );
    let wrong = ParamDef {
        writable: !uptime.writable,
        syntax: Syntax::Boolean,
        forced_inform: !uptime.forced_inform,
        active_notify: ActiveNotify::ForceEnabled,
        ..uptime
    };
    let errors = check_param(&wrong, model);
    assert_eq!(errors.len(), 4, "{errors:#?}");
    for needle in ["writable", "type", "forced_inform", "active_notify"] {
        assert!(
            mentions(&errors, needle),
            "{needle} not reported: {errors:#?}"
        );
    }

    let manufacturer = find("Device.DeviceInfo.Manufacturer");
    let errors = check_param(
        &ParamDef {
            syntax: Syntax::string(0),
            ..manufacturer
        },
        model,
    );
    assert!(mentions(&errors, "max_len 0"), "{errors:#?}");

    let status = find("Device.IP.Interface.{i}.Status");
    let errors = check_param(
        &ParamDef {
            syntax: Syntax::enumeration(&["Up", "Down", "Sideways"]),
            ..status
        },
        model,
    );
    assert!(mentions(&errors, "Sideways"), "{errors:#?}");
    let errors = check_param(
        &ParamDef {
            syntax: Syntax::string(0),
            ..status
        },
        model,
    );
    assert!(mentions(&errors, "no enumeration"), "{errors:#?}");

    let dscp = find("Device.IP.Diagnostics.IPPing.DSCP");
    let errors = check_param(
        &ParamDef {
            syntax: Syntax::uint(0, 64),
            ..dscp
        },
        model,
    );
    assert!(mentions(&errors, "outside"), "{errors:#?}");

    let errors = check_param(
        &ParamDef {
            path: "Device.DeviceInfo.NoSuchThing",
            ..uptime
        },
        model,
    );
    assert!(mentions(&errors, "no such parameter"), "{errors:#?}");

    let errors = check_registry(
        &[ParamDef {
            path: "Device.DeviceInfo.X_000000_Anything",
            ..uptime
        }],
        &[],
        model,
    );
    assert!(
        errors.is_empty(),
        "vendor extensions are skipped: {errors:#?}"
    );

    let port_mapping = OBJECTS
        .iter()
        .find(|o| o.path == "Device.NAT.PortMapping.{i}.")
        .expect("PortMapping in the registry");
    assert!(check_object(port_mapping, model).is_empty());
    let errors = check_object(
        &ObjectDef {
            writable: false,
            ..*port_mapping
        },
        model,
    );
    assert!(mentions(&errors, "writable false"), "{errors:#?}");
    let errors = check_object(
        &ObjectDef {
            path: "Device.DeviceInfo.{i}.",
            ..*port_mapping
        },
        model,
    );
    assert!(mentions(&errors, "no such object"), "{errors:#?}");
    let errors = check_object(
        &ObjectDef {
            path: "Device.NAT.PortMapping.",
            ..*port_mapping
        },
        model,
    );
    assert!(mentions(&errors, "no such object"), "{errors:#?}");
}

/// Parser and object checks on a small hand-written model, for the cases the real file does not
/// make easy to provoke (a table declared single, a list, a base chain across documents).
#[test]
fn a_synthetic_model_is_checked_the_same_way() {
    let tr181 = r#"<?xml version="1.0"?>
<dm:document xmlns:dm="urn:broadband-forum-org:cwmp:datamodel-1-14">
  <dataType name="Short" base="Imported"><size maxLength="8"/></dataType>
  <model name="Device:2.11">
    <object name="Device.Thing.{i}." access="readOnly" minEntries="0" maxEntries="1">
      <parameter name="Name" access="readWrite" forcedInform="true" activeNotify="forceDefaultEnabled">
        <syntax><dataType ref="Short"/></syntax>
      </parameter>
      <parameter name="Methods" access="readOnly">
        <syntax>
          <list><size maxLength="32"/></list>
          <string><size maxLength="4"/><enumeration value="A"/><enumeration value="B"/></string>
        </syntax>
      </parameter>
      <parameter name="Level" access="readWrite">
        <syntax><int><range minInclusive="-5" maxInclusive="-1"/><range minInclusive="1"/></int></syntax>
      </parameter>
    </object>
  </model>
</dm:document>"#;
    let types = r#"<dm:document xmlns:dm="x">
  <dataType name="Imported"><string><size maxLength="64"/><enumeration value="x"/></string></dataType>
  <dataType name="Short"><boolean/></dataType>
</dm:document>"#;
    let model = load_model(tr181, types).expect("synthetic model loads");
    let name = &model.params["Device.Thing.{i}.Name"];
    assert_eq!(name.syntax.primitive, "string", "tr-181's own Short wins");
    assert_eq!(name.syntax.facets.max_len, Some(8));
    assert_eq!(name.syntax.facets.enumeration, ["x"]);
    let methods = &model.params["Device.Thing.{i}.Methods"];
    assert!(methods.syntax.list);
    assert_eq!(methods.syntax.facets.max_len, Some(32), "the list's length");

    let object = ObjectDef {
        path: "Device.Thing.{i}.",
        ..OBJECTS[0]
    };
    let errors = check_object(&object, &model);
    assert!(
        errors.iter().any(|e| e.contains("a table in the registry")),
        "{errors:#?}"
    );

    let base = ParamDef {
        path: "Device.Thing.{i}.Name",
        ..PARAMETERS[0]
    };
    let good = ParamDef {
        syntax: Syntax::String {
            max_len: 8,
            enumeration: &["x"],
        },
        writable: true,
        forced_inform: true,
        active_notify: ActiveNotify::ForceDefaultEnabled,
        ..base
    };
    assert!(check_param(&good, &model).is_empty());
    let level = |min, max| ParamDef {
        path: "Device.Thing.{i}.Level",
        syntax: Syntax::Int { min, max },
        writable: true,
        forced_inform: false,
        active_notify: ActiveNotify::Normal,
        ..base
    };
    assert!(check_param(&level(-5, -2), &model).is_empty());
    assert!(check_param(&level(1, i32::MAX), &model).is_empty());
    assert_eq!(check_param(&level(-1, 1), &model).len(), 1, "spans the gap");
    assert_eq!(check_param(&level(0, 3), &model).len(), 1);
}

/// The counts README.md and ARCHITECTURE.md give for the registry are the registry's.
#[test]
fn the_docs_state_the_registry_counts() {
    use tr069_client::datamodel::{registry, registry_troubleshooting};
    let (core_p, core_o) = (registry::PARAMETERS.len(), registry::OBJECTS.len());
    let (tr_p, tr_o) = (
        registry_troubleshooting::PARAMETERS.len(),
        registry_troubleshooting::OBJECTS.len(),
    );
    let (all_p, all_o) = (parameters().count(), objects().count());
    assert_eq!((all_p, all_o), (core_p + tr_p, core_o + tr_o));
    let read = |name: &str| {
        let text = std::fs::read_to_string(format!("{}/{name}", env!("CARGO_MANIFEST_DIR")))
            .unwrap_or_else(|e| panic!("reading {name}: {e}"));
        // Line breaks fall anywhere in the prose.
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let readme = read("README.md");
    let architecture = read("ARCHITECTURE.md");
    for (doc, text, expected) in [
        (
            "README.md",
            &readme,
            format!(
                "The registry holds {all_p} parameters and {all_o} objects: {core_p} and \
                 {core_o} in `src/datamodel/registry.rs`, {tr_p} and {tr_o} in \
                 `src/datamodel/registry_troubleshooting.rs`."
            ),
        ),
        (
            "README.md",
            &readme,
            format!("{tr_p} of the registry's {all_p} parameters"),
        ),
        (
            "ARCHITECTURE.md",
            &architecture,
            format!("({core_p} parameters, {core_o} objects)"),
        ),
        (
            "ARCHITECTURE.md",
            &architecture,
            format!("({tr_p} parameters, {tr_o} objects)"),
        ),
    ] {
        assert!(text.contains(&expected), "{doc} should say: {expected}");
    }
}
