//! Where a request goes: a parsed `http://` / `https://` URL.

use http::Uri;

/// A URL the client cannot use. Each caller words it for its operator ("invalid ACS URL …",
/// "invalid transfer URL …").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid URL \"{url}\": {reason}")]
pub struct InvalidUrl {
    pub url: String,
    pub reason: String,
}

/// An `http://` or `https://` URL taken apart for connecting and for the request line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL as given (or as resolved from a redirect).
    pub url: String,
    pub https: bool,
    /// Host without IPv6 brackets (for DNS, SNI and certificate checks).
    pub host: String,
    pub port: u16,
    /// `Host` header value: host (bracketed for IPv6) plus a non-default port.
    pub host_header: String,
    /// Origin-form request target: path and query.
    pub path: String,
}

impl Target {
    pub fn parse(url: &str) -> Result<Self, InvalidUrl> {
        let bad = |reason: &str| InvalidUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let uri: Uri = url.trim().parse().map_err(|_| bad("not a URL"))?;
        let https = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            Some(_) => return Err(bad("only http:// and https:// are supported")),
            None => return Err(bad("missing http:// or https://")),
        };
        let authority = uri.authority().ok_or_else(|| bad("missing host"))?;
        if authority.as_str().contains('@') {
            return Err(bad(
                "user:password@ in the URL is not supported; configure the username and password instead",
            ));
        }
        let bracketed = authority.host();
        if bracketed.is_empty() {
            return Err(bad("missing host"));
        }
        let host = bracketed
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let default_port = if https { 443 } else { 80 };
        let port = authority.port_u16().unwrap_or(default_port);
        let host_header = if port == default_port {
            bracketed.to_string()
        } else {
            format!("{bracketed}:{port}")
        };
        let path = uri
            .path_and_query()
            .map(|p| p.as_str())
            .filter(|p| !p.is_empty())
            .unwrap_or("/");
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        Ok(Self {
            url: url.trim().to_string(),
            https,
            host,
            port,
            host_header,
            path,
        })
    }

    /// Same scheme, host and port: the TCP connection can be reused.
    pub fn same_origin(&self, other: &Target) -> bool {
        self.https == other.https
            && self.port == other.port
            && self.host.eq_ignore_ascii_case(&other.host)
    }

    /// `host:port` for messages (IPv6 bracketed).
    pub fn display_addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The URL for messages: scheme, host, port and path. The query is left out because
    /// pre-signed URLs carry their access token there.
    pub fn display_url(&self) -> String {
        let path = self.path.split('?').next().unwrap_or("/");
        format!("{}{path}", self.origin())
    }

    fn origin(&self) -> String {
        format!(
            "{}://{}",
            if self.https { "https" } else { "http" },
            self.host_header
        )
    }

    /// Resolves a redirect's `Location` against this target.
    pub fn resolve(&self, location: &str) -> Result<Target, InvalidUrl> {
        let location = location.trim();
        if location.is_empty() {
            return Err(InvalidUrl {
                url: String::new(),
                reason: "empty Location".into(),
            });
        }
        let lower = location.to_ascii_lowercase();
        let absolute = if lower.starts_with("http://") || lower.starts_with("https://") {
            location.to_string()
        } else if let Some(rest) = location.strip_prefix("//") {
            format!("{}://{rest}", if self.https { "https" } else { "http" })
        } else if location.starts_with('/') {
            format!("{}{location}", self.origin())
        } else {
            let base = self.path.split('?').next().unwrap_or("/");
            let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
            let dir = if dir.is_empty() { "/" } else { dir };
            format!("{}{dir}{location}", self.origin())
        };
        Target::parse(&absolute)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_acs_urls() {
        let t = Target::parse("http://acs.example.com:7547/cwmp?x=1").unwrap();
        assert!(!t.https);
        assert_eq!(t.host, "acs.example.com");
        assert_eq!(t.port, 7547);
        assert_eq!(t.host_header, "acs.example.com:7547");
        assert_eq!(t.path, "/cwmp?x=1");
        let t = Target::parse("https://[::1]/").unwrap();
        assert_eq!(t.host, "::1");
        assert_eq!(t.port, 443);
        assert_eq!(t.host_header, "[::1]");
        assert_eq!(t.display_addr(), "[::1]:443");
        let t = Target::parse("http://10.0.0.1").unwrap();
        assert_eq!(t.path, "/");
    }

    #[test]
    fn display_url_hides_the_query() {
        let t =
            Target::parse("https://files.example:8443/fw/a.npk?X-Amz-Signature=secret").unwrap();
        assert_eq!(t.display_url(), "https://files.example:8443/fw/a.npk");
    }

    #[test]
    fn resolves_locations() {
        let t = Target::parse("http://acs:7547/a/cwmp").unwrap();
        assert_eq!(t.resolve("https://other/x").unwrap().url, "https://other/x");
        assert_eq!(t.resolve("/y").unwrap().url, "http://acs:7547/y");
        assert_eq!(t.resolve("z").unwrap().url, "http://acs:7547/a/z");
        assert_eq!(t.resolve("//h2:1/p").unwrap().url, "http://h2:1/p");
        assert!(t.resolve("").is_err());
    }
}
