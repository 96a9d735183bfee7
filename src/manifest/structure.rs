//! Structural validation: a located YAML tree checked against the manifest's JSON Schema.
//!
//! Walking the schema that `tug schema` publishes, rather than a second hand-written description,
//! keeps editors and the CLI in agreement: the one source is [`super::spec`]. Every problem is
//! collected (not only the first), each with its field path and position. The validator implements
//! the part of JSON Schema that schemars emits for those types: `$ref`, `type`, `const`, `oneOf` /
//! `anyOf`, `properties` / `required` / `additionalProperties`, `items`, length and range bounds, and
//! the integer `format`s. `pattern` is left to [`super::rules`], which gives a better message.

use serde_json::{Map, Value as Json};

use super::Issue;
use super::node::{FieldPath, Node, Value};
use super::suggest::closest;

/// Checks `node` against `schema` (whose `$defs` resolve references); pushes every problem to `issues`.
pub fn check(schema: &Json, node: &Node, issues: &mut Vec<Issue>) {
    let checker = Checker { root: schema };
    checker.check(schema, node, &FieldPath::default(), issues);
}

/// A null for an optional field means "omitted", as in Kubernetes manifests. Dropping those entries
/// before serde sees the tree keeps the two in agreement.
pub fn to_json(node: &Node) -> Json {
    match &node.value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => i64::try_from(*i)
            .map(Json::from)
            .or_else(|_| u64::try_from(*i).map(Json::from))
            .unwrap_or(Json::Null),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::Str(s) => Json::String(s.clone()),
        Value::Seq(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                if matches!(v.value, Value::Null) {
                    continue;
                }
                if let Some(key) = k.key_text() {
                    map.entry(key).or_insert_with(|| to_json(v));
                }
            }
            Json::Object(map)
        }
    }
}

struct Checker<'s> {
    root: &'s Json,
}

