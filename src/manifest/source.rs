//! Where manifests come from: files, directories of `*.yaml` / `*.yml`, or standard input (`-`).

use std::io::Read;
use std::path::Path;

use super::Diagnostic;
use super::node::{MAX_FILE_BYTES, Position};

/// The raw bytes of one manifest file and the name to report it by.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path as given (or `<stdin>`), used in every message about this file.
    pub name: String,
    /// The file's contents, at most [`MAX_FILE_BYTES`] bytes.
    pub bytes: Vec<u8>,
}

/// Reads every source named by `-f` arguments: `-` is standard input, a directory contributes its
/// `*.yaml` and `*.yml` files (sorted by name, not recursive), anything else is a file.
///
/// # Errors
/// One diagnostic per path that cannot be read, is too large, or is a directory without manifests.
pub fn load_sources(paths: &[String]) -> Result<Vec<Source>, Vec<Diagnostic>> {
    let mut sources = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        let result = if path == "-" {
            read_limited(std::io::stdin().lock(), "<stdin>").map(|s| vec![s])
        } else if Path::new(path).is_dir() {
            read_dir(path)
        } else {
            read_file(path).map(|s| vec![s])
        };
        match result {
            Ok(found) => sources.extend(found),
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        Ok(sources)
    } else {
        Err(problems)
    }
}

fn read_dir(dir: &str) -> Result<Vec<Source>, Diagnostic> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Diagnostic::file(dir, format!("cannot read directory: {e}")))?;
    let mut files: Vec<String> = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| Diagnostic::file(dir, format!("cannot read directory: {e}")))?;
        let path = entry.path();
        let is_manifest = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e == "yaml" || e == "yml");
        if is_manifest && path.is_file() {
            files.push(path.to_string_lossy().into_owned());
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(Diagnostic::file(
            dir,
            "directory holds no *.yaml or *.yml files",
        ));
    }
    files.iter().map(|f| read_file(f)).collect()
}

fn read_file(path: &str) -> Result<Source, Diagnostic> {
    let file = std::fs::File::open(path)
        .map_err(|e| Diagnostic::file(path, format!("cannot read: {e}")))?;
    // Refuse a huge file before reading it.
    if let Ok(meta) = file.metadata()
        && meta.len() > MAX_FILE_BYTES as u64
    {
        return Err(too_large(path, meta.len()));
    }
    read_limited(file, path)
}

fn read_limited(reader: impl Read, name: &str) -> Result<Source, Diagnostic> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Diagnostic::file(name, format!("cannot read: {e}")))?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(too_large(name, bytes.len() as u64));
    }
    Ok(Source {
        name: name.to_owned(),
        bytes,
    })
}

fn too_large(name: &str, size: u64) -> Diagnostic {
    Diagnostic::file(
        name,
        format!(
            "file is too large ({size} bytes or more); manifests are limited to {MAX_FILE_BYTES} bytes"
        ),
    )
}

/// The text of a manifest: UTF-8, with an optional byte-order mark.
///
/// # Errors
/// The position of the first byte that is not UTF-8.
pub fn decode(bytes: &[u8]) -> Result<&str, (Option<Position>, String)> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() as u64 + 1;
        let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
        let column = String::from_utf8_lossy(&valid[line_start..])
            .chars()
            .count() as u64
            + 1;
        (
            Some(Position { line, column }),
            "the file is not valid UTF-8: manifests must be UTF-8 text".to_owned(),
        )
    })
}
