//! Fuzzing parse + validate with proptest: random YAML token soup, random trees over the manifest's
//! own field names, and random edits of the example manifests.
//!
//! Properties: nothing panics; every input is either accepted or refused with at least one
//! diagnostic; whatever is accepted re-validates and survives a YAML round trip unchanged.
//!
//! CI runs a few hundred cases per generator, from fixed seeds, so a failure there replays. For a
//! long run, give each generator a time budget (it then repeats batches of `TUG_FUZZ_CASES`, each
//! with a new seed, until time is up):
//! `TUG_FUZZ_SECONDS=80 cargo test --release --test fuzz_manifest -- --nocapture --test-threads=1`
//! Every batch prints its seed; a failure names it, and `TUG_FUZZ_SEED=N` replays that batch.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Map, Value as Json};

use tugboat::manifest::{Source, parse_sources, validate};

fn cases() -> u32 {
    std::env::var("TUG_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

/// The property every input must satisfy. Returns whether the input was accepted.
fn check(bytes: &[u8]) -> Result<bool, TestCaseError> {
    let source = Source {
        name: "fuzz.yaml".to_owned(),
        bytes: bytes.to_vec(),
    };
    match parse_sources(std::slice::from_ref(&source)) {
        Err(diagnostics) => {
            prop_assert!(!diagnostics.is_empty(), "refused without a reason");
            for d in &diagnostics {
                prop_assert!(d.source == "fuzz.yaml" && !d.message.is_empty());
            }
            Ok(false)
        }
        Ok(stacks) => {
            for stack in &stacks {
                let again = validate(stack.manifest());
                prop_assert!(
                    again.is_ok(),
                    "accepted stack fails re-validation: {again:?}"
                );
                let yaml = serde_saphyr::to_string(stack.manifest()).expect("encodes");
                let reparsed = parse_sources(&[Source {
                    name: "roundtrip.yaml".to_owned(),
                    bytes: yaml.clone().into_bytes(),
                }]);
                match reparsed {
                    Ok(back) => prop_assert_eq!(back[0].manifest(), stack.manifest()),
                    Err(d) => prop_assert!(false, "round trip refused: {d:?}\n{yaml}"),
                }
            }
            Ok(true)
        }
    }
}

const TOKENS: &[&str] = &[
    "apiVersion: tugboat/v1\n",
    "kind: Stack\n",
    "metadata:\n",
    "  name: a\n",
    "spec:\n",
    "  cluster: c\n",
    "  services:\n",
    "    - name: s\n",
    "      taskDefinition:\n",
    "        family: f\n",
    "        containers: [{name: c, image: i, memory: 128}]\n",
    "- ",
    ": ",
    "\n",
    "  ",
    "    ",
    "{",
    "}",
    "[",
    "]",
    ",",
    "&a ",
    "*a",
    "&b ",
    "*b",
    "---\n",
    "...\n",
    "'",
    "\"",
    "# c\n",
    "!!str ",
    "!!int ",
    "!!map ",
    "!custom ",
    "~",
    "null",
    "true",
    "false",
    "1e400",
    "-0",
    "0x1F",
    "0o17",
    ".inf",
    ".nan",
    "99999999999999999999",
    "-99999999999999999999",
    "\t",
    "? ",
    "|\n",
    ">-\n",
    "<<: *a\n",
    "%YAML 1.2\n",
    "\u{feff}",
    "\u{0}",
    "é",
    "\r\n",
    "desiredCount: ",
    "launchType: FARGATE",
    "cpu: 256",
    "memory: 512",
    "scaling: {minTasks: 1, maxTasks: 2, cpu: {targetPercent: 50}}",
    "loadBalancers: []",
    "x",
];

fn token_soup() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            9 => prop::sample::select(TOKENS).prop_map(|t| t.as_bytes().to_vec()),
            1 => any::<u8>().prop_map(|b| vec![b]),
        ],
        0..120,
    )
    .prop_map(|parts| parts.concat())
}

/// Every property name the schema knows, so random trees hit real fields often.
fn field_names() -> Vec<String> {
    fn walk(value: &Json, names: &mut Vec<String>) {
        match value {
            Json::Object(map) => {
                if let Some(Json::Object(props)) = map.get("properties") {
                    names.extend(props.keys().cloned());
                }
                map.values().for_each(|v| walk(v, names));
            }
            Json::Array(items) => items.iter().for_each(|v| walk(v, names)),
            _ => {}
        }
    }
    let mut names = Vec::new();
    walk(tugboat::manifest::schema::stack_schema(), &mut names);
    names.sort();
    names.dedup();
    names
}

