//! Compiles `proto/journal.proto` with prost-build, parsed by protox (pure Rust, so no system
//! `protoc` is needed on build machines or in cross-compilation containers), and packs the
//! binary's relative relocations where the C library it is built against can read them.

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

    if packed_relocations_are_safe() {
        // DT_RELR: the ~9,300 relative relocations of a PIE (every `&'static str` in a table,
        // every vtable) in 3 KB instead of 217 KB of `.rela.dyn`, which the loader also reads
        // at every start: −214 KB of flash and about as much idle RSS (BENCHMARKS.md
        // "Footprint"). Only the binary; tests and other packages are linked as before.
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    Ok(())
}

/// Whether the binary may use packed relative relocations: glibc reads them from 2.36 on, and
/// a binary that uses them does not start on an older one (`GLIBC_ABI_DT_RELR` not found).
/// Only a native glibc build is decided here, from the glibc this build script runs on, which
/// is the one the binary is linked against and so already its floor for symbol versions
/// (`__libc_start_main@GLIBC_2.34` on 2.34 and later). Cross builds and musl are left to the
/// packager's RUSTFLAGS (packaging/README.md): the C library that will run them is not known
/// here. So is a build with a linker of its own (`RUSTC_LINKER`: cargo-zigbuild linking against
/// an older glibc's stubs, a vendor toolchain), where the flag would make a binary that an
/// older glibc starts without applying its relocations. `TR069_NO_PACKED_RELOCATIONS=1` turns
/// it off, e.g. to copy a binary to an older system.
fn packed_relocations_are_safe() -> bool {
    println!("cargo:rerun-if-env-changed=TR069_NO_PACKED_RELOCATIONS");
    if std::env::var_os("TR069_NO_PACKED_RELOCATIONS").is_some_and(|v| v != "0")
        || std::env::var_os("RUSTC_LINKER").is_some()
    {
        return false;
    }
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("TARGET") != var("HOST")
        || var("CARGO_CFG_TARGET_OS") != "linux"
        || var("CARGO_CFG_TARGET_ENV") != "gnu"
    {
        return false;
    }
    host_glibc().is_some_and(|version| version >= (2, 36))
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn host_glibc() -> Option<(u32, u32)> {
    // SAFETY: gnu_get_libc_version returns a pointer to a static, NUL-terminated string.
    let version = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
    let mut parts = version.to_str().ok()?.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts
        .next()?
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok()?;
    Some((major, minor))
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn host_glibc() -> Option<(u32, u32)> {
    None
}
