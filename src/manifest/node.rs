//! YAML text to a located tree: every value keeps the line and column it came from.
//!
//! serde-saphyr does the parsing, with hard limits so hostile input is refused early: a byte cap
//! checked before parsing, and a budget (nesting depth, alias count, replayed alias events, node and
//! document counts) enforced while parsing. Duplicate keys are passed through to the tree so that
//! [`super::structure`] can report every one of them with its location, rather than stop at the first.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{DuplicateKeyPolicy, Spanned};

/// Largest manifest file accepted, in bytes: room for ~3,000 services in one file (a service is
/// ~1.3 KiB of YAML), small enough that refusing the worst input takes well under a second.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;
/// Deepest nesting accepted; a Stack needs 7 levels.
pub const MAX_DEPTH: usize = 64;
/// Most aliases (`*name`) accepted in one file.
pub const MAX_ALIASES: usize = 1_000;
/// Most events replayed through aliases in one file: what stops a "billion laughs" expansion.
pub const MAX_ALIAS_REPLAYED_EVENTS: usize = 100_000;
/// Most YAML nodes in one file (a service is ~100).
pub const MAX_NODES: usize = 400_000;
/// Most parser events in one file (about one per node, plus collection ends).
pub const MAX_EVENTS: usize = 600_000;
/// Most documents in one file.
pub const MAX_DOCUMENTS: usize = 10_000;

/// A position in the source text, 1-based, as editors show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// Line number, from 1.
    pub line: u64,
    /// Column number, from 1.
    pub column: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One YAML value with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the value starts.
    pub at: Position,
    /// The value.
    pub value: Value,
}

/// The YAML data model, after the core schema resolved plain scalars.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `~`, `null` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer that fits in i64 or u64 (negatives are always in i64).
    Int(i128),
    /// A float, or an integer literal too large for 64 bits.
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order, duplicates kept.
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// The YAML type name used in messages ("found a string").
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl Node {
    /// The key text of a mapping key, if the key is a scalar.
    pub fn key_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Null => Some("~".to_owned()),
            Value::Seq(_) | Value::Map(_) => None,
        }
    }

    /// The value under `key` in a mapping (the first one, if the key is duplicated).
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(&k.value, Value::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The node at a field path, or the deepest node that exists on the way there: the best place
    /// to point at when a rule is about a defaulted (absent) field.
    pub fn locate(&self, path: &[PathSegment]) -> &Node {
        let mut here = self;
        for segment in path {
            let next = match (segment, &here.value) {
                (PathSegment::Key(k), Value::Map(_)) => here.get(k),
                (PathSegment::Index(i), Value::Seq(items)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(n) => here = n,
                None => break,
            }
        }
        here
    }
}

/// One step of a field path: a key or a list index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    /// A mapping key.
    Key(String),
    /// A list index, from 0.
    Index(usize),
}

/// A field path such as `spec.services[1].deployment.maximumPercent`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(pub Vec<PathSegment>);

impl FieldPath {
    /// This path with a key appended.
    pub fn key(&self, k: &str) -> FieldPath {
        let mut p = self.0.clone();
        p.push(PathSegment::Key(k.to_owned()));
        FieldPath(p)
    }

    /// This path with its last step replaced by a key: a sibling field.
    pub fn parent_key(&self, k: &str) -> FieldPath {
        let mut p = self.0.clone();
        p.pop();
        p.push(PathSegment::Key(k.to_owned()));
        FieldPath(p)
    }

    /// This path with a list index appended.
    pub fn index(&self, i: usize) -> FieldPath {
        let mut p = self.0.clone();
        p.push(PathSegment::Index(i));
        FieldPath(p)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(document)");
        }
        for (n, segment) in self.0.iter().enumerate() {
            match segment {
                PathSegment::Key(k) if n == 0 => write!(f, "{k}")?,
                PathSegment::Key(k) => write!(f, ".{k}")?,
                PathSegment::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// Why a file could not be read as YAML at all.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    /// Where, when the parser knows.
    pub at: Option<Position>,
    /// What went wrong, in one line.
    pub message: String,
}

/// Parses every document of `text` into located trees, within the limits above.
///
/// # Errors
/// The first syntax error, or the limit that was exceeded, with its position where known.
pub fn parse_documents(text: &str) -> Result<Vec<Node>, SyntaxError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(SyntaxError {
            at: None,
            message: format!(
                "file is {} bytes; manifests are limited to {} bytes",
                text.len(),
                MAX_FILE_BYTES
            ),
        });
    }
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            max_aliases: MAX_ALIASES,
            max_nodes: MAX_NODES,
            max_events: MAX_EVENTS,
            max_documents: MAX_DOCUMENTS,
        },
        duplicate_keys: DuplicateKeyPolicy::PassThrough,
        strict_booleans: true,
        with_snippet: false,
    };
    let mut options = options;
    options.alias_limits.max_total_replayed_events = MAX_ALIAS_REPLAYED_EVENTS;
    options.alias_limits.max_replay_stack_depth = MAX_DEPTH;
    let docs: Vec<Spanned<RawValue>> = serde_saphyr::from_multiple_with_options(text, options)
        .map_err(|e| SyntaxError {
            at: e.location().map(|l| Position {
                line: l.line(),
                column: l.column(),
            }),
            message: explain(&one_line(&e.to_string())),
        })?;
    Ok(docs.into_iter().map(into_node).collect())
}

