//! The SOAP 1.1 envelope carrying one CWMP message (TR-069 §A.3).

use super::fault::{Fault, FaultCode};
use super::header::Header;
use super::xml::{
    self, Element, Limits, SOAP_ENC_NS, SOAP_ENV_NS, Writer, XSD_NS, XSI_NS, XmlError,
};
use super::{ArgError, CwmpNamespace};

pub use super::rpc::Body;

/// One SOAP envelope: the cwmp namespace it is written in, its header and its body.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The cwmp namespace the message uses (read from the method element, else from the header).
    pub namespace: CwmpNamespace,
    pub header: Header,
    pub body: Body,
}

/// What was wrong with a message, and what the CPE answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct DecodeError {
    pub kind: DecodeErrorKind,
    /// The `cwmp:ID` of the offending message, when it could be read (echoed in the fault).
    pub id: Option<String>,
    /// The cwmp namespace of the offending message, when it could be determined.
    pub namespace: Option<CwmpNamespace>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    #[error("not well-formed XML: {0}")]
    Xml(#[from] XmlError),
    #[error("not a SOAP envelope: {0}")]
    NotSoap(&'static str),
    #[error("the SOAP Body is empty")]
    EmptyBody,
    #[error("unknown method {0}")]
    UnknownMethod(String),
    #[error("invalid arguments to {method}: {error}")]
    InvalidArguments { method: String, error: ArgError },
}

impl DecodeError {
    fn new(kind: DecodeErrorKind) -> DecodeError {
        DecodeError {
            kind,
            id: None,
            namespace: None,
        }
    }

    /// The CWMP fault a CPE sends back for this message: 9000 for an unknown method, 9004 for
    /// an oversized one, 9003 for everything else that could not be read.
    pub fn fault(&self) -> Fault {
        let (code, detail) = match &self.kind {
            DecodeErrorKind::UnknownMethod(m) => (
                FaultCode::MethodNotSupported,
                format!("Method not supported: {m}"),
            ),
            DecodeErrorKind::Xml(XmlError::TooLarge { .. }) => {
                (FaultCode::ResourcesExceeded, self.kind.to_string())
            }
            other => (FaultCode::InvalidArguments, other.to_string()),
        };
        Fault::with_string(code, truncate(&detail, 256))
    }

    /// The complete fault envelope answering the offending message (echoing its ID).
    pub fn fault_envelope(&self, session_namespace: CwmpNamespace) -> Envelope {
        Envelope {
            namespace: self.namespace.unwrap_or(session_namespace),
            header: Header {
                id: self.id.clone(),
                ..Header::default()
            },
            body: Body::Fault(self.fault()),
        }
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

impl Envelope {
    pub fn new(namespace: CwmpNamespace, header: Header, body: impl Into<Body>) -> Envelope {
        Envelope {
            namespace,
            header,
            body: body.into(),
        }
    }

    /// Decodes one envelope from untrusted bytes. Never panics.
    pub fn decode(input: &[u8], limits: &Limits) -> Result<Envelope, DecodeError> {
        let root = xml::parse(input, limits).map_err(|e| DecodeError::new(e.into()))?;
        decode_tree(&root)
    }

    /// Encodes with the conventional prefixes (`soap-env`, `soap-enc`, `xsd`, `xsi`, `cwmp`), all
    /// declared on the Envelope — where GenieACS looks for them.
    pub fn encode(&self) -> String {
        let mut w = Writer::with_capacity(1024);
        self.encode_into(&mut w);
        w.into_string()
    }

    pub fn encode_into(&self, w: &mut Writer) {
        w.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        w.open_with_plain(
            "soap-env:Envelope",
            &[
                ("xmlns:soap-env", SOAP_ENV_NS),
                ("xmlns:soap-enc", SOAP_ENC_NS),
                ("xmlns:xsd", XSD_NS),
                ("xmlns:xsi", XSI_NS),
                ("xmlns:cwmp", self.namespace.uri()),
            ],
        );
        if !self.header.is_empty_for(self.namespace) {
            w.open("soap-env:Header");
            self.header.encode(w, self.namespace);
            w.close("soap-env:Header");
        }
        w.open("soap-env:Body");
        self.body.encode(w);
        w.close("soap-env:Body");
        w.close("soap-env:Envelope");
    }
}

/// SOAP structure elements must be in the envelope namespace; an unbound name is tolerated
/// (some ACSes forget to declare it), a different namespace is not.
fn is_soap(el: &Element, name: &str) -> bool {
    el.name == name && el.ns.as_deref().is_none_or(|ns| ns == SOAP_ENV_NS)
}

fn decode_tree(root: &Element) -> Result<Envelope, DecodeError> {
    if !is_soap(root, "Envelope") {
        return Err(DecodeError::new(DecodeErrorKind::NotSoap(
            "the root element is not a SOAP 1.1 Envelope",
        )));
    }
    let header = root
        .children
        .iter()
        .find(|c| is_soap(c, "Header"))
        .map(Header::decode)
        .unwrap_or_default();
    let header_ns = root
        .children
        .iter()
        .find(|c| is_soap(c, "Header"))
        .and_then(|h| {
            h.children
                .iter()
                .find_map(|c| c.ns.as_deref().and_then(CwmpNamespace::from_uri))
        });
    let with_context = |kind, namespace| DecodeError {
        kind,
        id: header.id.clone(),
        namespace,
    };
    let Some(body) = root.children.iter().find(|c| is_soap(c, "Body")) else {
        return Err(with_context(
            DecodeErrorKind::NotSoap("the Envelope has no Body"),
            header_ns,
        ));
    };
    let Some(method) = body.children.first() else {
        return Err(with_context(DecodeErrorKind::EmptyBody, header_ns));
    };
    // GenieACS writes its faults as `<soap-env:Body:Fault>`: accept any local name ending in Fault
    // in the envelope namespace.
    let is_fault = (method.name == "Fault" || method.name.ends_with(":Fault"))
        && method.ns.as_deref().is_none_or(|ns| ns == SOAP_ENV_NS);
    let method_ns = if is_fault {
        method
            .child("detail")
            .and_then(|d| d.child("Fault"))
            .and_then(|f| f.ns.as_deref())
    } else {
        method.ns.as_deref()
    };
    let namespace = method_ns.and_then(CwmpNamespace::from_uri).or(header_ns);
    let body = if is_fault {
        Fault::decode(method).map(Body::Fault).map_err(|error| {
            with_context(
                DecodeErrorKind::InvalidArguments {
                    method: "Fault".into(),
                    error,
                },
                namespace,
            )
        })?
    } else {
        match Body::decode_method(&method.name, method) {
            None => {
                return Err(with_context(
                    DecodeErrorKind::UnknownMethod((*method.name).to_owned()),
                    namespace,
                ));
            }
            Some(Err(error)) => {
                return Err(with_context(
                    DecodeErrorKind::InvalidArguments {
                        method: (*method.name).to_owned(),
                        error,
                    },
                    namespace,
                ));
            }
            Some(Ok(body)) => body,
        }
    };
    Ok(Envelope {
        namespace: namespace.unwrap_or_default(),
        header,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_header() -> impl Strategy<Value = Header> {
        (
            proptest::option::of("[A-Za-z0-9_-]{1,20}"),
            proptest::option::of(any::<bool>()),
            proptest::option::of(any::<u32>()),
            proptest::option::of(Just("1.0,1.1,1.2,1.3,1.4".to_owned())),
            proptest::option::of(Just("1.4".to_owned())),
        )
            .prop_map(
                |(id, hold_requests, session_timeout, supported, use_version)| Header {
                    id,
                    hold_requests,
                    session_timeout,
                    supported_cwmp_versions: supported,
                    use_cwmp_version: use_version,
                    no_more_requests: None,
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn every_message_round_trips(
            body in super::super::rpc::arb::body(),
            header in arb_header(),
            namespace in proptest::sample::select(CwmpNamespace::ALL.to_vec()),
        ) {
            let mut envelope = Envelope { namespace, header, body };
            if !namespace.has_v13_headers() {
                envelope.header.session_timeout = None;
                envelope.header.supported_cwmp_versions = None;
                envelope.header.use_cwmp_version = None;
            }
            let text = envelope.encode();
            let decoded = Envelope::decode(text.as_bytes(), &Limits::default());
            prop_assert_eq!(decoded, Ok(envelope), "{}", text);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Envelope::decode(&bytes, &Limits::default());
        }
    }
}
