//! A RouterOS firmware manifest (`<upgrade type="links">`) as a file server might send it:
//! sniffing and parsing never panic, and an accepted manifest only lists http(s) URLs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tr069_client::transfer::manifest::{looks_like_manifest, parse_manifest};

fuzz_target!(|data: &[u8]| {
    let _ = looks_like_manifest(data);
    if let Ok(manifest) = parse_manifest(data) {
        assert!(!manifest.urls.is_empty(), "an accepted manifest lists a URL");
        for url in &manifest.urls {
            let lower = url.to_ascii_lowercase();
            assert!(
                lower.starts_with("http://") || lower.starts_with("https://"),
                "accepted a non-http URL {url:?}"
            );
        }
    }
});
