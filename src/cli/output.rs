//! Output formats: aligned tables for people, stable JSON and YAML for scripts.

use std::io::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

/// YAML of one value. A long single-line string (an ARN, an image pinned by digest) stays on its
/// line as the manifest had it, not folded into a `>-` block: diffs and copies read as written.
pub fn yaml(value: &impl Serialize) -> Result<String, CliError> {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.folded_wrap_chars = usize::MAX;
    serde_saphyr::to_string_with_options(value, options)
        .map_err(|e| CliError::Failed(format!("cannot encode YAML: {e}")))
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

/// kubectl-style age of an RFC 3339 timestamp at `now`: 45s, 12m, 3h, 5d; `-` when unreadable.
pub fn age(timestamp: &str, now: SystemTime) -> String {
    match humantime::parse_rfc3339(timestamp) {
        Ok(then) => age_of(then, now),
        Err(_) => "-".to_owned(),
    }
}

/// kubectl-style age of `then` at `now`.
pub fn age_of(then: SystemTime, now: SystemTime) -> String {
    let secs = now.duration_since(then).unwrap_or(Duration::ZERO).as_secs();
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// A time of the controller's clock (seconds since the epoch) as a person reads it: RFC 3339 and
/// its age at `now`, e.g. `2026-12-01T10:00:00Z (3m ago)`.
pub fn when(seconds: u64, now: SystemTime) -> String {
    let then = UNIX_EPOCH + Duration::from_secs(seconds);
    format!(
        "{} ({} ago)",
        humantime::format_rfc3339_seconds(then),
        age_of(then, now)
    )
}

/// The age of a time of the controller's clock at `now`, for table columns.
pub fn ago(seconds: u64, now: SystemTime) -> String {
    age_of(UNIX_EPOCH + Duration::from_secs(seconds), now)
}

/// The "now" to measure a status's ages against: the wall clock, or the status's own time when it
/// is ahead (a simulated controller runs faster than the wall clock).
pub fn status_now(updated_at: u64, wall: SystemTime) -> SystemTime {
    wall.max(UNIX_EPOCH + Duration::from_secs(updated_at))
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

    #[test]
    fn ages_read_like_kubectl() {
        let now = humantime::parse_rfc3339("2026-01-02T00:00:00Z").expect("valid");
        assert_eq!(age("2026-01-01T23:59:15Z", now), "45s");
        assert_eq!(age("2026-01-01T23:00:00Z", now), "60m");
        assert_eq!(age("2026-01-01T00:00:00Z", now), "24h");
        assert_eq!(age("2025-12-01T00:00:00Z", now), "32d");
        assert_eq!(age("garbage", now), "-");
    }

    #[test]
    fn controller_times_read_as_timestamps_and_ages() {
        let now = humantime::parse_rfc3339("2026-01-02T00:00:00Z").expect("valid");
        let seconds = now
            .duration_since(UNIX_EPOCH)
            .expect("after the epoch")
            .as_secs()
            - 180;
        assert_eq!(when(seconds, now), "2026-01-01T23:57:00Z (3m ago)");
        assert_eq!(ago(seconds, now), "3m");
        assert_eq!(ago(seconds + 175, now), "5s");
    }
}
