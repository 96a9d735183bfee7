//! Manifests: YAML text to validated [`Stack`]s, or every problem found, each located.
//!
//! The pipeline, one module a step:
//! 1. [`source`]: read files, directories or standard input, within a size cap;
//! 2. [`node`]: YAML to a located tree (serde-saphyr, with depth, alias and size budgets);
//! 3. [`structure`]: the tree checked against the JSON Schema of [`spec`] (types, ranges, unknown and
//!    duplicate keys with "did you mean"), every error collected;
//! 4. serde turns the tree into the typed [`spec::StackManifest`];
//! 5. [`rules`]: cross-field rules (Fargate sizes, load-balancer references, deployment progress...);
//! 6. defaults that depend on other fields are made explicit, and a [`Stack`] is built.
//!
//! Nothing here does network I/O or reads a clock.

pub mod node;
pub mod rules;
pub mod schema;
pub mod source;
pub mod spec;
mod structure;
pub mod suggest;

use std::collections::BTreeMap;
use std::fmt;

use node::{FieldPath, Node, Position, Value};
pub use source::{Source, load_sources};
use spec::{API_VERSION, KIND_STACK, StackManifest};

use crate::model::Stack;

/// One problem with one document, before it is tied to a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    /// Which field.
    pub path: FieldPath,
    /// Where in the text, once known.
    pub at: Option<Position>,
    /// What is wrong and, where possible, how to fix it.
    pub message: String,
}

impl Issue {
    /// A problem whose position is looked up from `path` later.
    pub fn new(path: FieldPath, message: String) -> Self {
        Self {
            path,
            at: None,
            message,
        }
    }

    /// A problem at a known position.
    pub fn at(path: FieldPath, at: Position, message: String) -> Self {
        Self {
            path,
            at: Some(at),
            message,
        }
    }
}

