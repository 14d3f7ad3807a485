//! The daemon's TOML configuration: any text either loads into a validated `Config` or gives an
//! error naming the file; never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tr069_client::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::from_toml_str(text, Path::new("fuzz.toml")) {
        Ok(config) => {
            // What the daemon derives from a loaded configuration must not panic either.
            let _ = config.journal_options("boot");
            let _ = config.journal_dir();
            let _ = config.transfer_dir();
        }
        Err(e) => assert!(e.to_string().contains("fuzz.toml"), "{e}"),
    }
});
