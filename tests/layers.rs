//! The code reads bottom-up: every module sits in a layer and imports only
//! from its own layer or the ones below, and no two modules import each
//! other, however indirectly. The layers are the module map at the top of
//! `src/lib.rs`; this test reads every `crate::` path in `src/` (outside
//! `#[cfg(test)]` code) and names both ends of any import that breaks them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom-up. A unit is a module path; a path names the longest unit it
/// starts with (so `live::hub` can sit below the rest of `live`).
const LAYERS: &[(&str, &[&str])] = &[
    (
        "plain values and formats",
        &[
            "signature",
            "model",
            "multipart",
            "query",
            "http1",
            "wire",
            "cookies",
            "headers",
            "diff",
        ],
    ),
    ("storage", &["store"]),
    ("settings", &["config", "metrics"]),
    (
        "domain services",
        &[
            "limits",
            "auth",
            "answers",
            "live::hub",
            "live::feed",
            "retention",
            "exchange",
            "resend",
        ],
    ),
    (
        "HTTP edge",
        &[
            "error", "state", "extract", "assets", "capture", "pages", "api", "live", "forward",
            "wait",
        ],
    ),
    ("router", &["app"]),
    ("server", &["server"]),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// `src/a/b.rs` → `a::b`, `src/a/mod.rs` → `a`.
fn module_of(file: &Path) -> String {
    let relative = file.strip_prefix(src()).expect("under src");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// The code of a file without its tests and comments.
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or(text);
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every module path a file names after `crate::`, braces expanded one
/// level deep (`crate::{a, b::c}` → `a`, `b::c`).
fn imports_of(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                let path = path_at(item.trim());
                if !path.is_empty() {
                    found.insert(path);
                }
            }
        } else {
            let path = path_at(rest);
            if !path.is_empty() {
                found.insert(path);
            }
        }
    }
    found
}

/// The lowercase path segments at the start of `text` (`live::hub::Hub`
/// → `live::hub`): module names, not the item.
fn path_at(text: &str) -> String {
    let mut segments = Vec::new();
    for segment in text.split("::") {
        let name: String = segment
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let is_module = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !is_module || name.len() != segment.len() && !segment[name.len()..].starts_with('{') {
            if is_module {
                segments.push(name);
            }
            break;
        }
        segments.push(name);
    }
    segments.join("::")
}

/// The unit a module path belongs to and its layer, by longest prefix.
fn unit_of(path: &str) -> Option<(&'static str, usize)> {
    let mut best: Option<(&'static str, usize)> = None;
    for (layer, (_, units)) in LAYERS.iter().enumerate() {
        for unit in *units {
            let matches = path == *unit || path.starts_with(&format!("{unit}::"));
            if matches && best.is_none_or(|(b, _)| unit.len() > b.len()) {
                best = Some((unit, layer));
            }
        }
    }
    best
}

fn graph() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut edges: BTreeMap<&'static str, BTreeSet<&'static str>> = BTreeMap::new();
    let mut unplaced = Vec::new();
    for file in files {
        let module = module_of(&file);
        if module == "lib" || module == "main" {
            continue;
        }
        let Some((unit, _)) = unit_of(&module) else {
            unplaced.push(module);
            continue;
        };
        let text = std::fs::read_to_string(&file).expect("read");
        for import in imports_of(&code_of(&text)) {
            match unit_of(&import) {
                Some((to, _)) if to != unit => {
                    edges.entry(unit).or_default().insert(to);
                }
                Some(_) => {}
                None => unplaced.push(format!("{import} (imported by {module})")),
            }
        }
        edges.entry(unit).or_default();
    }
    assert!(
        unplaced.is_empty(),
        "modules in no layer of tests/layers.rs (and the map in src/lib.rs): {unplaced:?}"
    );
    edges
}

#[test]
fn no_module_imports_one_above_it() {
    let edges = graph();
    let mut wrong = Vec::new();
    for (from, targets) in &edges {
        let (_, from_layer) = unit_of(from).expect("placed");
        for to in targets {
            let (_, to_layer) = unit_of(to).expect("placed");
            if to_layer > from_layer {
                wrong.push(format!(
                    "`{from}` ({}) imports `{to}` ({})",
                    LAYERS[from_layer].0, LAYERS[to_layer].0
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that point up:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_modules_import_each_other() {
    let edges = graph();
    // Depth-first search for a cycle; report the first one as a path.
    fn visit(
        unit: &'static str,
        edges: &BTreeMap<&'static str, BTreeSet<&'static str>>,
        path: &mut Vec<&'static str>,
        done: &mut BTreeSet<&'static str>,
    ) -> Option<Vec<&'static str>> {
        if let Some(at) = path.iter().position(|u| *u == unit) {
            let mut cycle = path[at..].to_vec();
            cycle.push(unit);
            return Some(cycle);
        }
        if !done.insert(unit) {
            return None;
        }
        path.push(unit);
        for next in edges.get(unit).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for unit in edges.keys() {
        let mut path = Vec::new();
        if let Some(cycle) = visit(unit, &edges, &mut path, &mut done) {
            panic!("modules import each other: {}", cycle.join(" → "));
        }
    }
}

#[test]
fn the_scan_reads_imports_as_written() {
    let code = "use crate::live::{self, feed_message};\nuse crate::{api, store::Page};\n\
                let x = crate::model::Bin::new(); crate::auth::hash_password(p)";
    let found = imports_of(code);
    for expected in ["live", "api", "store", "model", "auth::hash_password"] {
        assert!(found.contains(expected), "{expected} in {found:?}");
    }
    assert_eq!(unit_of("live::hub"), Some(("live::hub", 3)));
    assert_eq!(unit_of("live::socket"), Some(("live", 4)));
    assert_eq!(path_at("store::{Page, Store}"), "store");
}