/// A problem tied to a file: printed as `FILE:LINE:COL: FIELD: message`.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// The file (or `<stdin>`).
    pub source: String,
    /// Line and column, where the input has one.
    pub at: Option<Position>,
    /// The field path, where the problem is about a field.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl Diagnostic {
    /// A problem with a whole file.
    pub fn file(source: &str, message: impl Into<String>) -> Self {
        Self {
            source: source.to_owned(),
            at: None,
            field: None,
            message: message.into(),
        }
    }

    fn from_issue(source: &str, document: &Node, issue: Issue) -> Self {
        let at = issue
            .at
            .unwrap_or_else(|| document.locate(&issue.path.0).at);
        Self {
            source: source.to_owned(),
            at: Some(at),
            field: (!issue.path.0.is_empty()).then(|| issue.path.to_string()),
            message: issue.message,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)?;
        if let Some(at) = self.at {
            write!(f, ":{at}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Parses and validates every document of every source. Either all stacks are valid, or every
/// problem found is returned (within a file, all documents are checked; across files, duplicate
/// stack names and services claimed by two stacks are reported too).
///
/// # Errors
/// The diagnostics, in file order.
pub fn parse_sources(sources: &[Source]) -> Result<Vec<Stack>, Vec<Diagnostic>> {
    parse_sources_warning(sources).0
}

/// [`parse_sources`], with the warnings about the valid documents: things that work and should
/// not be done (a credential in `environment`), printed by the commands and never fatal.
pub fn parse_sources_warning(
    sources: &[Source],
) -> (Result<Vec<Stack>, Vec<Diagnostic>>, Vec<Diagnostic>) {
    let schema = schema::stack_schema();
    let mut diagnostics = Vec::new();
    let mut warnings = Vec::new();
    let mut parsed: Vec<(Stack, &str, Node)> = Vec::new();
    for source in sources {
        let (stacks, problems) = parse_one(schema, source);
        diagnostics.extend(problems);
        for (stack, document) in &stacks {
            warnings.extend(
                rules::credential_warnings(stack.spec())
                    .into_iter()
                    .map(|w| Diagnostic::from_issue(&source.name, document, w)),
            );
        }
        parsed.extend(
            stacks
                .into_iter()
                .map(|(s, n)| (s, source.name.as_str(), n)),
        );
    }
    cross_document_rules(&parsed, &mut diagnostics);
    let result = if diagnostics.is_empty() {
        Ok(parsed.into_iter().map(|(stack, _, _)| stack).collect())
    } else {
        Err(diagnostics)
    };
    (result, warnings)
}

/// Validates a manifest that did not come from text (the store's contents): the same structural
/// checks and rules, without positions.
///
/// # Errors
/// Every problem, with its field path.
pub fn validate(manifest: &StackManifest) -> Result<Stack, Vec<Issue>> {
    let json = serde_json::to_value(manifest).map_err(|e| {
        vec![Issue::new(
            FieldPath::default(),
            format!("cannot encode manifest: {e}"),
        )]
    })?;
    let node = node_from_json(&json);
    let mut issues = Vec::new();
    structure::check(schema::stack_schema(), &node, &mut issues);
    if issues.is_empty() {
        rules::check(manifest, &mut issues);
    }
    if issues.is_empty() {
        Ok(Stack::from_validated(normalised(manifest.clone())))
    } else {
        Err(issues)
    }
}

fn parse_one(schema: &serde_json::Value, source: &Source) -> (Vec<(Stack, Node)>, Vec<Diagnostic>) {
    let name = source.name.as_str();
    let text = match source::decode(&source.bytes) {
        Ok(text) => text,
        Err((at, message)) => {
            return (
                Vec::new(),
                vec![Diagnostic {
                    source: name.to_owned(),
                    at,
                    field: None,
                    message,
                }],
            );
        }
    };
    let documents = match node::parse_documents(text) {
        Ok(documents) => documents,
        Err(e) => {
            return (
                Vec::new(),
                vec![Diagnostic {
                    source: name.to_owned(),
                    at: e.at,
                    field: None,
                    message: e.message,
                }],
            );
        }
    };
    let documents: Vec<Node> = documents
        .into_iter()
        .filter(|d| !matches!(d.value, Value::Null))
        .collect();
    if documents.is_empty() {
        return (
            Vec::new(),
            vec![Diagnostic::file(
                name,
                "no documents: expected at least one Stack",
            )],
        );
    }
    let mut stacks = Vec::new();
    let mut diagnostics = Vec::new();
    for document in documents {
        match parse_document(schema, &document) {
            Ok(stack) => stacks.push((stack, document)),
            Err(issues) => diagnostics.extend(
                issues
                    .into_iter()
                    .map(|issue| Diagnostic::from_issue(name, &document, issue)),
            ),
        }
    }
    // Rules run in rule order; readers want source order.
    diagnostics.sort_by_key(|d| d.at.map(|p| (p.line, p.column)));
    (stacks, diagnostics)
}

fn parse_document(schema: &serde_json::Value, document: &Node) -> Result<Stack, Vec<Issue>> {
    let root = FieldPath::default();
    let Value::Map(_) = &document.value else {
        return Err(vec![Issue::at(
            root,
            document.at,
            format!(
                "expected a Stack (a mapping with apiVersion, kind, metadata and spec), found {}",
                document.value.type_name()
            ),
        )]);
    };
    // A document of another version or kind is not worth checking field by field.
    for (key, expected) in [("apiVersion", API_VERSION), ("kind", KIND_STACK)] {
        if let Some(found) = document.get(key)
            && !matches!(&found.value, Value::Str(s) if s == expected)
        {
            let shown = match &found.value {
                Value::Str(s) => format!("`{s}`"),
                other => other.type_name().to_owned(),
            };
            return Err(vec![Issue::at(
                root.key(key),
                found.at,
                format!("unsupported {key} {shown}: this version of tug understands `{expected}`"),
            )]);
        }
    }
    let mut issues = Vec::new();
    structure::check(schema, document, &mut issues);
    if !issues.is_empty() {
        return Err(issues);
    }
    let mut manifest: StackManifest = serde_json::from_value(structure::to_json(document))
        .map_err(|e| {
            vec![Issue::at(
                root.clone(),
                document.at,
                format!("invalid Stack: {e}"),
            )]
        })?;
    rules::check(&manifest, &mut issues);
    if !issues.is_empty() {
        return Err(issues);
    }
    // Bookkeeping belongs to the store: whatever a file says about it is ignored.
    manifest.metadata.generation = None;
    manifest.metadata.creation_timestamp = None;
    manifest.metadata.update_timestamp = None;
    Ok(Stack::from_validated(normalised(manifest)))
}

/// Makes the defaults that depend on other fields explicit, so the stored spec is the effective one.
fn normalised(mut manifest: StackManifest) -> StackManifest {
    for service in &mut manifest.spec.services {
        // ECS's default launch type, unless capacity providers say where tasks run.
        if service.capacity_provider_strategy.is_empty() {
            service.launch_type.get_or_insert(spec::LaunchType::Ec2);
        }
        let network_mode = rules::effective_network_mode(service);
        std::sync::Arc::make_mut(&mut service.task_definition).network_mode = Some(network_mode);
        if let Some(cpu) = service.scaling.as_mut().and_then(|s| s.cpu.as_mut())
            && cpu.target_percent.is_none()
        {
            cpu.evaluation_periods
                .get_or_insert(spec::defaults::EVALUATION_PERIODS);
            cpu.scale_out_step
                .get_or_insert(spec::ScalingStep::Tasks(spec::defaults::STEP));
            if cpu.scale_in_below_percent.is_some() {
                cpu.scale_in_step
                    .get_or_insert(spec::ScalingStep::Tasks(spec::defaults::STEP));
            }
        }
    }
    manifest
}

/// Rules across documents and files: one name per stack, one owner per service.
fn cross_document_rules(parsed: &[(Stack, &str, Node)], diagnostics: &mut Vec<Diagnostic>) {
    let mut names: BTreeMap<&str, (&str, Position)> = BTreeMap::new();
    let mut owners: BTreeMap<crate::model::ServiceKey, &str> = BTreeMap::new();
    for (stack, source, document) in parsed {
        let name_path = FieldPath::default().key("metadata").key("name");
        let at = document.locate(&name_path.0).at;
        if let Some((first_source, first_at)) = names.insert(stack.name(), (source, at)) {
            let place = if first_source == *source {
                first_at.to_string()
            } else {
                format!("{first_source}:{first_at}")
            };
            diagnostics.push(Diagnostic {
                source: (*source).to_owned(),
                at: Some(at),
                field: Some(name_path.to_string()),
                message: format!("stack `{}` is already defined at {place}", stack.name()),
            });
            continue;
        }
        for (i, (key, _)) in stack.services().enumerate() {
            let path = FieldPath::default()
                .key("spec")
                .key("services")
                .index(i)
                .key("name");
            if let Some(owner) = owners.insert(key.clone(), stack.name()) {
                diagnostics.push(Diagnostic {
                    source: (*source).to_owned(),
                    at: Some(document.locate(&path.0).at),
                    field: Some(path.to_string()),
                    message: format!(
                        "service {key} is also managed by stack `{owner}`; a service can have only one owner"
                    ),
                });
            }
        }
    }
}

fn node_from_json(json: &serde_json::Value) -> Node {
    use serde_json::Value as J;
    let value = match json {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => n
            .as_i64()
            .map(|i| Value::Int(i.into()))
            .or_else(|| n.as_u64().map(|u| Value::Int(u.into())))
            .unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or(f64::NAN))),
        J::String(s) => Value::Str(s.clone()),
        J::Array(items) => Value::Seq(items.iter().map(node_from_json).collect()),
        J::Object(map) => Value::Map(
            map.iter()
                .map(|(k, v)| (node_from_json(&J::String(k.clone())), node_from_json(v)))
                .collect(),
        ),
    };
    Node {
        at: Position::default(),
        value,
    }
}
