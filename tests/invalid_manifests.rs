//! Every manifest under tests/fixtures/invalid/ is refused: exit 1, the expected position, field
//! path and message, no panic, and the store byte-for-byte as it was.
//!
//! Each fixture ends with its expectation:
//! `# expect: LINE:COL: FIELD: start of message` (printed as `FILE:LINE:COL: FIELD: message`), or
//! `# expect-file: message` for problems with the whole file (printed as `FILE: message`).

mod support;

use support::Tug;

const FIXTURES: &str = "tests/fixtures/invalid";

fn fixtures() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURES);
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("fixture directory") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("fixture");
        let text = String::from_utf8_lossy(&bytes);
        let name = format!(
            "{FIXTURES}/{}",
            path.file_name().and_then(|n| n.to_str()).expect("name")
        );
        let expected = text
            .lines()
            .find_map(|line| {
                line.strip_prefix("# expect: ")
                    .map(|e| format!("{name}:{e}"))
                    .or_else(|| {
                        line.strip_prefix("# expect-file: ")
                            .map(|e| format!("{name}: {e}"))
                    })
            })
            .unwrap_or_else(|| panic!("{name} has no `# expect:` line"));
        found.push((name, expected));
    }
    found.sort();
    found
}

#[test]
fn corpus_covers_at_least_forty_cases() {
    assert!(fixtures().len() >= 40, "only {} fixtures", fixtures().len());
}

#[test]
fn every_invalid_manifest_is_refused_with_its_location_and_changes_nothing() {
    let tug = Tug::new();
    let seeded = tug.run(&["apply", "-f", "manifests/"]);
    assert_eq!(seeded.code, 0, "{}", seeded.stderr);
    let before = tug.snapshot();
    assert!(!before.is_empty());

    let mut failures = Vec::new();
    for (fixture, expected) in fixtures() {
        for verb in ["validate", "apply"] {
            let run = tug.run(&[verb, "-f", &fixture]);
            if run.code != 1 {
                failures.push(format!("{verb} {fixture}: exit {} (want 1)", run.code));
            }
            if !run.stderr.contains(&expected) {
                failures.push(format!(
                    "{verb} {fixture}: stderr lacks\n    {expected}\n  got\n    {}",
                    run.stderr.trim().replace('\n', "\n    ")
                ));
            }
            if !run.stdout.is_empty() {
                failures.push(format!(
                    "{verb} {fixture}: printed to stdout: {}",
                    run.stdout
                ));
            }
        }
        if tug.snapshot() != before {
            failures.push(format!("apply {fixture}: the store changed"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_file_over_the_size_cap_is_refused_before_parsing() {
    let tug = Tug::new();
    let big = format!(
        "apiVersion: tugboat/v1\nkind: Stack\n# {}\n",
        "x".repeat(tugboat::manifest::node::MAX_FILE_BYTES)
    );
    let path = tug.write("huge.yaml", &big);
    let run = tug.run(&["apply", "-f", &path]);
    run.assert_failure(1, "huge.yaml: file is too large");
    assert!(
        tug.snapshot().is_empty(),
        "a refused apply created the store"
    );

    let piped = tug.run_with_stdin(&["validate", "-f", "-"], big.as_bytes());
    piped.assert_failure(1, "<stdin>: file is too large");
}

#[test]
fn all_problems_of_a_file_are_reported_not_only_the_first() {
    let tug = Tug::new();
    let path = tug.write(
        "many.yaml",
        "apiVersion: tugboat/v1\nkind: Stack\nmetadata: {name: many, nmae: x}\n\
         spec:\n  cluster: c\n  prune: \"no\"\n  services:\n    - name: s\n      desiredCount: -3\n      \
         taskDefinition: {family: f, containers: [{name: c, image: i, memory: 128, portMappings: [{containerPort: 0}]}]}\n",
    );
    let run = tug.run(&["validate", "-f", &path]);
    for expected in [
        "many.yaml:3:24: metadata.nmae: unknown field `nmae`; did you mean `name`?",
        "many.yaml:6:10: spec.prune: expected a boolean (true or false), found the string \"no\"",
        "many.yaml:9:21: spec.services[0].desiredCount: must be between 0 and 5000, found -3",
        "spec.services[0].taskDefinition.containers[0].portMappings[0].containerPort: must be between 1 and 65535, found 0",
        "error: 4 problems found",
    ] {
        run.assert_failure(1, expected);
    }
}
