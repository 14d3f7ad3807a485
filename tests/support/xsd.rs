//! Offline XML-Schema conformance checks for CWMP messages, using `xmllint` (libxml2-utils).
//!
//! Use from an integration test with
//!
//! ```ignore
//! #[path = "support/xsd.rs"]
//! mod xsd;
//! use xsd::SchemaVersion;
//!
//! if !xsd::require_xmllint() {
//!     return; // printed `SKIPPED <test>: xmllint not found ...` (a failure under TR069_TEST_STRICT=1)
//! }
//! xsd::validate(&envelope_xml, SchemaVersion::Cwmp12).unwrap();            // Err = xmllint's messages
//! let failures = xsd::validate_many(&labelled_msgs, SchemaVersion::Cwmp10); // Vec<(label, messages)>
//! assert!(failures.is_empty(), "{}", xsd::format_failures(&failures));
//! ```
//!
//! A message is a complete SOAP 1.1 envelope (`soap:Envelope` with optional `soap:Header` and a
//! `soap:Body`). It is validated against the SOAP envelope schema and the BBF cwmp schema
//! together, through the wrapper schemas `tests/xsd/driver-<version>.xsd`. The remote schema
//! locations used by the BBF files are mapped to local files by an XML catalog that this module
//! writes (with absolute paths) into the temp dir, and xmllint runs with `--nonet`:
//!
//! * `http://schemas.xmlsoap.org/soap/envelope/` -> `tests/xsd/soap-envelope.xsd`
//! * `http://schemas.xmlsoap.org/soap/encoding/` -> `tests/xsd/soap-encoding.xsd`
//! * `http://www.broadband-forum.org/cwmp/*`     -> `$CARGO_MANIFEST_DIR/bbf/*`
//!
//! The local envelope schema validates Header, Body and Fault/detail children STRICTLY (the
//! published one is lax), so an element the cwmp schema does not declare is an error.
//!
//! Every test that validates starts with [`require_xmllint`]: without xmllint it skips (one
//! printed line), and under `TR069_TEST_STRICT=1` (CI, which installs libxml2-utils) it fails.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Which BBF schema a message is validated against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaVersion {
    /// `urn:dslforum-org:cwmp-1-0`, `cwmp-1-0.xsd`. Header elements: `ID`, `HoldRequests`.
    Cwmp10,
    /// `urn:dslforum-org:cwmp-1-2`, `cwmp-1-2.xsd`. Header elements: `ID`, `HoldRequests`.
    Cwmp12,
    /// `urn:dslforum-org:cwmp-1-2` (same namespace), `cwmp-1-4.xsd`, which includes/redefines
    /// cwmp-1-3.xsd -> cwmp-1-2.xsd. Header elements: `ID`, `HoldRequests`, `SessionTimeout`
    /// (from 1-3), `SupportedCWMPVersions`, `UseCWMPVersion` (from 1-4).
    Cwmp14,
}

impl SchemaVersion {
    pub const ALL: [SchemaVersion; 3] = [
        SchemaVersion::Cwmp10,
        SchemaVersion::Cwmp12,
        SchemaVersion::Cwmp14,
    ];

    /// The cwmp namespace URI messages for this schema must use.
    pub fn namespace(self) -> &'static str {
        match self {
            SchemaVersion::Cwmp10 => "urn:dslforum-org:cwmp-1-0",
            SchemaVersion::Cwmp12 | SchemaVersion::Cwmp14 => "urn:dslforum-org:cwmp-1-2",
        }
    }

    /// File name of the BBF schema in `bbf/`.
    pub fn xsd_file(self) -> &'static str {
        match self {
            SchemaVersion::Cwmp10 => "cwmp-1-0.xsd",
            SchemaVersion::Cwmp12 => "cwmp-1-2.xsd",
            SchemaVersion::Cwmp14 => "cwmp-1-4.xsd",
        }
    }

    /// File name of the wrapper schema in `tests/xsd` handed to `xmllint --schema`.
    pub fn driver_file(self) -> &'static str {
        match self {
            SchemaVersion::Cwmp10 => "driver-1-0.xsd",
            SchemaVersion::Cwmp12 => "driver-1-2.xsd",
            SchemaVersion::Cwmp14 => "driver-1-4.xsd",
        }
    }
}

/// `tests/xsd` of the root package.
pub fn xsd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("xsd")
}

