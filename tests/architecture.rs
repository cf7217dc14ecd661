//! Keeps `docs/ARCHITECTURE.md` true: every module of `src/` has a layer in
//! its table, and imports only modules of lower layers, so no two modules
//! import each other, however indirectly.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The layer of each top-level module, from the `layers` block of
/// `docs/ARCHITECTURE.md`: lines of a number and the modules on that layer.
fn layers(root: &Path) -> BTreeMap<String, u32> {
    let doc = fs::read_to_string(root.join("docs/ARCHITECTURE.md")).unwrap();
    let block = doc
        .split("```layers\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/ARCHITECTURE.md has a ```layers block");
    let mut layers = BTreeMap::new();
    for line in block.lines().filter(|l| !l.trim().is_empty()) {
        let mut words = line.split_whitespace();
        let layer: u32 = words.next().unwrap().parse().expect("a layer number");
        for module in words {
            assert!(
                layers.insert(module.to_owned(), layer).is_none(),
                "{module} twice"
            );
        }
    }
    layers
}

/// Names the crate root re-exports, and the module each comes from.
fn reexports(root: &Path) -> BTreeMap<String, String> {
    let lib = fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let mut names = BTreeMap::new();
    for stmt in lib.split(';') {
        let Some(path) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let module = path.split("::").next().unwrap().to_owned();
        let items = path.rsplit("::").next().unwrap();
        for item in items
            .split(|c: char| !is_ident(c))
            .filter(|s| !s.is_empty())
        {
            names.insert(item.to_owned(), module.clone());
        }
    }
    names
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The first segment of every `crate::` path in `code` (comments removed):
/// `crate::engine::Peer` gives `engine`, `crate::{Error, store::Slot}` gives
/// `Error` and `store`.
fn crate_paths(code: &str) -> Vec<String> {
    let code: String = code
        .lines()
        .map(|line| line.split("//").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(group) => {
                let (mut depth, mut item_start) = (0, true);
                for (j, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => item_start = true,
                        c if item_start && is_ident(c) => {
                            let ident: String =
                                group[j..].chars().take_while(|&c| is_ident(c)).collect();
                            found.push(ident);
                            item_start = false;
                        }
                        _ => {}
                    }
                }
            }
            None => found.push(rest.chars().take_while(|&c| is_ident(c)).collect()),
        }
    }
    found
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn modules_import_only_lower_layers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (layers, names) = (layers(root), reexports(root));
    let src = root.join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut seen = BTreeSet::new();
    let mut wrong = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        if first == "lib.rs" || first == "bin" {
            continue; // the root re-exports everything; the CLI uses the public API
        }
        let module = first.trim_end_matches(".rs").to_owned();
        let Some(&layer) = layers.get(&module) else {
            wrong.push(format!("{}: module {module} has no layer", rel.display()));
            continue;
        };
        seen.insert(module.clone());
        for path in crate_paths(&fs::read_to_string(&file).unwrap()) {
            let target = match layers.contains_key(&path) {
                true => path.clone(),
                false => match names.get(&path) {
                    Some(module) => module.clone(),
                    None => continue, // `crate::self` and the like
                },
            };
            if target != module && layers[&target] >= layer {
                wrong.push(format!(
                    "{}: {module} (layer {layer}) imports {target} (layer {}) through crate::{path}",
                    rel.display(),
                    layers[&target]
                ));
            }
        }
    }
    for module in layers.keys().filter(|m| !seen.contains(*m)) {
        wrong.push(format!(
            "docs/ARCHITECTURE.md lists {module}, which src/ does not have"
        ));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_path_scanner_finds_plain_and_grouped_paths() {
    let code = "use crate::engine::Peer;\nuse crate::{Error, store::{Slot, Run}, time};\n// crate::host in a comment\nlet x = crate::pace::checkpoint();";
    assert_eq!(
        crate_paths(code),
        ["engine", "Error", "store", "time", "pace"]
    );
}
