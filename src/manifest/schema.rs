//! The JSON Schema of the manifest, generated from [`super::spec`] by schemars.

use super::spec::StackManifest;

/// The JSON Schema (draft 2020-12) of a Stack document, as `tug schema` prints it.
pub fn stack_schema() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    generator.into_root_schema_for::<StackManifest>().to_value()
}