/// The BBF schema directory, `$CARGO_MANIFEST_DIR/bbf` (copies carried by the repository; see
/// `bbf/README.md`).
pub fn bbf_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bbf")
}

/// `true` when xmllint is installed; otherwise the running test is skipped (one printed line;
/// a failure under `TR069_TEST_STRICT=1`) and must return.
pub fn require_xmllint() -> bool {
    test_tools::require_tool("xmllint", "apt-get install libxml2-utils")
}

/// Percent-encodes an absolute path into a `file://` URI.
fn file_uri(path: &Path) -> String {
    let mut uri = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(b as char);
        } else {
            write!(uri, "%{b:02X}").unwrap();
        }
    }
    uri
}

fn xml_escape_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
}

/// Absolute path of the generated catalog (written once per process).
fn catalog_path() -> &'static Path {
    static CATALOG: OnceLock<PathBuf> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let xsd = xsd_dir();
        let bbf = bbf_dir();
        for (what, dir, file) in [
            ("local SOAP schemas", &xsd, "soap-envelope.xsd"),
            ("local SOAP schemas", &xsd, "soap-encoding.xsd"),
            ("BBF cwmp schemas (expected at <workspace>/bbf)", &bbf, "cwmp-1-0.xsd"),
        ] {
            let p = dir.join(file);
            assert!(p.is_file(), "{what}: {} not found", p.display());
        }
        let xsd = xsd.canonicalize().expect("canonicalize tests/xsd");
        let bbf = bbf.canonicalize().expect("canonicalize bbf/");

        let envelope = xml_escape_attr(&file_uri(&xsd.join("soap-envelope.xsd")));
        let encoding = xml_escape_attr(&file_uri(&xsd.join("soap-encoding.xsd")));
        let bbf_prefix = xml_escape_attr(&format!("{}/", file_uri(&bbf)));
        let catalog = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by tests/support/xsd.rs; see tests/xsd/catalog.xml for the checked-in equivalent. -->
<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog" prefer="system">
  <uri name="http://schemas.xmlsoap.org/soap/envelope/" uri="{envelope}"/>
  <system systemId="http://schemas.xmlsoap.org/soap/envelope/" uri="{envelope}"/>
  <uri name="http://schemas.xmlsoap.org/soap/encoding/" uri="{encoding}"/>
  <system systemId="http://schemas.xmlsoap.org/soap/encoding/" uri="{encoding}"/>
  <rewriteURI uriStartString="http://www.broadband-forum.org/cwmp/" rewritePrefix="{bbf_prefix}"/>
  <rewriteSystem systemIdStartString="http://www.broadband-forum.org/cwmp/" rewritePrefix="{bbf_prefix}"/>
</catalog>
"#
        );

        // The content only depends on the checkout's paths, so name the file after its hash
        // and reuse it; write it atomically (unique temp name + rename) so concurrent test
        // processes never see a half-written catalog.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        catalog.hash(&mut hasher);
        let path = std::env::temp_dir()
            .join(format!("tr069-client-xsd-catalog-{:016x}.xml", hasher.finish()));
        if std::fs::read_to_string(&path).ok().as_deref() != Some(catalog.as_str()) {
            let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
            std::fs::write(&tmp, &catalog).expect("write XML catalog to the temp dir");
            std::fs::rename(&tmp, &path).expect("move XML catalog into place");
        }
        assert!(
            !path.to_string_lossy().chars().any(char::is_whitespace),
            "XML_CATALOG_FILES is whitespace-separated; temp dir path {} contains whitespace",
            path.display()
        );
        path
    })
}

/// A fresh directory in the temp dir for one xmllint run; removed by `Drop`.
struct RunDir(PathBuf);

impl RunDir {
    fn new() -> RunDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "tr069-client-xsd-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir for xmllint input");
        RunDir(dir)
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs xmllint on `files` (all in one process); returns (exit status, stderr).
fn run_xmllint(files: &[PathBuf], version: SchemaVersion) -> (Option<i32>, String) {
    assert!(
        test_tools::find_tool("xmllint").is_some(),
        "xmllint is not installed and this test validates without calling \
         xsd::require_xmllint() first (which skips it)"
    );
    let driver = xsd_dir().join(version.driver_file());
    let output = Command::new("xmllint")
        .env("XML_CATALOG_FILES", catalog_path())
        .env_remove("XML_DEBUG_CATALOG")
        .arg("--noout")
        .arg("--nonet")
        .arg("--schema")
        .arg(&driver)
        .args(files)
        .output()
        .expect("run xmllint");
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    (output.status.code(), text)
}

