//! The schema committed for editors is the one this build generates.

const COMMITTED: &str = "manifests/tugboat-v1.schema.json";

#[test]
fn committed_schema_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(COMMITTED);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let current = serde_json::to_string_pretty(&tugboat::manifest::schema::stack_schema())
        .expect("schema encodes")
        + "\n";
    assert!(
        committed == current,
        "{COMMITTED} is stale: regenerate it with `cargo run -q -- schema > {COMMITTED}`"
    );
}