fn json_tree(names: Vec<String>) -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        (0u64..70000).prop_map(Json::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)),
        prop::sample::select(vec![
            "tugboat/v1",
            "Stack",
            "FARGATE",
            "EC2",
            "awsvpc",
            "bridge",
            "target",
            "loadBalancer",
            "a",
            "",
            "subnet-0a1b2c3d",
            "sg-0a1b2c3d",
            "arn:aws:iam::123456789012:role/r",
            "/health",
            "200-299",
        ])
        .prop_map(|s| Json::String(s.to_owned())),
        "\\PC{0,12}".prop_map(Json::String),
    ];
    leaf.prop_recursive(6, 120, 8, move |inner| {
        let names = names.clone();
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
            prop::collection::vec(
                (
                    prop_oneof![4 => prop::sample::select(names), 1 => "[a-zA-Z]{1,10}".boxed()],
                    inner
                ),
                0..8
            )
            .prop_map(|entries| Json::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A valid manifest skeleton whose fields are replaced by random subtrees.
fn mutated_valid_tree(names: Vec<String>) -> impl Strategy<Value = Json> {
    let base: Json = serde_json::json!({
        "apiVersion": "tugboat/v1", "kind": "Stack", "metadata": {"name": "fuzz"},
        "spec": {"cluster": "c", "services": [{
            "name": "s", "launchType": "FARGATE", "desiredCount": 2,
            "taskDefinition": {"family": "f", "cpu": 256, "memory": 512,
                "containers": [{"name": "c", "image": "i", "memory": 512, "portMappings": [{"containerPort": 80}]}]},
            "network": {"subnets": ["subnet-0a1b2c3d"]},
            "loadBalancers": [{"targetGroup": "tg", "containerName": "c", "containerPort": 80}],
            "deployment": {"minimumHealthyPercent": 50, "maximumPercent": 200},
            "scaling": {"minTasks": 1, "maxTasks": 4, "cpu": {"scaleOutAbovePercent": 70, "scaleInBelowPercent": 30}}
        }]}
    });
    let paths = [
        "/metadata/name",
        "/spec/cluster",
        "/spec/services/0/desiredCount",
        "/spec/services/0/launchType",
        "/spec/services/0/taskDefinition/cpu",
        "/spec/services/0/taskDefinition/memory",
        "/spec/services/0/taskDefinition/containers/0",
        "/spec/services/0/loadBalancers/0/containerPort",
        "/spec/services/0/deployment",
        "/spec/services/0/scaling",
        "/spec/services/0/scaling/cpu",
        "/spec/services/0/network",
        "/spec",
        "/metadata",
    ];
    (
        prop::sample::select(paths.to_vec()),
        json_tree(names),
        any::<bool>(),
    )
        .prop_map(move |(path, replacement, keep)| {
            let mut tree = base.clone();
            if !keep && let Some(slot) = tree.pointer_mut(path) {
                *slot = replacement;
            }
            tree
        })
}

fn edited_example() -> impl Strategy<Value = Vec<u8>> {
    let examples: Vec<String> = ["app", "fargate-test1", "todo", "hello-world"]
        .iter()
        .map(|n| {
            std::fs::read_to_string(format!("{}/manifests/{n}.yaml", env!("CARGO_MANIFEST_DIR")))
                .expect("example manifest")
        })
        .collect();
    (
        prop::sample::select(examples),
        prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                0usize..4,
                prop::sample::select(TOKENS),
            ),
            1..6,
        ),
    )
        .prop_map(|(text, edits)| {
            let mut bytes = text.into_bytes();
            for (at, kind, token) in edits {
                let i = at.index(bytes.len().max(1)).min(bytes.len());
                match kind {
                    0 => {
                        let end = (i + 7).min(bytes.len());
                        bytes.drain(i..end);
                    }
                    1 => bytes.splice(i..i, token.bytes()).for_each(drop),
                    2 if i < bytes.len() => {
                        bytes[i] = token.as_bytes().first().copied().unwrap_or(b' ')
                    }
                    _ => {
                        // Duplicate the line holding `i`.
                        let start = bytes[..i]
                            .iter()
                            .rposition(|b| *b == b'\n')
                            .map_or(0, |p| p + 1);
                        let end = bytes[i..]
                            .iter()
                            .position(|b| *b == b'\n')
                            .map_or(bytes.len(), |p| i + p + 1);
                        let line = bytes[start..end].to_vec();
                        bytes.splice(end..end, line).for_each(drop);
                    }
                }
            }
            bytes
        })
}

fn run(name: &str, strategy: impl Strategy<Value = Vec<u8>>) {
    let budget = std::env::var("TUG_FUZZ_SECONDS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(std::time::Duration::from_secs);
    let replay = std::env::var("TUG_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse::<u64>().ok());
    #[allow(clippy::disallowed_methods)] // a long run explores new seeds: the time picks them
    let first: u64 = match (replay, budget) {
        (Some(seed), _) => seed,
        // CI: fixed seeds, one per generator.
        (None, None) => name
            .bytes()
            .fold(0x5EED, |h, b| h.wrapping_mul(31) ^ u64::from(b)),
        (None, Some(_)) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
    };
    let started = std::time::Instant::now();
    let accepted = std::sync::atomic::AtomicUsize::new(0);
    let mut total = 0u64;
    for batch in 0u64.. {
        let seed = first.wrapping_add(batch);
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        let mut runner = TestRunner::new_with_rng(
            Config {
                cases: cases(),
                failure_persistence: None,
                ..Config::default()
            },
            TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
        );
        let result = runner.run(&strategy, |bytes| {
            if check(&bytes)? {
                accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(())
        });
        if let Err(e) = result {
            panic!("{name}: {e}\nreplay with TUG_FUZZ_SEED={seed}");
        }
        total += u64::from(cases());
        if replay.is_some() || budget.is_none_or(|b| started.elapsed() >= b) {
            break;
        }
    }
    println!(
        "{name}: seeds from {first}; {total} cases ({} accepted and round-tripped), no panic, {:.1} s",
        accepted.into_inner(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn token_soup_never_panics() {
    run("token soup", token_soup());
}

#[test]
fn random_trees_over_manifest_fields_never_panic() {
    let names = field_names();
    run(
        "random trees",
        json_tree(names).prop_map(|tree| {
            serde_saphyr::to_string(&tree)
                .unwrap_or_default()
                .into_bytes()
        }),
    );
}

#[test]
fn valid_manifests_with_a_field_replaced_never_panic() {
    run(
        "mutated valid trees",
        mutated_valid_tree(field_names()).prop_map(|tree| {
            serde_saphyr::to_string(&tree)
                .unwrap_or_default()
                .into_bytes()
        }),
    );
}

#[test]
fn edited_examples_never_panic() {
    run("edited examples", edited_example());
}
