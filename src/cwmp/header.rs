//! SOAP header elements CWMP defines (TR-069 §A.3.1 and cwmp-1-*.xsd).

use super::CwmpNamespace;
use super::value::parse_bool;
use super::xml::{Element, Writer};

/// The cwmp header elements of one message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Header {
    /// `cwmp:ID` (mustUnderstand): correlates a request with its response; the responder echoes it.
    pub id: Option<String>,
    /// `cwmp:HoldRequests` (ACS→CPE): while true the CPE sends no requests of its own.
    pub hold_requests: Option<bool>,
    /// `cwmp:SessionTimeout` (CPE→ACS in Inform, CWMP ≥ 1.3): seconds the CPE waits for the next
    /// HTTP message. Read from `SessionTimeout` or GenieACS's `sessionTimeout`.
    pub session_timeout: Option<u32>,
    /// `cwmp:SupportedCWMPVersions` (CPE→ACS in Inform, CWMP 1.4), e.g. `1.0,1.1,1.2,1.3,1.4`.
    pub supported_cwmp_versions: Option<String>,
    /// `cwmp:UseCWMPVersion` (ACS→CPE in InformResponse, CWMP 1.4).
    pub use_cwmp_version: Option<String>,
    /// Legacy `cwmp:NoMoreRequests` (CWMP 1.0; deprecated, read but never written).
    pub no_more_requests: Option<bool>,
}

impl Header {
    pub fn with_id(id: impl Into<String>) -> Header {
        Header {
            id: Some(id.into()),
            ..Header::default()
        }
    }

    /// Reads the header children by local name; unknown headers are ignored.
    pub(crate) fn decode(el: &Element) -> Header {
        let mut h = Header::default();
        for child in &el.children {
            let text = child.trimmed_text();
            match &*child.name {
                "ID" => h.id = Some(text.to_owned()),
                "HoldRequests" => h.hold_requests = parse_bool(text),
                "SessionTimeout" | "sessionTimeout" => h.session_timeout = text.parse().ok(),
                "SupportedCWMPVersions" => h.supported_cwmp_versions = Some(text.to_owned()),
                "UseCWMPVersion" => h.use_cwmp_version = Some(text.to_owned()),
                "NoMoreRequests" => h.no_more_requests = parse_bool(text),
                _ => {}
            }
        }
        h
    }

    /// Whether anything would be written for `ns`.
    pub(crate) fn is_empty_for(&self, ns: CwmpNamespace) -> bool {
        self.id.is_none()
            && self.hold_requests.is_none()
            && !(ns.has_v13_headers()
                && (self.session_timeout.is_some()
                    || self.supported_cwmp_versions.is_some()
                    || self.use_cwmp_version.is_some()))
    }

    /// Writes the header children. The CWMP 1.3/1.4 headers are written only in namespaces whose
    /// schema defines them; NoMoreRequests is deprecated and never written.
    pub(crate) fn encode(&self, w: &mut Writer, ns: CwmpNamespace) {
        const MU1: &[(&str, &str)] = &[("soap-env:mustUnderstand", "1")];
        if let Some(id) = &self.id {
            w.text_element_with("cwmp:ID", MU1, id);
        }
        if let Some(hold) = self.hold_requests {
            w.text_element_with(
                "cwmp:HoldRequests",
                MU1,
                if hold { "true" } else { "false" },
            );
        }
        if !ns.has_v13_headers() {
            return;
        }
        if let Some(t) = self.session_timeout {
            w.text_element_with(
                "cwmp:SessionTimeout",
                &[("soap-env:mustUnderstand", "0")],
                &t.to_string(),
            );
        }
        if let Some(v) = &self.supported_cwmp_versions {
            w.text_element_with(
                "cwmp:SupportedCWMPVersions",
                &[("soap-env:mustUnderstand", "0")],
                v,
            );
        }
        if let Some(v) = &self.use_cwmp_version {
            w.text_element_with("cwmp:UseCWMPVersion", MU1, v);
        }
    }
}
