//! Output formats: aligned tables for people, stable JSON and YAML for scripts.

use std::io::{self, Write};

use serde::Serialize;

use super::CliError;
use crate::model::Stack;

/// `-o` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns.
    #[default]
    Table,
    /// JSON: one object, stable field names, for scripts.
    Json,
    /// YAML; for stacks, one document per stack, valid input to `tug apply`.
    Yaml,
}

/// Writes `text` to standard output. A closed pipe (`tug get | head`) is not an error.
pub fn emit(text: &str) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Columns padded to the widest cell, two spaces apart, as kubectl prints them.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let mut line = |cells: Vec<String>| {
        let last = cells.len().saturating_sub(1);
        for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            text.push_str(cell);
            if i < last {
                text.push_str(&" ".repeat(width - cell.chars().count() + 2));
            }
        }
        text.push('\n');
    };
    line(header.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line(row.clone());
    }
    text
}

/// Pretty JSON with a trailing newline.
pub fn json(value: &impl Serialize) -> Result<String, CliError> {
    serde_json::to_string_pretty(value)
        .map(|s| s + "\n")
        .map_err(|e| CliError::Failed(format!("cannot encode JSON: {e}")))
}

/// YAML of one value.
pub fn yaml(value: &impl Serialize) -> Result<String, CliError> {
    serde_saphyr::to_string(value).map_err(|e| CliError::Failed(format!("cannot encode YAML: {e}")))
}

/// Stacks as multi-document YAML: what `tug apply -f` and `tug validate -f` accept back.
pub fn stacks_yaml(stacks: &[Stack]) -> Result<String, CliError> {
    let mut text = String::new();
    for stack in stacks {
        text.push_str("---\n");
        text.push_str(&yaml(stack.manifest())?);
    }
    Ok(text)
}

/// Stacks as one JSON list object.
pub fn stacks_json(stacks: &[Stack]) -> Result<String, CliError> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct List<'a> {
        api_version: &'static str,
        kind: &'static str,
        items: Vec<&'a crate::manifest::spec::StackManifest>,
    }
    json(&List {
        api_version: crate::manifest::spec::API_VERSION,
        kind: "StackList",
        items: stacks.iter().map(Stack::manifest).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let text = table(
            &["NAME", "N"],
            &[
                vec!["a".into(), "1".into()],
                vec!["longer".into(), "22".into()],
            ],
        );
        assert_eq!(text, "NAME    N\na       1\nlonger  22\n");
    }
}
