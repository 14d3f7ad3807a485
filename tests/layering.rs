//! The structure ARCHITECTURE.md promises, checked: no import cycle between the files of `src/`,
//! and no lower layer importing a higher one (the core never imports the edge).
//!
//! Imports are read from `use crate::…` / `crate::…` paths and `super::` paths in each file, so a
//! new module is checked without registering it here; only the layer table below names modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layers, lowest first: a module may import its own layer or any lower one, never a higher.
const LAYERS: &[&[&str]] = &[
    &["cwmp", "crash", "records", "connection_request", "ordering"],
    &["state", "session", "http"],
    &["config", "datamodel", "diagnostics", "transfer", "uci"],
    &["cpe"],
    &["control", "postmortem"],
    &["agent"],
    &["fleet"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/cpe/handler/mod.rs` → ["cpe", "handler"]; `src/cpe/mod.rs` → ["cpe"].
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts
        .last()
        .is_some_and(|p| p == "mod" || p == "lib" || p == "main")
    {
        parts.pop();
    }
    parts
}

/// The code of a file without its `#[cfg(test)]` module (tests may reach anywhere).
fn without_tests(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    }
}

/// The top-level modules a file's code names through `crate::` or `super::`.
fn imports(own: &[String], text: &str) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let path_chars = |c: char| c.is_alphanumeric() || c == '_' || c == ':';
    for (i, _) in code.match_indices("crate::") {
        let rest: String = code[i + 7..]
            .chars()
            .take_while(|c| path_chars(*c))
            .collect();
        let segs: Vec<String> = rest
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if !segs.is_empty() {
            out.insert(segs);
        }
    }
    for (i, _) in code.match_indices("super::") {
        if i > 0 && code[..i].ends_with("::") {
            continue;
        }
        let mut base: Vec<String> = own.to_vec();
        let mut rest = &code[i..];
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
        let tail: String = rest.chars().take_while(|c| path_chars(*c)).collect();
        let mut segs = base;
        segs.extend(
            tail.split("::")
                .filter(|s| !s.is_empty() && *s != "self")
                .map(str::to_owned),
        );
        if !segs.is_empty() {
            out.insert(segs);
        }
    }
    out
}

struct Tree {
    /// File module path → the module paths it imports (resolved to existing files).
    edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
}

fn tree() -> Tree {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_path(&src, f)).collect();
    let mut edges = BTreeMap::new();
    for file in &files {
        let own = module_path(&src, file);
        let text = std::fs::read_to_string(file).unwrap();
        let mut targets = BTreeSet::new();
        for path in imports(&own, without_tests(&text)) {
            // The longest prefix of the path that is a file of src/.
            let target = (1..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|p| modules.contains(p));
            if let Some(t) = target
                && t != own
                && !own.starts_with(&t)
            {
                targets.insert(t);
            }
        }
        edges.insert(own, targets);
    }
    Tree { edges }
}

#[test]
fn no_lower_layer_imports_a_higher_one() {
    let tree = tree();
    let mut violations = Vec::new();
    for (from, targets) in &tree.edges {
        let Some(from_layer) = from.first().and_then(|m| layer_of(m)) else {
            continue;
        };
        for to in targets {
            let Some(to_layer) = to.first().and_then(|m| layer_of(m)) else {
                continue;
            };
            if to_layer > from_layer {
                violations.push(format!("{} imports {}", from.join("::"), to.join("::")));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "upward imports:\n{}",
        violations.join("\n")
    );
}

#[test]
fn every_module_has_a_layer() {
    let tree = tree();
    let missing: BTreeSet<&str> = tree
        .edges
        .keys()
        .filter_map(|m| m.first())
        .map(String::as_str)
        .filter(|m| layer_of(m).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a layer in tests/layering.rs: {missing:?}"
    );
}

#[test]
fn no_import_cycle_between_files() {
    let tree = tree();
    // Depth-first search with colours; a grey node reached again closes a cycle.
    #[derive(Clone, Copy, PartialEq)]
    enum Colour {
        White,
        Grey,
        Black,
    }
    let mut colour: BTreeMap<&Vec<String>, Colour> =
        tree.edges.keys().map(|k| (k, Colour::White)).collect();
    let mut cycles = Vec::new();
    fn visit<'a>(
        node: &'a Vec<String>,
        tree: &'a Tree,
        colour: &mut BTreeMap<&'a Vec<String>, Colour>,
        stack: &mut Vec<&'a Vec<String>>,
        cycles: &mut Vec<String>,
    ) {
        colour.insert(node, Colour::Grey);
        stack.push(node);
        for next in tree.edges.get(node).into_iter().flatten() {
            match colour.get(next).copied() {
                Some(Colour::Grey) => {
                    let at = stack.iter().position(|n| *n == next).unwrap_or(0);
                    let names: Vec<String> = stack[at..].iter().map(|n| n.join("::")).collect();
                    cycles.push(format!("{} -> {}", names.join(" -> "), next.join("::")));
                }
                Some(Colour::White) => visit(next, tree, colour, stack, cycles),
                _ => {}
            }
        }
        stack.pop();
        colour.insert(node, Colour::Black);
    }
    let nodes: Vec<&Vec<String>> = tree.edges.keys().collect();
    for node in nodes {
        if colour[node] == Colour::White {
            let mut stack = Vec::new();
            visit(node, &tree, &mut colour, &mut stack, &mut cycles);
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_checker_sees_an_upward_import_and_a_cycle() {
    // Negative control: the parser finds both kinds of import the tests above forbid.
    let own = vec!["cpe".to_owned(), "notifier".to_owned()];
    let found = imports(
        &own,
        "use crate::agent::run::Agent;\nuse super::handler::X;\n// use crate::cli::y;\n",
    );
    assert!(found.contains(&vec![
        "agent".to_owned(),
        "run".to_owned(),
        "Agent".to_owned()
    ]));
    assert!(found.contains(&vec![
        "cpe".to_owned(),
        "handler".to_owned(),
        "X".to_owned()
    ]));
    assert!(!found.iter().any(|p| p.first().is_some_and(|m| m == "cli")));
}