impl<'s> Checker<'s> {
    /// Follows `$ref: "#/$defs/Name"` (and nested JSON pointers) within the root schema.
    fn resolve(&self, schema: &'s Json) -> &'s Json {
        let mut here = schema;
        for _ in 0..32 {
            match here.get("$ref").and_then(Json::as_str) {
                Some(reference) => {
                    let pointer = reference.trim_start_matches('#');
                    match self.root.pointer(pointer) {
                        Some(target) => here = target,
                        None => return here,
                    }
                }
                None => return here,
            }
        }
        here
    }

    fn check(&self, schema: &'s Json, node: &Node, path: &FieldPath, issues: &mut Vec<Issue>) {
        let schema = self.resolve(schema);
        let issue = |issues: &mut Vec<Issue>, message: String| {
            issues.push(Issue::at(path.clone(), node.at, message));
        };

        if let Some(branches) = schema
            .get("oneOf")
            .or_else(|| schema.get("anyOf"))
            .and_then(Json::as_array)
        {
            self.check_alternatives(branches, node, path, issues);
            return;
        }

        if let Some(expected) = schema.get("const") {
            if to_json(node) != *expected {
                issue(
                    issues,
                    format!("must be {}, found {}", show_json(expected), show_node(node)),
                );
            }
            return;
        }

        if !self.type_matches(schema, node) {
            issue(
                issues,
                format!(
                    "expected {}, found {}",
                    expected_type(schema),
                    show_node(node)
                ),
            );
            return;
        }

        match &node.value {
            Value::Map(entries) => self.check_object(schema, node, entries, path, issues),
            Value::Seq(items) => {
                check_count(schema, items.len(), "item", node, path, issues);
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item_schema, item, &path.index(i), issues);
                    }
                }
            }
            Value::Str(s) => check_length(schema, s, node, path, issues),
            Value::Int(_) | Value::Float(_) => check_number(schema, node, path, issues),
            Value::Null | Value::Bool(_) => {}
        }
    }

    /// `oneOf` / `anyOf` as schemars emits them: an enum of `const`s, or `T | null`.
    fn check_alternatives(
        &self,
        branches: &'s [Json],
        node: &Node,
        path: &FieldPath,
        issues: &mut Vec<Issue>,
    ) {
        let branches: Vec<&Json> = branches.iter().map(|b| self.resolve(b)).collect();
        let consts: Vec<&str> = branches
            .iter()
            .filter_map(|b| b.get("const").and_then(Json::as_str))
            .collect();
        if !consts.is_empty() && consts.len() == branches.len() {
            let found = match &node.value {
                Value::Str(s) => s.as_str(),
                _ => "",
            };
            if !consts.contains(&found) {
                let mut message = format!(
                    "must be one of {}, found {}",
                    consts.join(", "),
                    show_node(node)
                );
                if let Some(near) =
                    closest(found, consts.iter().copied()).filter(|_| !found.is_empty())
                {
                    message.push_str(&format!("; did you mean `{near}`?"));
                }
                issues.push(Issue::at(path.clone(), node.at, message));
            }
            return;
        }
        let is_null_branch = |b: &&Json| b.get("type").and_then(Json::as_str) == Some("null");
        if matches!(node.value, Value::Null) && branches.iter().any(is_null_branch) {
            return;
        }
        let others: Vec<&Json> = branches
            .iter()
            .copied()
            .filter(|b| !is_null_branch(b))
            .collect();
        // One real alternative: its errors are the useful ones.
        if let [only] = others.as_slice() {
            self.check(only, node, path, issues);
            return;
        }
        // An externally tagged enum (`rolling`, or `{canary: {...}}`): the branch the key or the
        // word names is the one to report against; anything else is one of the names.
        fn tag<'j>(b: &&'j Json) -> Option<&'j str> {
            b.get("const").and_then(Json::as_str).or_else(|| {
                match b
                    .get("required")
                    .and_then(Json::as_array)
                    .map(Vec::as_slice)
                {
                    Some([key]) => key.as_str(),
                    _ => None,
                }
            })
        }
        let tags: Vec<&str> = others.iter().filter_map(tag).collect();
        if tags.len() == others.len() {
            let named = match &node.value {
                Value::Str(word) => Some(word.as_str()),
                Value::Map(entries) if entries.len() == 1 => match &entries[0].0.value {
                    Value::Str(key) => Some(key.as_str()),
                    _ => None,
                },
                _ => None,
            };
            if let Some(branch) = named.and_then(|n| others.iter().find(|b| tag(b) == Some(n))) {
                self.check(branch, node, path, issues);
                return;
            }
            let mut message = format!(
                "expected one of {} (a word, or a mapping with one of them as its only key), found {}",
                tags.join(", "),
                show_node(node)
            );
            if let Some(near) = named.and_then(|n| closest(n, tags.iter().copied())) {
                message.push_str(&format!("; did you mean `{near}`?"));
            }
            issues.push(Issue::at(path.clone(), node.at, message));
            return;
        }
        let mut first_errors = None;
        for branch in others {
            let mut trial = Vec::new();
            self.check(branch, node, path, &mut trial);
            if trial.is_empty() {
                return;
            }
            first_errors.get_or_insert(trial);
        }
        issues.extend(first_errors.unwrap_or_default());
    }

    fn check_object(
        &self,
        schema: &'s Json,
        node: &Node,
        entries: &[(Node, Node)],
        path: &FieldPath,
        issues: &mut Vec<Issue>,
    ) {
        let empty = Map::new();
        let properties = schema
            .get("properties")
            .and_then(Json::as_object)
            .unwrap_or(&empty);
        let additional = schema.get("additionalProperties");
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Json::as_array)
            .map(|r| r.iter().filter_map(Json::as_str).collect())
            .unwrap_or_default();

        let mut seen: Vec<(String, &Node)> = Vec::new();
        for (key_node, value) in entries {
            let Some(key) = key_node
                .key_text()
                .filter(|_| !matches!(key_node.value, Value::Null))
            else {
                issues.push(Issue::at(
                    path.clone(),
                    key_node.at,
                    format!(
                        "keys must be plain text, found {}",
                        key_node.value.type_name()
                    ),
                ));
                continue;
            };
            let key_path = path.key(&key);
            if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key) {
                issues.push(Issue::at(
                    key_path,
                    key_node.at,
                    format!("duplicate key `{key}` (first set at {})", first.at),
                ));
                continue;
            }
            seen.push((key.clone(), key_node));

            if let Some(property) = properties.get(&key) {
                if matches!(value.value, Value::Null) && !required.contains(&key.as_str()) {
                    continue; // an explicit null means "use the default"
                }
                self.check(property, value, &key_path, issues);
            } else {
                match additional {
                    Some(Json::Bool(false)) => {
                        let mut message = format!("unknown field `{key}`");
                        match closest(&key, properties.keys().map(String::as_str)) {
                            Some(near) => message.push_str(&format!("; did you mean `{near}`?")),
                            None => message.push_str(&format!(
                                "; expected one of: {}",
                                properties
                                    .keys()
                                    .map(String::as_str)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )),
                        }
                        issues.push(Issue::at(key_path, key_node.at, message));
                    }
                    Some(extra) if extra.is_object() => self.check(extra, value, &key_path, issues),
                    _ => {}
                }
            }
        }
        for name in required {
            let present = entries.iter().any(|(k, v)| {
                matches!(&k.value, Value::Str(s) if s == name) && !matches!(v.value, Value::Null)
            });
            if !present {
                issues.push(Issue::at(
                    path.key(name),
                    node.at,
                    format!("missing required field `{name}`"),
                ));
            }
        }
    }

    fn type_matches(&self, schema: &Json, node: &Node) -> bool {
        let Some(types) = schema.get("type") else {
            return true;
        };
        let accepts = |t: &str| match (t, &node.value) {
            ("object", Value::Map(_))
            | ("array", Value::Seq(_))
            | ("string", Value::Str(_))
            | ("boolean", Value::Bool(_))
            | ("null", Value::Null)
            | ("integer", Value::Int(_))
            | ("number", Value::Int(_) | Value::Float(_)) => true,
            // An integer literal too large for 64 bits arrives as a float; the range check says so.
            ("integer", Value::Float(_)) => true,
            _ => false,
        };
        match types {
            Json::String(t) => accepts(t),
            Json::Array(ts) => ts.iter().filter_map(Json::as_str).any(accepts),
            _ => true,
        }
    }
}

