//! Kicked (TR-069 §A.4.2.1, optional; Annex "Web Identity Management"): a web page on the CPE's
//! LAN side was "kicked" and the CPE asks the ACS where to send the user's browser next.
//!
//! A LAN browser follows a link of the form `http://<cpe>/kick.html?command=…&arg=…&next=…`
//! (usually placed by an operator portal). The CPE starts a session whose Inform carries
//! `5 KICKED` and relays the request: `Command` (what to do, e.g. a provisioning action), `Referer`
//! (the HTTP Referer of the kick), `Arg` (the command's argument) and `Next` (where the browser
//! should go on success). The ACS performs the command — possibly calling RPCs on the CPE in the
//! same session — and answers `NextURL`, the page the CPE redirects the browser to.
//!
//! GenieACS does not implement this method (fault 8000).

use crate::cwmp::decode_util as du;
use crate::cwmp::xml::{Element, Writer};
use crate::cwmp::{ArgResult, Rpc};

/// CPE→ACS request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Kicked {
    /// The command from the kick URL, at most 32 characters.
    pub command: String,
    /// The Referer of the kick request, at most 64 characters.
    pub referer: String,
    /// The command's argument, at most 256 characters.
    pub arg: String,
    /// Where the browser goes on success, at most 1024 characters.
    pub next: String,
}

/// ACS→CPE response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KickedResponse {
    /// The page the CPE redirects the browser to, at most 1024 characters.
    pub next_url: String,
}

impl Rpc for Kicked {
    const NAME: &'static str = "Kicked";

    fn encode_args(&self, w: &mut Writer) {
        w.text_element("Command", &self.command);
        w.text_element("Referer", &self.referer);
        w.text_element("Arg", &self.arg);
        w.text_element("Next", &self.next);
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        Ok(Kicked {
            command: du::bounded_string(el, "Command", 32)?,
            referer: du::bounded_string(el, "Referer", 64)?,
            arg: du::bounded_string(el, "Arg", 256)?,
            next: du::bounded_string(el, "Next", 1024)?,
        })
    }
}

impl Rpc for KickedResponse {
    const NAME: &'static str = "KickedResponse";

    fn encode_args(&self, w: &mut Writer) {
        w.text_element("NextURL", &self.next_url);
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        Ok(KickedResponse {
            next_url: du::bounded_string(el, "NextURL", 1024)?,
        })
    }
}

#[cfg(test)]
pub(crate) mod arb {
    use super::*;
    use crate::cwmp::rpc::arb_util::{short_string, url};
    use proptest::prelude::*;

    pub fn request() -> impl Strategy<Value = Kicked> {
        (
            short_string(32),
            prop_oneof![
                Just(String::new()),
                url().prop_filter("≤64", |u| u.len() <= 64)
            ],
            short_string(256),
            url(),
        )
            .prop_map(|(command, referer, arg, next)| Kicked {
                command,
                referer,
                arg,
                next,
            })
    }

    pub fn response() -> impl Strategy<Value = KickedResponse> {
        url().prop_map(|next_url| KickedResponse { next_url })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cwmp::ArgError;
    use crate::cwmp::xml::{Limits, parse};

    #[test]
    fn required_and_bounded() {
        let el = |s: &str| {
            parse(format!("<m>{s}</m>").as_bytes(), &Limits::default())
                .unwrap()
                .into_owned()
        };
        let ok = el("<Next>http://x/</Next><Arg>a</Arg><Referer/><Command>c</Command><Extra/>");
        assert_eq!(Kicked::decode_args(&ok).unwrap().next, "http://x/");
        assert_eq!(
            Kicked::decode_args(&el("<Command>c</Command>")),
            Err(ArgError::missing("Referer"))
        );
        let long = el(&format!(
            "<Command>{}</Command><Referer/><Arg/><Next/>",
            "c".repeat(33)
        ));
        assert!(Kicked::decode_args(&long).is_err());
        assert_eq!(
            KickedResponse::decode_args(&el("")),
            Err(ArgError::missing("NextURL"))
        );
    }
}