/// serde-saphyr's messages can span lines (snippets are off, but causes are chained): keep one line
/// and drop its trailing " at line L, column C", since the position is printed in front.
fn one_line(message: &str) -> String {
    let joined = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    match joined.rfind(" at line ") {
        Some(cut) if joined[cut..].contains(", column ") => joined[..cut].to_owned(),
        _ => joined,
    }
}

/// Budget breaches in words a user can act on; other messages pass through.
fn explain(message: &str) -> String {
    let nesting =
        format!("nested deeper than {MAX_DEPTH} levels (a Stack needs fewer than 10); refused");
    if message.contains("recursion limit") || message.contains("Depth {") {
        nesting
    } else if message.contains("alias replay") || message.contains("Aliases {") {
        format!(
            "aliases expand too far (more than {MAX_ALIASES} aliases or {MAX_ALIAS_REPLAYED_EVENTS} replayed values, as in an alias bomb); refused"
        )
    } else if message.contains("Events {") || message.contains("Nodes {") {
        format!("more than {MAX_NODES} YAML values in one file; split the stacks across files")
    } else if message.contains("Documents {") {
        format!("more than {MAX_DOCUMENTS} documents in one file")
    } else if message.contains("budget breached") {
        format!("input exceeds a parser limit ({message}); refused")
    } else {
        message.to_owned()
    }
}

/// What serde-saphyr hands us: values with spans, before conversion to [`Node`].
enum RawValue {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<RawValue>>),
    Map(Vec<(Spanned<RawValue>, Spanned<RawValue>)>),
}

fn into_node(raw: Spanned<RawValue>) -> Node {
    let at = Position {
        line: raw.referenced.line(),
        column: raw.referenced.column(),
    };
    let value = match raw.value {
        RawValue::Null => Value::Null,
        RawValue::Bool(b) => Value::Bool(b),
        RawValue::Int(i) => Value::Int(i),
        RawValue::Float(f) => Value::Float(f),
        RawValue::Str(s) => Value::Str(s),
        RawValue::Seq(items) => Value::Seq(items.into_iter().map(into_node).collect()),
        RawValue::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (into_node(k), into_node(v)))
                .collect(),
        ),
    };
    Node { at, value }
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<RawValue, E> {
        Ok(RawValue::Null)
    }
    fn visit_none<E>(self) -> Result<RawValue, E> {
        Ok(RawValue::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawValue, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E>(self, b: bool) -> Result<RawValue, E> {
        Ok(RawValue::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<RawValue, E> {
        Ok(RawValue::Int(i.into()))
    }
    fn visit_u64<E>(self, i: u64) -> Result<RawValue, E> {
        Ok(RawValue::Int(i.into()))
    }
    fn visit_i128<E>(self, i: i128) -> Result<RawValue, E> {
        Ok(RawValue::Int(i))
    }
    fn visit_u128<E>(self, i: u128) -> Result<RawValue, E> {
        Ok(i128::try_from(i).map_or(RawValue::Float(i as f64), RawValue::Int))
    }
    fn visit_f64<E>(self, f: f64) -> Result<RawValue, E> {
        Ok(RawValue::Float(f))
    }
    fn visit_str<E>(self, s: &str) -> Result<RawValue, E> {
        Ok(RawValue::Str(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<RawValue, E> {
        Ok(RawValue::Str(s))
    }
    fn visit_bytes<E>(self, b: &[u8]) -> Result<RawValue, E> {
        Ok(RawValue::Str(String::from_utf8_lossy(b).into_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(RawValue::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(RawValue::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positions_and_duplicate_keys() {
        let docs = parse_documents("a: 1\nb:\n  - x\na: 2\n").expect("parses");
        let Value::Map(entries) = &docs[0].value else {
            panic!("not a map")
        };
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[2].0.at, Position { line: 4, column: 1 });
        // A block sequence starts at its first item, on the line after its key.
        let b = docs[0].get("b").expect("b");
        assert_eq!(b.at, Position { line: 3, column: 3 });
    }

    #[test]
    fn quoted_numbers_stay_strings() {
        let docs = parse_documents("a: \"2\"\nb: 2\nc: yes\n").expect("parses");
        assert_eq!(
            docs[0].get("a").map(|n| &n.value),
            Some(&Value::Str("2".into()))
        );
        assert_eq!(docs[0].get("b").map(|n| &n.value), Some(&Value::Int(2)));
        // YAML 1.2 core schema: only true/false are booleans.
        assert_eq!(
            docs[0].get("c").map(|n| &n.value),
            Some(&Value::Str("yes".into()))
        );
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse_documents(&text).expect_err("refused");
        assert!(!err.message.is_empty());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = format!("{}{}", "[".repeat(500), "]".repeat(500));
        assert!(parse_documents(&text).is_err());
    }

    #[test]
    fn field_paths_print_like_jsonpath() {
        let p = FieldPath::default()
            .key("spec")
            .key("services")
            .index(1)
            .key("deployment");
        assert_eq!(p.to_string(), "spec.services[1].deployment");
    }
}
