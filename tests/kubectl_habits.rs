//! The command line as someone with kubectl in their fingers uses it: help that fits 80 columns,
//! `version`, `completion`, `get` with names, selectors and output formats, `describe NAME` and
//! `describe stack`, `rollout` subcommands with their own help and a watch timeout, and mistakes
//! answered with the form that works. Each test checks the exit code and the words a person reads.

mod support;

use support::Tug;

/// Lines wider than `columns`, with their widths.
fn wider_than(text: &str, columns: usize) -> Vec<(usize, String)> {
    text.lines()
        .filter(|l| l.chars().count() > columns)
        .map(|l| (l.chars().count(), l.to_owned()))
        .collect()
}

#[test]
fn help_fits_80_columns_for_tug_and_every_verb() {
    let tug = Tug::new();
    let top = tug.run(&["--help"]);
    assert_eq!(top.code, 0);
    assert!(
        wider_than(&top.stdout, 80).is_empty(),
        "{:?}",
        wider_than(&top.stdout, 80)
    );
    for verb in [
        "validate",
        "apply",
        "diff",
        "get",
        "delete",
        "schema",
        "simulate",
        "controller",
        "demo",
        "describe",
        "rollout",
        "events",
        "probe",
        "store",
        "version",
        "completion",
    ] {
        let help = tug.run(&[verb, "-h"]);
        assert_eq!(help.code, 0, "{verb}: {}", help.stderr);
        assert!(
            wider_than(&help.stdout, 80).is_empty(),
            "tug {verb} -h: {:?}",
            wider_than(&help.stdout, 80)
        );
    }
}

