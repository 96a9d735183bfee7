//! The module graph is enforced, not promised (design.md §2): imports run one way, manifest/model
//! -> plan -> cloud -> store -> controller -> simulate -> cli; the planner and the manifest layer
//! read no clock, do no I/O and know nothing asynchronous; the simulated world knows no manifest
//! and no planner (the harness derives what the world needs).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Rank of each top-level module: a module may use only modules of its rank or below.
fn rank(module: &str) -> Option<u8> {
    Some(match module {
        "manifest" | "model" => 0,
        "plan" => 1,
        "cloud" => 2,
        "store" => 3,
        "controller" => 4,
        "http" | "simulate" => 5,
        "cli" => 6,
        _ => return None,
    })
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's code without comments (doc comments included) and without its unit tests.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("readable");
    let text = match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => &text[..],
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(at) if !l[..at].contains('"') => &l[..at],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level module a file belongs to (`src/plan/rollout.rs` -> `plan`), and the part of the
/// tree below it (`cloud/sim`).
fn module_of(root: &Path, path: &Path) -> (String, String) {
    let relative = path.strip_prefix(root).expect("under src");
    let parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    let top = parts[0].clone();
    let sub = parts.iter().take(2).cloned().collect::<Vec<_>>().join("/");
    (top, sub)
}

/// `crate::X` paths the code uses, by X.
fn uses(code: &str) -> BTreeMap<String, usize> {
    let mut found = BTreeMap::new();
    for (at, _) in code.match_indices("crate::") {
        // `tugboat::crate::` cannot occur; skip `$crate::` in macros.
        if code[..at].ends_with('$') {
            continue;
        }
        let name: String = code[at + 7..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        *found.entry(name).or_default() += 1;
    }
    found
}

fn all() -> Vec<(PathBuf, String, String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let (top, sub) = module_of(&root, &path);
            let code = code(&path);
            (path, top, sub, code)
        })
        .collect()
}

#[test]
fn imports_run_one_way() {
    let mut wrong = Vec::new();
    for (path, top, _, code) in all() {
        let Some(mine) = rank(&top) else { continue };
        for (used, _) in uses(&code) {
            match rank(&used) {
                Some(theirs) if theirs > mine => {
                    wrong.push(format!("{}: {top} uses crate::{used}", path.display()));
                }
                _ => {}
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the grain:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_planner_and_the_manifest_layer_are_pure() {
    // Neither reads a clock, awaits, or touches AWS; the planner does no I/O at all (the manifest
    // layer reads the files it is given).
    let banned = [
        "tokio",
        "async ",
        ".await",
        "SystemTime::now",
        "Instant::now",
        "std::time::Instant",
        "std::thread",
        "std::net",
        "std::env",
        "aws_sdk",
        "aws_config",
    ];
    let mut wrong = Vec::new();
    for (path, top, _, code) in all() {
        if top != "plan" && top != "manifest" {
            continue;
        }
        if top == "plan" && code.contains("std::fs") {
            wrong.push(format!("{}: `std::fs`", path.display()));
        }
        for word in banned {
            if code.contains(word) {
                wrong.push(format!("{}: `{word}`", path.display()));
            }
        }
        for used in uses(&code).keys() {
            if ["cloud", "store", "controller", "simulate", "http", "cli"].contains(&used.as_str())
            {
                wrong.push(format!("{}: crate::{used}", path.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "impure planner or manifest code:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_simulated_world_knows_no_manifest_and_no_planner() {
    let mut wrong = Vec::new();
    for (path, _, sub, code) in all() {
        if sub != "cloud/sim" {
            continue;
        }
        for used in uses(&code).keys() {
            if ["manifest", "plan", "store", "controller", "simulate"].contains(&used.as_str()) {
                wrong.push(format!("{}: crate::{used}", path.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the world knows the controller:\n{}",
        wrong.join("\n")
    );
}

/// The checks above read the sources; they must find what they look for when it is there.
#[test]
fn the_checks_see_an_import_when_there_is_one() {
    let sample = "use crate::cloud::Cloud;\nfn f() { crate::store::x(); } // crate::cli\n";
    let found = uses(
        &sample
            .lines()
            .map(|l| l.find("//").map_or(l, |at| &l[..at]))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    assert_eq!(
        found.keys().cloned().collect::<Vec<_>>(),
        ["cloud", "store"]
    );
}
