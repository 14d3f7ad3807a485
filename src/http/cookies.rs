//! A small, bounded, per-session cookie jar.
//!
//! CWMP ACSs correlate the HTTP requests of one session with a cookie (GenieACS: `session=<hex>`
//! on the InformResponse). The jar keeps `name=value` per host; of the attributes only `Path`
//! (RFC 6265 path-match) and `Max-Age<=0` (deletion) are honoured. A cookie without `Path` is sent
//! on every request to its host (more lenient than RFC 6265's default-path, on purpose: the ACS
//! URL path may change with a redirect and the session must stay correlated). `Domain`,
//! `Expires`, `Secure`, `HttpOnly` are ignored: the jar lives for one session only.

/// At most this many cookies are kept; the oldest is evicted first.
pub(crate) const MAX_COOKIES: usize = 32;
/// A `name=value` longer than this is dropped (RFC 6265 asks for at least 4096).
pub(crate) const MAX_COOKIE_BYTES: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Cookie {
    host: String,
    name: String,
    value: String,
    path: Option<String>,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct CookieJar {
    cookies: Vec<Cookie>,
}

impl CookieJar {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.cookies.len()
    }

    /// Stores one `Set-Cookie` header value received from `host`.
    pub(crate) fn store(&mut self, host: &str, set_cookie: &str) {
        let mut parts = set_cookie.split(';');
        let Some(pair) = parts.next() else { return };
        let Some((name, value)) = pair.split_once('=') else {
            return;
        };
        let name = name.trim();
        let value = value.trim();
        if name.is_empty() || name.len() + value.len() + 1 > MAX_COOKIE_BYTES {
            tracing::warn!(
                cookie = name,
                "ignoring an empty-named or oversized cookie from the ACS"
            );
            return;
        }
        let mut path = None;
        let mut delete = false;
        for attr in parts {
            let (key, val) = match attr.split_once('=') {
                Some((k, v)) => (k.trim(), v.trim()),
                None => (attr.trim(), ""),
            };
            if key.eq_ignore_ascii_case("path") {
                if val.starts_with('/') {
                    path = Some(val.to_string());
                }
            } else if key.eq_ignore_ascii_case("max-age") {
                if let Ok(age) = val.parse::<i64>() {
                    delete = age <= 0;
                }
            }
        }
        let host = host.to_ascii_lowercase();
        self.cookies
            .retain(|c| !(c.host == host && c.name == name && c.path == path));
        if delete {
            return;
        }
        if self.cookies.len() >= MAX_COOKIES {
            self.cookies.remove(0);
        }
        self.cookies.push(Cookie {
            host,
            name: name.to_string(),
            value: value.to_string(),
            path,
        });
    }

    /// The `Cookie` header value for a request to `host` with `path` (path part of the URI).
    pub(crate) fn header_for(&self, host: &str, path: &str) -> Option<String> {
        let path = path.split('?').next().unwrap_or("/");
        let mut matching: Vec<&Cookie> = self
            .cookies
            .iter()
            .filter(|c| c.host.eq_ignore_ascii_case(host))
            .filter(|c| c.path.as_deref().is_none_or(|p| path_matches(path, p)))
            .collect();
        if matching.is_empty() {
            return None;
        }
        // RFC 6265 §5.4: longer paths first.
        crate::ordering::sort_stably_by_key(&mut matching, |c| {
            u64::MAX - c.path.as_ref().map_or(0, |p| p.len() as u64)
        });
        Some(
            matching
                .iter()
                .map(|c| format!("{}={}", c.name, c.value))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

/// RFC 6265 §5.1.4 path-match.
fn path_matches(request_path: &str, cookie_path: &str) -> bool {
    if request_path == cookie_path {
        return true;
    }
    request_path.starts_with(cookie_path)
        && (cookie_path.ends_with('/')
            || request_path.as_bytes().get(cookie_path.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_and_replays_name_value_only() {
        let mut jar = CookieJar::new();
        jar.store("acs", "session=abc123");
        jar.store("acs", "other=1; HttpOnly; Secure; Domain=x");
        assert_eq!(
            jar.header_for("ACS", "/cwmp").as_deref(),
            Some("session=abc123; other=1")
        );
        assert_eq!(jar.header_for("elsewhere", "/"), None);
    }

    #[test]
    fn replaces_same_name_and_deletes_with_max_age_zero() {
        let mut jar = CookieJar::new();
        jar.store("acs", "session=1");
        jar.store("acs", "session=2");
        assert_eq!(jar.header_for("acs", "/").as_deref(), Some("session=2"));
        jar.store("acs", "session=gone; Max-Age=0");
        assert_eq!(jar.header_for("acs", "/"), None);
        assert_eq!(jar.len(), 0);
    }

    #[test]
    fn honours_path() {
        let mut jar = CookieJar::new();
        jar.store("acs", "a=1; Path=/cwmp");
        jar.store("acs", "b=2; Path=/other");
        assert_eq!(jar.header_for("acs", "/cwmp").as_deref(), Some("a=1"));
        assert_eq!(jar.header_for("acs", "/cwmp/x?y").as_deref(), Some("a=1"));
        assert_eq!(jar.header_for("acs", "/cwmpfoo"), None);
    }

    #[test]
    fn bounded() {
        let mut jar = CookieJar::new();
        for i in 0..100 {
            jar.store("acs", &format!("c{i}=v"));
        }
        assert_eq!(jar.len(), MAX_COOKIES);
        jar.store("acs", &format!("big={}", "x".repeat(MAX_COOKIE_BYTES)));
        assert_eq!(jar.len(), MAX_COOKIES);
        // 512 bytes fit.
        let value = "v".repeat(512);
        jar.store("acs", &format!("s={value}"));
        assert!(
            jar.header_for("acs", "/")
                .unwrap_or_default()
                .contains(&value)
        );
    }

    #[test]
    fn garbage_is_ignored() {
        let mut jar = CookieJar::new();
        jar.store("acs", "");
        jar.store("acs", "novalue");
        jar.store("acs", "=x");
        assert_eq!(jar.len(), 0);
    }
}
