//! The JSON Schema of the manifest, generated from [`super::spec`] by schemars.

use std::sync::LazyLock;

use super::spec::StackManifest;

/// Generated once per process: validation consults it for every document and every stored stack.
static SCHEMA: LazyLock<serde_json::Value> = LazyLock::new(|| {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    generator.into_root_schema_for::<StackManifest>().to_value()
});

/// The JSON Schema (draft 2020-12) of a Stack document, as `tug schema` prints it.
pub fn stack_schema() -> &'static serde_json::Value {
    &SCHEMA
}