/// Validates one SOAP envelope. `Err` holds xmllint's diagnostics (with the temp file name
/// replaced by `<message>`).
pub fn validate(xml: &str, version: SchemaVersion) -> Result<(), String> {
    let failures = validate_many(&[("<message>".to_string(), xml.to_string())], version);
    match failures.into_iter().next() {
        None => Ok(()),
        Some((_, err)) => Err(err),
    }
}

/// Validates many SOAP envelopes (label, xml) with as few xmllint processes as possible.
/// Returns the failures as (label, xmllint diagnostics); empty when everything validates.
pub fn validate_many(msgs: &[(String, String)], version: SchemaVersion) -> Vec<(String, String)> {
    const BATCH: usize = 256; // keep the command line well below ARG_MAX
    let mut failures = Vec::new();
    for chunk in msgs.chunks(BATCH) {
        failures.extend(validate_batch(chunk, version));
    }
    failures
}

fn validate_batch(msgs: &[(String, String)], version: SchemaVersion) -> Vec<(String, String)> {
    if msgs.is_empty() {
        return Vec::new();
    }
    let dir = RunDir::new();
    let files: Vec<PathBuf> = msgs
        .iter()
        .enumerate()
        .map(|(i, (_, xml))| {
            let path = dir.0.join(format!("msg-{i:05}.xml"));
            std::fs::write(&path, xml).expect("write message to temp file");
            path
        })
        .collect();
    let (status, output) = run_xmllint(&files, version);

    // The schema itself did not load: every message fails with the same diagnostics.
    if status == Some(5) {
        return msgs
            .iter()
            .map(|(label, _)| {
                (
                    label.clone(),
                    format!("schema failed to compile:\n{output}"),
                )
            })
            .collect();
    }

    // Attribute every output line to the file whose name starts it; continuation lines (parser
    // error context, carets) belong to the last file named.
    let names: Vec<String> = files
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let mut per_file: Vec<Vec<&str>> = vec![Vec::new(); files.len()];
    let mut validated = vec![false; files.len()];
    let mut current: Option<usize> = None;
    let mut unattributed = Vec::new();
    for line in output.lines() {
        // File names all have the same length, so no name is a prefix of another.
        if let Some(i) = names.iter().position(|n| line.starts_with(n.as_str())) {
            current = Some(i);
            if line[names[i].len()..] == *" validates" {
                validated[i] = true;
                continue;
            }
        }
        match current {
            Some(i) => per_file[i].push(line),
            None => unattributed.push(line),
        }
    }

    let mut failures = Vec::new();
    for (i, (label, _)) in msgs.iter().enumerate() {
        if validated[i] {
            continue;
        }
        let mut text = per_file[i].join("\n").replace(&names[i], label);
        if text.is_empty() {
            text = format!(
                "xmllint did not report this file as valid (exit status {status:?}); output:\n{}",
                unattributed.join("\n")
            );
        }
        failures.push((label.clone(), text));
    }
    failures
}

/// Pretty-prints `validate_many` failures for an assertion message.
pub fn format_failures(failures: &[(String, String)]) -> String {
    let mut s = format!(
        "{} message(s) failed XML-Schema validation:\n",
        failures.len()
    );
    for (label, err) in failures {
        let _ = writeln!(s, "--- {label}\n{err}");
    }
    s
}

/// Panics with xmllint's diagnostics unless `xml` validates.
#[track_caller]
pub fn assert_valid(xml: &str, version: SchemaVersion) {
    if let Err(e) = validate(xml, version) {
        panic!(
            "message does not validate against {}:\n{e}\n--- message:\n{xml}",
            version.xsd_file()
        );
    }
}

/// Panics unless `xml` FAILS validation; returns xmllint's diagnostics.
#[track_caller]
pub fn assert_invalid(xml: &str, version: SchemaVersion) -> String {
    match validate(xml, version) {
        Ok(()) => panic!(
            "message unexpectedly validates against {}:\n{xml}",
            version.xsd_file()
        ),
        Err(e) => e,
    }
}