fn check_count(
    schema: &Json,
    count: usize,
    noun: &str,
    node: &Node,
    path: &FieldPath,
    issues: &mut Vec<Issue>,
) {
    let min = schema.get("minItems").and_then(Json::as_u64);
    let max = schema.get("maxItems").and_then(Json::as_u64);
    let count = count as u64;
    if let Some(min) = min.filter(|m| count < *m) {
        issues.push(Issue::at(
            path.clone(),
            node.at,
            format!("needs at least {min} {noun}{}, found {count}", plural(min)),
        ));
    }
    if let Some(max) = max.filter(|m| count > *m) {
        issues.push(Issue::at(
            path.clone(),
            node.at,
            format!("allows at most {max} {noun}{}, found {count}", plural(max)),
        ));
    }
}

fn check_length(schema: &Json, s: &str, node: &Node, path: &FieldPath, issues: &mut Vec<Issue>) {
    let length = s.chars().count() as u64;
    if let Some(min) = schema
        .get("minLength")
        .and_then(Json::as_u64)
        .filter(|m| length < *m)
    {
        let message = if min == 1 {
            "must not be empty".to_owned()
        } else {
            format!("must be at least {min} characters long, found {length}")
        };
        issues.push(Issue::at(path.clone(), node.at, message));
    }
    if let Some(max) = schema
        .get("maxLength")
        .and_then(Json::as_u64)
        .filter(|m| length > *m)
    {
        issues.push(Issue::at(
            path.clone(),
            node.at,
            format!("must be at most {max} characters long, found {length}"),
        ));
    }
}

fn check_number(schema: &Json, node: &Node, path: &FieldPath, issues: &mut Vec<Issue>) {
    let integer_only = schema.get("type").and_then(Json::as_str) == Some("integer")
        || schema
            .get("type")
            .and_then(Json::as_array)
            .is_some_and(|ts| ts.iter().any(|t| t == "integer"));
    let min = schema.get("minimum").and_then(Json::as_f64);
    let max = schema.get("maximum").and_then(Json::as_f64);
    let range = || match (min, max) {
        (Some(lo), Some(hi)) => format!("between {} and {}", show_f64(lo), show_f64(hi)),
        (Some(lo), None) => format!("at least {}", show_f64(lo)),
        (None, Some(hi)) => format!("at most {}", show_f64(hi)),
        (None, None) => "a number".to_owned(),
    };
    let value = match &node.value {
        Value::Int(i) => *i as f64,
        Value::Float(f) if integer_only => {
            let message = if f.is_finite() && f.fract() == 0.0 {
                format!("integer out of range: must be {}", range())
            } else {
                format!("expected an integer, found {}", show_node(node))
            };
            issues.push(Issue::at(path.clone(), node.at, message));
            return;
        }
        Value::Float(f) if !f.is_finite() => {
            issues.push(Issue::at(
                path.clone(),
                node.at,
                format!("expected a finite number, found {}", show_node(node)),
            ));
            return;
        }
        Value::Float(f) => *f,
        _ => return,
    };
    let below = min.is_some_and(|lo| value < lo);
    let above = max.is_some_and(|hi| value > hi);
    if below || above {
        issues.push(Issue::at(
            path.clone(),
            node.at,
            format!("must be {}, found {}", range(), show_node(node)),
        ));
    }
}

fn expected_type(schema: &Json) -> String {
    let name = |t: &str| match t {
        "object" => "a mapping",
        "array" => "a list",
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "a boolean (true or false)",
        "null" => "null",
        _ => "a value",
    };
    match schema.get("type") {
        Some(Json::String(t)) => name(t).to_owned(),
        Some(Json::Array(ts)) => ts
            .iter()
            .filter_map(Json::as_str)
            .filter(|t| *t != "null")
            .map(name)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "a value".to_owned(),
    }
}

/// A short rendering of what was found, for messages.
fn show_node(node: &Node) -> String {
    match &node.value {
        Value::Str(s) => {
            let shown: String = s.chars().take(40).collect();
            let ellipsis = if s.chars().count() > 40 { "..." } else { "" };
            format!("the string \"{shown}{ellipsis}\"")
        }
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        other => other.type_name().to_owned(),
    }
}

fn show_json(value: &Json) -> String {
    match value {
        Json::String(s) => format!("`{s}`"),
        other => other.to_string(),
    }
}

fn show_f64(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        f.to_string()
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
