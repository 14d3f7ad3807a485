//! Compiles `proto/journal.proto` with prost-build, parsed by protox (pure Rust, so no system
//! `protoc` is needed on build machines or in cross-compilation containers).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_dir = manifest_dir.join("proto");
    let proto_file = proto_dir.join("journal.proto");
    println!("cargo:rerun-if-changed={}", proto_file.display());
    println!("cargo:rerun-if-changed=build.rs");

    let fds = protox::compile(["journal.proto"], [&proto_dir])?;
    let mut config = prost_build::Config::new();
    // BTreeMap keeps snapshot maps, and so the JSON export, in a stable order.
    config.btree_map(["."]);
    // Serialize is only used by the JSON export; enums come out as numbers and the export
    // rewrites the known enum fields into names.
    config.type_attribute(".", "#[derive(serde::Serialize)]");
    // Fields added later are left out of the export while they hold their "absent" value, so a
    // record written before them exports exactly as it did.
    for (field, absent) in [
        ("SessionEnded.heartbeat", "std::ops::Not::not"),
        ("DiagnosticsCompleted.results", "Vec::is_empty"),
        ("DiagnosticsCompleted.cleared", "Vec::is_empty"),
    ] {
        config.field_attribute(
            format!("tr069.journal.v1.{field}"),
            format!("#[serde(skip_serializing_if = \"{absent}\")]"),
        );
    }
    config.compile_fds(fds)?;
    Ok(())
}
