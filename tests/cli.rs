//! The offline verbs end to end: the built binary against a private file store.

mod support;

use support::Tug;

fn stack(name: &str, service: &str, desired: u32) -> String {
    format!(
        "apiVersion: tugboat/v1
kind: Stack
metadata: {{name: {name}}}
spec:
  cluster: c1
  services:
    - name: {service}
      desiredCount: {desired}
      taskDefinition:
        family: {service}
        containers: [{{name: app, image: 'nginx:1.27', memory: 256}}]
"
    )
}

#[test]
fn examples_validate_and_round_trip_through_the_store() {
    let tug = Tug::new();
    let valid = tug.run(&["validate", "-f", "manifests/"]);
    assert_eq!(valid.code, 0, "{}", valid.stderr);
    assert_eq!(valid.stdout, "5 stacks valid (6 services)\n");

    let applied = tug.run(&["apply", "-f", "manifests/"]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    assert_eq!(
        applied.stdout,
        "stack/app created\nstack/fargate-test1 created\nstack/hello-world created\nstack/todo created\nstack/velocity created\n"
    );

    let yaml = tug.run(&["get", "stacks", "-o", "yaml"]);
    assert_eq!(yaml.code, 0, "{}", yaml.stderr);
    let exported = tug.write("exported.yaml", &yaml.stdout);
    let again = tug.run(&["validate", "-f", &exported]);
    assert_eq!(again.code, 0, "{}\n{}", again.stderr, yaml.stdout);

    // The export is the effective spec: applying it back changes nothing.
    let reapplied = tug.run(&["apply", "-f", &exported]);
    assert_eq!(reapplied.code, 0, "{}", reapplied.stderr);
    assert!(
        reapplied.stdout.lines().all(|l| l.ends_with(" unchanged")),
        "{}",
        reapplied.stdout
    );
    let diff = tug.run(&["diff", "-f", &exported]);
    assert_eq!(diff.code, 0, "{}{}", diff.stdout, diff.stderr);
}

#[test]
fn generation_increments_only_on_a_real_change() {
    let tug = Tug::new();
    let first = tug.write("s.yaml", &stack("shop", "web", 2));
    assert_eq!(
        tug.run(&["apply", "-f", &first]).stdout,
        "stack/shop created\n"
    );
    assert_eq!(
        tug.run(&["apply", "-f", &first]).stdout,
        "stack/shop unchanged\n"
    );

    // Same meaning, different text (an explicit default, flow vs block style): still unchanged.
    let restyled = tug.write(
        "restyled.yaml",
        &stack("shop", "web", 2)
            .replace("desiredCount: 2", "desiredCount: 2\n      launchType: EC2"),
    );
    assert_eq!(
        tug.run(&["apply", "-f", &restyled]).stdout,
        "stack/shop unchanged\n"
    );

    let changed = tug.write("s2.yaml", &stack("shop", "web", 3));
    assert_eq!(
        tug.run(&["apply", "-f", &changed]).stdout,
        "stack/shop configured\n"
    );

    let json = tug.run(&["get", "stacks", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(list["kind"], "StackList");
    assert_eq!(list["items"][0]["metadata"]["generation"], 2);
    assert_eq!(list["items"][0]["spec"]["services"][0]["desiredCount"], 3);
}

#[test]
fn a_multi_stack_apply_is_all_or_nothing() {
    let tug = Tug::new();
    let good = stack("good", "a", 1);
    let bad = stack("bad", "b", 1).replace("memory: 256", "memory: 2");
    let path = tug.write("mixed.yaml", &format!("{good}---\n{bad}"));
    let run = tug.run(&["apply", "-f", &path]);
    run.assert_failure(1, "mixed.yaml:23:");
    assert!(
        tug.snapshot().is_empty(),
        "the good stack was written alone"
    );
    let listed = tug.run(&["get", "stacks"]);
    assert!(
        listed.stdout.starts_with("No stacks: no store at file://")
            && listed.stdout.ends_with("(nothing applied yet).\n"),
        "{}",
        listed.stdout
    );
}

#[test]
fn dry_run_writes_nothing_and_shows_the_effective_spec() {
    let tug = Tug::new();
    let path = tug.write("s.yaml", &stack("shop", "web", 2));
    let run = tug.run(&["apply", "--dry-run", "-f", &path]);
    assert_eq!(run.stdout, "stack/shop created (dry run)\n");
    assert!(tug.snapshot().is_empty());

    let yaml = tug.run(&["apply", "--dry-run", "-o", "yaml", "-f", &path]);
    assert_eq!(yaml.code, 0, "{}", yaml.stderr);
    for default in [
        "launchType: EC2",
        "networkMode: bridge",
        "minimumHealthyPercent: 100",
        "maximumPercent: 200",
        "progressDeadlineSeconds: 600",
        "essential: true",
        "prune: false",
    ] {
        assert!(
            yaml.stdout.contains(default),
            "{default} missing from\n{}",
            yaml.stdout
        );
    }
    assert!(tug.snapshot().is_empty());
}

#[test]
fn diff_exit_codes_follow_kubectl() {
    let tug = Tug::new();
    let path = tug.write("s.yaml", &stack("shop", "web", 2));
    let new = tug.run(&["diff", "-f", &path]);
    assert_eq!(new.code, 1);
    assert!(new.stdout.contains("--- /dev/null"), "{}", new.stdout);
    assert!(
        new.stdout.contains("+    desiredCount: 2"),
        "{}",
        new.stdout
    );

    tug.run(&["apply", "-f", &path]);
    let same = tug.run(&["diff", "-f", &path]);
    assert_eq!((same.code, same.stdout.as_str()), (0, ""));

    let changed = tug.write("s2.yaml", &stack("shop", "web", 5));
    let diff = tug.run(&["diff", "-f", &changed]);
    assert_eq!(diff.code, 1);
    assert!(
        diff.stdout.contains("--- stack/shop (store, generation 1)"),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout
            .contains("-    desiredCount: 2\n+    desiredCount: 5"),
        "{}",
        diff.stdout
    );

    // Exit 1 is "changes" and nothing else: invalid input and every error exit 2.
    let broken = tug.write("broken.yaml", "apiVersion: [");
    let invalid = tug.run(&["diff", "-f", &broken]);
    assert_eq!(invalid.code, 2, "{}", invalid.stderr);
    assert!(
        invalid.stderr.contains("broken.yaml:1:"),
        "{}",
        invalid.stderr
    );
    let unreadable = tug.run(&["diff", "-f", "/nonexistent/stack.yaml"]);
    unreadable.assert_failure(2, "/nonexistent/stack.yaml: cannot read");
}

#[test]
fn delete_removes_named_stacks_all_or_none() {
    let tug = Tug::new();
    tug.run(&["apply", "-f", "manifests/"]);
    let before = tug.snapshot();
    let missing = tug.run(&["delete", "stack", "app", "nope"]);
    missing.assert_failure(1, "stack not found: nope");
    assert_eq!(tug.snapshot(), before, "a failed delete changed the store");

    let dry = tug.run(&["delete", "stack", "app", "--dry-run"]);
    assert_eq!(dry.stdout, "stack/app deleted (dry run)\n");
    assert_eq!(tug.snapshot(), before);

    let deleted = tug.run(&["delete", "stack", "app"]);
    assert_eq!(
        (deleted.code, deleted.stdout.as_str()),
        (0, "stack/app deleted\n")
    );
    let by_file = tug.run(&["delete", "-f", "manifests/todo.yaml"]);
    assert_eq!(by_file.stdout, "stack/todo deleted\n");
    let names = tug.run(&["get", "stacks", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_str(&names.stdout).expect("json");
    let names: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|s| s["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["fargate-test1", "hello-world", "velocity"]);

    let wrong_kind = tug.run(&["delete", "service", "x"]);
    assert_eq!(wrong_kind.code, 1);
}

#[test]
fn a_service_cannot_be_claimed_by_a_second_stack() {
    let tug = Tug::new();
    tug.run(&[
        "apply",
        "-f",
        &tug.write("a.yaml", &stack("first", "web", 1)),
    ]);
    let before = tug.snapshot();
    let run = tug.run(&[
        "apply",
        "-f",
        &tug.write("b.yaml", &stack("second", "web", 1)),
    ]);
    run.assert_failure(1, "service c1/web is already managed by stack `first`");
    assert_eq!(tug.snapshot(), before);
}

#[test]
fn reads_standard_input_and_directories() {
    let tug = Tug::new();
    let run = tug.run_with_stdin(&["apply", "-f", "-"], stack("piped", "web", 1).as_bytes());
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "stack/piped created\n"),
        "{}",
        run.stderr
    );

    let empty = tug.scratch.join("empty");
    std::fs::create_dir_all(&empty).expect("dir");
    let run = tug.run(&["validate", "-f", &empty.to_string_lossy()]);
    run.assert_failure(1, "directory holds no *.yaml or *.yml files");
}

#[test]
fn get_services_lists_every_service_in_stable_json() {
    let tug = Tug::new();
    tug.run(&["apply", "-f", "manifests/"]);
    let table = tug.run(&["get", "services"]);
    assert!(table.stdout.starts_with("STACK"), "{}", table.stdout);
    assert_eq!(table.stdout.lines().count(), 7);

    let json = tug.run(&["get", "services", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(list["kind"], "ServiceList");
    let first = &list["items"][0];
    assert_eq!(first["stack"], "app");
    assert_eq!(first["name"], "appService");
    assert_eq!(first["launchType"], "EC2");
    assert_eq!(first["desiredCount"], 2);
    assert_eq!(list["items"][1]["minTasks"], 2);
    assert_eq!(first["state"], "Pending", "the controller has not acted");
    assert!(first["controllerDesiredCount"].is_null());
    assert_eq!(list["items"][1]["maxTasks"], 4);
}

#[test]
fn global_flags_work_before_and_after_the_verb() {
    let tug = Tug::new();
    let store = format!("file://{}", tug.scratch.join("other").display());
    let path = tug.write("s.yaml", &stack("shop", "web", 1));
    assert_eq!(tug.run(&["--store", &store, "apply", "-f", &path]).code, 0);
    let after = tug.run(&["get", "stacks", "-o", "json", "--store", &store]);
    assert!(after.stdout.contains("\"shop\""), "{}", after.stdout);
    // The default store (from TUG_STORE) was not touched.
    assert!(tug.snapshot().is_empty());

    let bad = tug.run(&["--store", "s3://bucket", "get", "stacks"]);
    bad.assert_failure(2, "use file://DIR or dynamodb://TABLE");
}

#[test]
fn a_corrupt_store_is_reported_not_overwritten() {
    let tug = Tug::new();
    std::fs::create_dir_all(&tug.store).expect("store dir");
    let stacks = tug.store.join("stacks.json");
    for (contents, expected) in [
        ("{not json", "is corrupt: line 1 column 2"),
        (
            "{\"format\": 9, \"stacks\": []}",
            "format 9 is not understood",
        ),
        (
            "{\"format\": 1, \"stacks\": [{\"apiVersion\": \"tugboat/v1\", \"kind\": \"Stack\", \"metadata\": {\"name\": \"x\"}, \"spec\": {\"cluster\": \"c\", \"services\": []}}]}",
            "stack `x` (stacks[0]) fails validation: spec.services: needs at least 1 item",
        ),
    ] {
        std::fs::write(&stacks, contents).expect("write");
        tug.run(&["get", "stacks"]).assert_failure(2, expected);
        let apply = tug.run(&["apply", "-f", "manifests/app.yaml"]);
        apply.assert_failure(2, expected);
        assert_eq!(std::fs::read_to_string(&stacks).expect("read"), contents);
    }
}

#[test]
fn concurrent_applies_are_serialised_and_none_is_lost() {
    let tug = Tug::new();
    // All spawned before any is waited on, so the applies really overlap.
    let spawned: Vec<_> = (0..16)
        .map(|i| {
            let path = tug.write(
                &format!("t{i}.yaml"),
                &stack(&format!("t{i}"), &format!("tsvc{i}"), 1),
            );
            tug.command()
                .args(["apply", "-f", &path])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for mut child in spawned {
        assert!(child.wait().expect("wait").success());
    }
    let json = tug.run(&["get", "stacks", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(16));
}

#[test]
fn schema_prints_json_schema() {
    let tug = Tug::new();
    let run = tug.run(&["schema"]);
    assert_eq!(run.code, 0);
    let schema: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(schema["title"], "tugboat Stack");
}

#[test]
fn usage_errors_exit_two() {
    let tug = Tug::new();
    assert_eq!(tug.run(&["apply"]).code, 2);
    assert_eq!(tug.run(&["frobnicate"]).code, 2);
    assert_eq!(tug.run(&["get", "pods"]).code, 2);
}

/// The store holds every spec and the controller's memory: files its owner's only, and a
/// credential-looking environment value warned about (pointing to `secrets`), not refused.
#[test]
fn store_files_are_private_and_credentials_in_environment_are_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let tug = Tug::new();
    let text = stack("shop", "web", 1).replace(
        "memory: 256}",
        "memory: 256, environment: {DB_PASSWORD: hunter2, MODE: prod}}",
    );
    let path = tug.write("s.yaml", &text);
    let applied = tug.run(&["apply", "-f", &path]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    assert!(
        applied.stderr.contains("warning: ")
            && applied
                .stderr
                .contains("environment.DB_PASSWORD: `DB_PASSWORD` looks like a credential")
            && applied.stderr.contains("move it to `secrets`"),
        "{}",
        applied.stderr
    );
    assert!(!applied.stderr.contains("MODE"), "{}", applied.stderr);
    let files = tug.snapshot();
    assert!(!files.is_empty());
    for file in files.keys() {
        let mode = std::fs::metadata(file)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{} is {:o}", file.display(), mode);
    }
}

/// `tug diff` says how a change would roll out: the strategy and its steps, the peak task count
/// (the capacity it needs), and the time to verified good measured in the simulator.
#[test]
fn diff_previews_the_rollout_of_a_changed_task_definition() {
    let tug = Tug::new();
    let applied = tug.run(&["apply", "-f", "manifests/strategies/canary.yaml"]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let canary = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/manifests/strategies/canary.yaml"
    ))
    .expect("example");
    let changed = tug.write("canary.yaml", &canary.replace("shop:1.0.0", "shop:1.1.0"));
    let diff = tug.run(&["diff", "-f", &changed]);
    assert_eq!(diff.code, 1, "{}{}", diff.stdout, diff.stderr);
    for expected in [
        "rollout of stack/canary:",
        "shop: CANARY, 10 tasks: 10 new tasks beside the 10 old; production traffic 10 % for 5 min, then 100 %; old tasks kept 2 min",
        "shop: peak 20 tasks: 10 more than it runs",
        "to verified good in the simulator",
        "assumed: tasks start in",
    ] {
        assert!(
            diff.stdout.contains(expected),
            "{expected}\n{}",
            diff.stdout
        );
    }
    // A change that is not a new revision (the desired count) previews no rollout.
    let scaled = tug.write(
        "scaled.yaml",
        &canary.replace("desiredCount: 10", "desiredCount: 12"),
    );
    let diff = tug.run(&["diff", "-f", &scaled]);
    assert_eq!(diff.code, 1, "{}", diff.stderr);
    assert!(!diff.stdout.contains("rollout of"), "{}", diff.stdout);
}

/// A 5XX rule on the load balancer's count, beside other services behind load balancers: describe
/// says that the count is shared; a rule on the target group's count draws no such warning.
#[test]
fn describe_warns_that_the_load_balancers_5xx_count_is_shared() {
    let tug = Tug::new();
    let applied = tug.run(&["apply", "-f", "manifests/todo.yaml"]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let described = tug.run(&["describe", "service", "todoMain"]);
    assert_eq!(described.code, 0, "{}", described.stderr);
    assert!(
        described.stdout.contains(
            "warning: scaling.http5xx reads HTTPCode_ELB_5XX_Count, which has no target-group dimension: if todoFiles shares its load balancer, an overload of any of them scales this service out too"
        ),
        "{}",
        described.stdout
    );
    let own = std::fs::read_to_string("manifests/todo.yaml")
        .expect("todo")
        .replace("source: loadBalancer", "source: target");
    let file = tug.write("todo-target.yaml", &own);
    let applied = tug.run(&["apply", "-f", &file]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let described = tug.run(&["describe", "service", "todoMain"]);
    assert!(
        !described.stdout.contains("HTTPCode_ELB_5XX_Count"),
        "{}",
        described.stdout
    );
}