#[test]
fn version_names_the_commit_the_build_date_and_the_aws_sdks() {
    let tug = Tug::new();
    let text = tug.run(&["version"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout
            .starts_with(&format!("tug {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("aws-sdk-ecs 1."), "{}", text.stdout);
    let json = tug.run(&["version", "-o", "json"]);
    assert_eq!(json.code, 0);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["gitCommit"].as_str().is_some_and(|c| !c.is_empty()));
    assert!(
        v["buildDate"]
            .as_str()
            .is_some_and(|d| humantime::parse_rfc3339(d).is_ok()),
        "{v}"
    );
    let sdks = v["awsSdk"].as_array().expect("a list");
    for name in [
        "aws-sdk-ecs",
        "aws-sdk-elasticloadbalancingv2",
        "aws-sdk-cloudwatch",
        "aws-sdk-dynamodb",
    ] {
        assert!(sdks.iter().any(|c| c["name"] == name), "{name} in {v}");
    }
}

#[test]
fn completion_scripts_are_written_for_bash_zsh_and_fish() {
    let tug = Tug::new();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef tug"),
        ("fish", "complete -c tug"),
    ] {
        let run = tug.run(&["completion", shell]);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        assert!(
            run.stdout.contains(marker),
            "{shell}: {}",
            &run.stdout[..200.min(run.stdout.len())]
        );
        assert!(
            run.stdout.contains("rollout"),
            "{shell} completes the verbs"
        );
    }
    tug.run(&["completion", "powershell"])
        .assert_failure(2, "possible values: bash, zsh, fish");
}

#[test]
fn get_takes_names_selectors_and_kubectls_output_formats() {
    let tug = Tug::new();
    assert_eq!(tug.run(&["apply", "-f", "manifests/"]).code, 0);
    let table = tug.run(&["get", "services"]);
    assert_eq!(table.code, 0);
    assert!(
        wider_than(&table.stdout, 120).is_empty(),
        "{:?}",
        wider_than(&table.stdout, 120)
    );
    assert!(table.stdout.starts_with("STACK "), "{}", table.stdout);
    assert!(!table.stdout.contains("IMAGES"), "images are in -o wide");

    let wide = tug.run(&["get", "services", "test1Service", "-o", "wide"]);
    assert_eq!(wide.code, 0);
    let lines: Vec<&str> = wide.stdout.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "the header and the one service: {}",
        wide.stdout
    );
    for column in ["REVISION", "STRATEGY", "IMAGES"] {
        assert!(lines[0].contains(column), "{}", lines[0]);
    }
    assert!(lines[1].contains("rolling") && lines[1].contains("test1:1.0.0"));

    let names = tug.run(&["get", "stacks", "-o", "name"]);
    assert_eq!(names.code, 0);
    assert!(
        names.stdout.lines().any(|l| l == "stack/todo"),
        "{}",
        names.stdout
    );
    let selected = tug.run(&["get", "stacks", "-l", "app=todo", "-o", "name"]);
    assert_eq!(selected.stdout, "stack/todo\n");
    let not_todo = tug.run(&["get", "services", "-l", "app!=todo", "-o", "name"]);
    assert!(
        !not_todo.stdout.contains("todoMain")
            && not_todo
                .stdout
                .contains("service/test1Cluster/test1Service"),
        "{}",
        not_todo.stdout
    );

    let path = tug.run(&[
        "get",
        "services",
        "todoMain",
        "todoFiles",
        "-o",
        "jsonpath={.items[*].name}",
    ]);
    assert_eq!(path.code, 0, "{}", path.stderr);
    assert_eq!(path.stdout, "todoMain todoFiles\n");
    let rfc = tug.run(&[
        "get",
        "stacks",
        "todo",
        "-o",
        "jsonpath=$.items[0].spec.cluster",
    ]);
    assert_eq!(rfc.stdout, "todoCluster\n");

    tug.run(&["get", "stacks", "nope"])
        .assert_failure(1, "stack `nope` is not in the store; see `tug get stacks`");
    tug.run(&["get", "services", "nope"])
        .assert_failure(1, "service `nope` is not in any stack of the store");
    tug.run(&["get", "services", "-o", "jsonpath={.items[}"])
        .assert_failure(2, "jsonpath");
    tug.run(&["get", "stacks", "-o", "xml"])
        .assert_failure(2, "use table, wide, name, json, yaml or jsonpath=EXPR");
    tug.run(&["get", "stakcs"])
        .assert_failure(2, "a similar value exists: 'stacks'");
}

#[test]
fn describe_takes_a_bare_name_or_a_stack_and_suggests_the_type() {
    let tug = Tug::new();
    assert_eq!(tug.run(&["apply", "-f", "manifests/"]).code, 0);
    let service = tug.run(&["describe", "test1Service"]);
    assert_eq!(service.code, 0, "{}", service.stderr);
    assert!(service.stdout.starts_with("Service:"), "{}", service.stdout);
    let stack = tug.run(&["describe", "stack", "todo"]);
    assert_eq!(stack.code, 0, "{}", stack.stderr);
    for words in [
        "Stack:         todo",
        "Labels:        app=todo",
        "todoMain",
        "todoFiles",
        "Decisions",
    ] {
        assert!(stack.stdout.contains(words), "{words}: {}", stack.stdout);
    }
    // A bare stack name, when no service has it.
    assert_eq!(tug.run(&["describe", "todo"]).stdout, stack.stdout);
    tug.run(&["describe", "sevice", "x"])
        .assert_failure(1, "did you mean `service`?");
    tug.run(&["describe", "nothing"]).assert_failure(
        1,
        "no stack is named `nothing`; see `tug get services` and `tug get stacks`",
    );
    tug.run(&["describe", "stack"])
        .assert_failure(1, "name the stack to describe: `tug describe stack NAME`");
    tug.run(&["desribe", "x"])
        .assert_failure(2, "a similar subcommand exists: 'describe'");
}

#[test]
fn rollout_verbs_have_their_own_help_and_the_watch_gives_up_at_its_timeout() {
    let tug = Tug::new();
    for (verb, words) in [
        (
            "status",
            "Whether the manifest's revision is deployed and verified",
        ),
        ("history", "Revisions the controller registered"),
        ("undo", "Put an earlier revision's task definition back"),
    ] {
        let help = tug.run(&["rollout", verb, "--help"]);
        assert_eq!(help.code, 0, "{}", help.stderr);
        assert!(help.stdout.starts_with(words), "{verb}: {}", help.stdout);
        assert!(
            help.stdout.contains(&format!("tug rollout {verb} ")),
            "an example"
        );
    }
    assert_eq!(
        tug.run(&["apply", "-f", "manifests/fargate-test1.yaml"])
            .code,
        0
    );
    let waited = tug.run(&[
        "rollout",
        "status",
        "test1Service",
        "--watch",
        "--timeout",
        "1s",
    ]);
    waited.assert_failure(
        1,
        "timed out after 1s waiting for the rollout of test1Service",
    );
    assert!(
        waited.stdout.contains("rollout in progress"),
        "what it saw last: {}",
        waited.stdout
    );
    tug.run(&["rollout", "status", "test1Service", "--timeout", "1s"])
        .assert_failure(2, "--watch");
}

#[test]
fn delete_says_the_form_it_expects() {
    let tug = Tug::new();
    tug.run(&["delete", "app"]).assert_failure(
        1,
        "to delete the stack `app`, run `tug delete stack app` (or `tug delete -f FILE`",
    );
    let run = tug.run(&["delete", "app"]);
    assert!(!run.stderr.contains("--store"), "{}", run.stderr);
    tug.run(&["delete", "stack"])
        .assert_failure(1, "name the stacks to delete: `tug delete stack NAME...`");
    tug.run(&["delete", "stak", "app"])
        .assert_failure(1, "did you mean `stack`?");
}

/// First contact with the store: a store that does not exist yet is named, a path without a
/// scheme is answered with the exact form to use, a file where the store's directory should be
/// says so; none of them changes anything.
#[test]
fn store_mistakes_are_named_with_the_form_that_works() {
    let tug = Tug::new();
    let missing = format!("file://{}", tug.scratch.join("nothing").display());
    let get = tug.run(&["get", "stacks", "--store", &missing]);
    assert_eq!(get.code, 0, "{}", get.stderr);
    assert_eq!(
        get.stdout,
        format!("No stacks: no store at {missing} (nothing applied yet).\n")
    );
    tug.run(&["describe", "web", "--store", &missing])
        .assert_failure(
            1,
            &format!("service `web` not found: no store at {missing}"),
        );
    assert!(
        !tug.scratch.join("nothing").exists(),
        "reading made no store"
    );

    let bare = tug.scratch.join("state").display().to_string();
    tug.run(&["get", "stacks", "--store", &bare])
        .assert_failure(
            2,
            &format!("`{bare}` has no scheme: for the directory, use file://{bare}"),
        );
    tug.run(&["get", "stacks", "--store", "tugboat"])
        .assert_failure(
            2,
            "use file://./tugboat; for a DynamoDB table, dynamodb://tugboat",
        );

    let file = tug.write("not-a-directory", "x");
    tug.run(&[
        "apply",
        "-f",
        "manifests/app.yaml",
        "--store",
        &format!("file://{file}"),
    ])
    .assert_failure(2, "is a file; a file store is a directory (file://DIR)");
    assert_eq!(std::fs::read_to_string(&file).expect("kept"), "x");
}

/// `tug controller` with no AWS account: one paragraph that says what is missing and how to fix
/// it, points to `--cloud sim`, and dumps no Rust `Debug` structure.
#[test]
fn the_controller_without_an_account_says_what_is_missing_in_one_paragraph() {
    let tug = Tug::new();
    assert_eq!(tug.run(&["apply", "-f", "manifests/app.yaml"]).code, 0);
    let output = tug
        .command()
        .args(["controller", "--listen", "127.0.0.1:0"])
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_ENDPOINT_URL")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", tug.scratch.join("no-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            tug.scratch.join("no-credentials"),
        )
        .output()
        .expect("tug runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let error: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error.len(), 1, "one paragraph: {stderr}");
    for words in [
        "no AWS region",
        "AWS_REGION",
        "`tug controller --cloud sim`",
    ] {
        assert!(error[0].contains(words), "{words}: {stderr}");
    }
    assert!(
        !stderr.contains(" { ") && !stderr.contains("Some("),
        "a Debug dump: {stderr}"
    );
}

/// `scripts/tour` runs the tug it is given (or the one cargo built), stops at the first step that
/// does not exit as expected, and leaves its outputs where it says.
#[test]
fn the_tour_checks_every_step_and_keeps_its_outputs() {
    let tug = Tug::new();
    let dir = tug.scratch.join("tour");
    let run = |bin: &str| {
        std::process::Command::new("bash")
            .arg("scripts/tour")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("TUG_BIN", bin)
            .env("TUG_TOUR_DIR", &dir)
            .output()
            .expect("the tour runs")
    };
    let good = run(env!("CARGO_BIN_EXE_tug"));
    let stdout = String::from_utf8_lossy(&good.stdout);
    assert!(
        good.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&good.stderr)
    );
    assert!(stdout.contains(&format!("Its outputs are in {}", dir.display())));
    for file in ["store/stacks.json", "timeline.csv", "step.svg"] {
        assert!(dir.join(file).is_file(), "{file} kept");
    }
    // A tug whose every step fails: the tour stops at the first.
    let failing = tug.write("failing-tug", "#!/bin/sh\nexit 3\n");
    std::process::Command::new("chmod")
        .args(["+x", &failing])
        .status()
        .expect("chmod");
    let bad = run(&failing);
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("validate -f manifests/` exited 3, expected 0; stopping here"),
        "{stderr}"
    );
}

