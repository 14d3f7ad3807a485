//! `config from-uci FILE`: the OpenWrt UCI file as the agent's TOML configuration (see
//! [`crate::uci`]).

use std::path::Path;

use super::Failure;

pub(super) fn from_uci(file: &Path) -> Result<(), Failure> {
    match crate::uci::translate_file(file) {
        Ok(toml) => {
            print!("{toml}");
            Ok(())
        }
        // An unreadable file is a failure (1); anything wrong inside it is bad input (2).
        // (Display already carries the io error: no chain, or it would print twice.)
        Err(e @ crate::uci::UciError::Read { .. }) => Err(Failure::from(anyhow::anyhow!("{e}"))),
        Err(e) => Err(Failure::input(e)),
    }
}