/// `tug events`: the decisions across services, oldest first with the newest last, filtered by
/// stack or service; an unknown one is named.
#[test]
fn events_list_the_decisions_across_services_newest_last() {
    let tug = Tug::new();
    let none = tug.run(&["events"]);
    assert_eq!(none.code, 0);
    assert!(
        none.stdout.starts_with("No decisions yet"),
        "{}",
        none.stdout
    );
    assert_eq!(tug.run(&["apply", "-f", "manifests/"]).code, 0);
    let once = tug.controller_once();
    assert_eq!(once.code, 0, "{}", once.stderr);
    let all = tug.run(&["events"]);
    assert_eq!(all.code, 0, "{}", all.stderr);
    let lines: Vec<&str> = all.stdout.lines().collect();
    assert!(
        lines[0].starts_with("AGE") && lines[0].contains("SERVICE") && lines[0].contains("REASON")
    );
    for service in ["appService", "test1Service", "todoMain", "todoFiles"] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(service) && l.contains("Create")),
            "{service}: {}",
            all.stdout
        );
    }
    let todo = tug.run(&["events", "--stack", "todo"]);
    assert!(
        todo.stdout.lines().skip(1).all(|l| l.contains(" todo ")),
        "{}",
        todo.stdout
    );
    let json = tug.run(&[
        "events",
        "--service",
        "test1Cluster/test1Service",
        "-o",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    let items = v["items"].as_array().expect("items");
    assert!(!items.is_empty() && items.iter().all(|e| e["service"] == "test1Service"));
    let at: Vec<u64> = items.iter().filter_map(|e| e["at"].as_u64()).collect();
    assert!(at.windows(2).all(|w| w[0] <= w[1]), "newest last: {at:?}");
    tug.run(&["events", "--service", "nope"])
        .assert_failure(1, "service `nope` is not in any stack of the store");
    tug.run(&["events", "--stack", "nope"])
        .assert_failure(1, "stack `nope` is not in the store");
}

/// `tug apply -m` records why, as the stacks' change cause; `tug rollout history` shows it per
/// revision with the image each was registered from, and whole words for its status. An apply
/// that changes nothing keeps the cause of the last change.
#[test]
fn rollout_history_shows_each_revisions_image_and_change_cause() {
    let tug = Tug::new();
    let once = |tug: &Tug| {
        let run = tug.controller_once();
        assert_eq!(run.code, 0, "{}", run.stderr);
    };
    assert_eq!(
        tug.run(&[
            "apply",
            "-f",
            "manifests/fargate-test1.yaml",
            "-m",
            "first release"
        ])
        .code,
        0
    );
    once(&tug);
    let text = std::fs::read_to_string("manifests/fargate-test1.yaml")
        .expect("manifest")
        .replace("test1:1.0.0", "test1:1.1.0");
    let path = tug.write("f2.yaml", &text);
    assert_eq!(
        tug.run(&["apply", "-f", &path, "-m", "bump to 1.1.0"]).code,
        0
    );
    let again = tug.run(&["apply", "-f", &path, "-m", "nothing new"]);
    assert_eq!(again.stdout, "stack/fargate-test1 unchanged\n");
    once(&tug);
    let history = tug.run(&["rollout", "history", "test1Service"]);
    assert_eq!(history.code, 0, "{}", history.stderr);
    let lines: Vec<&str> = history.stdout.lines().collect();
    for column in ["REVISION", "IMAGE", "STATUS", "CHANGE-CAUSE"] {
        assert!(lines[0].contains(column), "{}", history.stdout);
    }
    assert!(
        lines[1].contains("test1:1.0.0") && lines[1].ends_with("first release"),
        "{}",
        history.stdout
    );
    assert!(
        lines[2].contains("test1:1.1.0")
            && lines[2].contains("current")
            && lines[2].ends_with("bump to 1.1.0"),
        "{}",
        history.stdout
    );
    assert!(!history.stdout.contains("nothing new"));
}

/// `tug get stacks --watch` prints the table, then again when the store changes, until stopped.
#[test]
fn get_watch_prints_again_when_the_store_changes() {
    use std::io::{BufRead, BufReader};
    let tug = Tug::new();
    assert_eq!(tug.run(&["apply", "-f", "manifests/app.yaml"]).code, 0);
    let mut child = tug
        .command()
        .args(["get", "stacks", "--watch", "-o", "name"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("tug starts");
    let (sender, lines) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let next = || lines.recv_timeout(std::time::Duration::from_secs(20));
    assert_eq!(next().as_deref(), Ok("stack/app"));
    assert_eq!(tug.run(&["apply", "-f", "manifests/todo.yaml"]).code, 0);
    // Printed again, whole: both stacks.
    assert_eq!(next().as_deref(), Ok("stack/app"));
    assert_eq!(next().as_deref(), Ok("stack/todo"));
    child.kill().expect("stopped");
    let _ = child.wait();
}

/// A stack with `capacity` whose tasks need one more instance than the simulated group has: one
/// round of the controller scales the group out. `tug get capacity` lists it, `tug describe
/// stack` shows the group, and `tug events` lists the group's decision beside the service's hold.
#[test]
fn capacity_is_listed_described_and_its_decisions_are_events() {
    let tug = Tug::new();
    let app = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/manifests/app.yaml"))
        .expect("example");
    let three = app.replace("desiredCount: 2", "desiredCount: 3");
    assert_ne!(three, app);
    let path = tug.scratch.join("app.yaml");
    std::fs::write(&path, three).expect("written");
    let path = path.to_str().expect("UTF-8 path");
    let before = tug.run(&["get", "capacity"]);
    assert_eq!(before.code, 0, "{}", before.stderr);
    assert_eq!(tug.run(&["apply", "-f", path]).code, 0);
    let unseen = tug.run(&["get", "capacity"]);
    assert!(
        unseen
            .stdout
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains(" - ")),
        "not observed yet: {}",
        unseen.stdout
    );
    let once = tug.controller_once();
    assert_eq!(once.code, 0, "{}", once.stderr);
    let table = tug.run(&["get", "capacity"]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    let row: Vec<&str> = table
        .stdout
        .lines()
        .nth(1)
        .expect("a row")
        .split_whitespace()
        .collect();
    assert_eq!(
        &row[..3],
        ["appCluster", "appAutoScalingGroup", "3"],
        "{}",
        table.stdout
    );
    let json = tug.run(&[
        "get",
        "capacity",
        "-o",
        "jsonpath={.items[*].status.needed}",
    ]);
    assert_eq!(json.stdout.trim(), "3", "{}", json.stdout);
    tug.run(&["get", "capacity", "nope"])
        .assert_failure(1, "no stack or cluster `nope` with `capacity`");
    let described = tug.run(&["describe", "stack", "app"]);
    assert!(
        described
            .stdout
            .contains("Capacity:\n  appAutoScalingGroup (0..10 instances, 0 spare): 3 desired"),
        "{}",
        described.stdout
    );
    let events = tug.run(&["events", "--stack", "app"]);
    assert!(
        events
            .stdout
            .lines()
            .any(|l| l.contains("group/appAutoScalingGroup") && l.contains("+1 instance (2 -> 3)")),
        "{}",
        events.stdout
    );
    assert!(
        events
            .stdout
            .lines()
            .any(|l| l.contains("appService") && l.contains("wait")),
        "{}",
        events.stdout
    );
}
