//! `tug simulate` end to end: deterministic for a seed, documented outputs, clear refusals.

mod support;

use support::Tug;

const STACK: &str = "manifests/fargate-test1.yaml";
const STEP: &str = "tests/traces/step.csv";

fn simulate(tug: &Tug, seed: &str, out: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec![
        "simulate", "-f", STACK, "--load", STEP, "--seed", seed, "--out", out, "-o", "json",
    ];
    args.extend_from_slice(extra);
    let run = tug.run(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    (run.stdout, std::fs::read_to_string(out).expect("timeline"))
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let tug = Tug::new();
    let a = tug.scratch.join("a.csv").to_string_lossy().into_owned();
    let b = tug.scratch.join("b.csv").to_string_lossy().into_owned();
    let c = tug.scratch.join("c.csv").to_string_lossy().into_owned();
    let first = simulate(&tug, "5", &a, &[]);
    let second = simulate(&tug, "5", &b, &[]);
    assert!(first == second, "two runs with seed 5 differ");
    let other = simulate(&tug, "6", &c, &[]);
    assert_ne!(first.1, other.1, "seed 6 gave seed 5's timeline");
}

#[test]
fn the_step_trace_scales_the_baseline_out_to_its_maximum() {
    let tug = Tug::new();
    let out = tug.scratch.join("t.csv").to_string_lossy().into_owned();
    let (summary, timeline) = simulate(&tug, "1", &out, &[]);
    let lines: Vec<&str> = timeline.lines().collect();
    assert_eq!(
        lines[0],
        "t_seconds,service,desired,running,pending,healthy,cpu_percent,rps,http_5xx"
    );
    assert_eq!(lines.len(), 1 + 10_800, "one row per second for 3 hours");
    let summary: serde_json::Value = serde_json::from_str(&summary).expect("json");
    let service = &summary["services"]["test1Service"];
    assert_eq!(service["max_tasks"], 4, "{summary}");
    assert!(
        service["seconds_overloaded"]
            .as_u64()
            .is_some_and(|s| s > 0),
        "{summary}"
    );
    assert!(
        service["task_seconds"]
            .as_u64()
            .is_some_and(|s| s > 2 * 10_800),
        "{summary}"
    );
    for field in [
        "http_5xx_total",
        "min_healthy_during_rollouts",
        "rollout_seconds",
    ] {
        assert!(service.get(field).is_some(), "{field} missing: {summary}");
    }
    // The limits, on the same load: the 65 s before a first task can be healthy are unavoidable
    // (the step never exceeds what 4 tasks serve); the reactive limit overloads less than the
    // baseline and no less than the unavoidable part.
    let seconds = |field: &str| service[field].as_u64().expect(field);
    assert_eq!(seconds("unavoidable_seconds_overloaded"), 65, "{summary}");
    let limit = seconds("reactive_limit_seconds_overloaded");
    assert!(
        limit > 65 && limit < seconds("seconds_overloaded"),
        "{summary}"
    );
    assert_eq!(summary["api_calls"]["CreateService"]["ok"], 1);
    assert_eq!(summary["throttled_calls"], 0);
    // Scale-out steps never exceed maxTasks and never drop below minTasks.
    for line in &lines[1..] {
        let desired: u32 = line
            .split(',')
            .nth(2)
            .and_then(|d| d.parse().ok())
            .expect("desired");
        assert!((2..=4).contains(&desired), "{line}");
    }
}

#[test]
fn a_bad_deploy_is_rolled_back_by_the_circuit_breaker() {
    let tug = Tug::new();
    let out = tug.scratch.join("t.csv").to_string_lossy().into_owned();
    let (summary, _) = simulate(
        &tug,
        "1",
        &out,
        &["--world", "manifests/worlds/bad-deploy.yaml"],
    );
    let summary: serde_json::Value = serde_json::from_str(&summary).expect("json");
    assert_eq!(summary["failed_tasks"], 3, "{summary}");
    let service = &summary["services"]["test1Service"];
    assert!(
        service["rollout_seconds"].as_u64().is_some_and(|s| s > 0),
        "{summary}"
    );
    // minimumHealthyPercent 50 of 2 tasks: at least 1 healthy throughout the rollout.
    assert!(
        service["min_healthy_during_rollouts"]
            .as_u64()
            .is_some_and(|m| m >= 1),
        "{summary}"
    );
    assert_eq!(summary["api_calls"]["UpdateService"]["ok"], 1);
}

#[test]
fn the_default_world_file_parses_to_the_defaults() {
    let text = std::fs::read_to_string("manifests/worlds/default.yaml").expect("world");
    let world = tugboat::cloud::sim::world::World::parse(&text).expect("valid world");
    assert_eq!(world, tugboat::cloud::sim::world::World::default());
}

#[test]
fn bad_inputs_are_refused_with_a_location() {
    let tug = Tug::new();
    let trace = tug.write("bad.csv", "t_seconds,rps\n0,10\n5,x\n");
    tug.run(&["simulate", "-f", STACK, "--load", &trace])
        .assert_failure(1, "bad.csv: line 3: rps `x`");
    let world = tug.write(
        "w.yaml",
        "apiVersion: tugboat/v1\nkind: World\nspec:\n  taks: {}\n",
    );
    tug.run(&["simulate", "-f", STACK, "--load", STEP, "--world", &world])
        .assert_failure(1, "w.yaml:4:3");
    tug.run(&["simulate", "-f", STACK, "--load", "/nonexistent.csv"])
        .assert_failure(1, "/nonexistent.csv: cannot read");
    tug.run(&[
        "simulate",
        "-f",
        STACK,
        "--load",
        STEP,
        "--duration",
        "soon",
    ])
    .assert_failure(2, "--duration");
}

/// Target tracking (hello-world, 70 %): scales out proportionally on 3 of 3 datapoints above the
/// target, up to maxTasks, and scales in one task at a time after 15 of 15 below 90 % of it.
#[test]
fn target_tracking_scales_out_on_three_and_in_on_fifteen_datapoints() {
    let tug = Tug::new();
    let run = tug.run(&[
        "simulate",
        "-f",
        "manifests/hello-world.yaml",
        "--load",
        "tests/traces/spike.csv",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let summary: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    let actions = summary["actions"].as_array().expect("actions");
    let outs: Vec<&serde_json::Value> = actions
        .iter()
        .filter(|a| a["to"].as_u64() > a["from"].as_u64())
        .collect();
    let ins: Vec<&serde_json::Value> = actions
        .iter()
        .filter(|a| a["to"].as_u64() < a["from"].as_u64())
        .collect();
    assert!(!outs.is_empty() && !ins.is_empty(), "{actions:?}");
    assert!(
        outs.iter()
            .all(|a| a["reason"].as_str().is_some_and(|r| r.contains("3 of 3"))),
        "{actions:?}"
    );
    assert!(
        ins.iter()
            .all(|a| a["reason"].as_str().is_some_and(|r| r.contains("15 of 15"))),
        "{actions:?}"
    );
    assert!(ins.iter().all(|a| {
        a["from"]
            .as_u64()
            .zip(a["to"].as_u64())
            .is_some_and(|(f, t)| f - t == 1)
    }));
    assert_eq!(
        summary["services"]["helloWorldService"]["max_tasks"], 3,
        "capped at maxTasks"
    );
    // The spike starts at 3600 s; no scale-out can come before its third datapoint is published.
    let first_after_spike = outs
        .iter()
        .filter_map(|a| a["t_seconds"].as_u64())
        .find(|t| *t > 3600);
    assert!(
        first_after_spike.is_some_and(|t| t >= 3600 + 3 * 60 + 120),
        "{actions:?}"
    );
}

/// `--scaler aas-hr`: target tracking on the 20-second CPU metric acts on three 20-second
/// datapoints plus their shorter delay: about 80 s after the step where the 1-minute alarms take
/// over five minutes (AWS's benchmark: 86 s against 363 s).
#[test]
fn high_resolution_target_tracking_reacts_within_a_minute_and_a_half() {
    let tug = Tug::new();
    let first_out = |scaler: &str| {
        let run = tug.run(&[
            "simulate", "-f", STACK, "--load", STEP, "--scaler", scaler, "-o", "json",
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let summary: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
        let action = summary["actions"]
            .as_array()
            .and_then(|a| a.first())
            .cloned()
            .unwrap_or_default();
        (
            action["t_seconds"].as_u64().unwrap_or(0),
            action["reason"].to_string(),
        )
    };
    // The step is at 1800 s.
    let (hr, reason) = first_out("aas-hr");
    assert!((1800 + 60..=1800 + 100).contains(&hr), "{hr}: {reason}");
    assert!(reason.contains("target tracking (20 s)"), "{reason}");
    let (minute, _) = first_out("aas");
    assert!(minute >= 1800 + 5 * 60, "{minute}");
}

/// `tug demo` shows, with reasons, a scale-out, a scale-in, a verified rolling deploy and a rollback.
#[test]
fn the_demo_tells_the_whole_story() {
    let tug = Tug::new();
    let run = tug.run(&["demo", "--speed", "0"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for expected in [
        "ScaleOut: 2 -> 3: CPU 83% above 70% in the newest minute: CPU 83% on 2 serving tasks needs 3 at 60%",
        "ScaleIn:",
        "RolloutVerified: appTaskDefinition:2",
        "Rollback: rolling test1TaskDefinition:2 back to verified-good test1TaskDefinition:1",
        "not retried until the manifest changes",
        "Done after 1:40:00 of simulated time",
    ] {
        assert!(
            run.stdout.contains(expected),
            "{expected:?} missing:\n{}",
            run.stdout
        );
    }
    assert!(
        !run.stdout.contains('\x1b'),
        "no terminal escapes when not on a terminal"
    );
}

/// Ctrl-C stops the demo early and cleanly.
#[test]
fn the_demo_stops_cleanly_on_ctrl_c() {
    let tug = Tug::new();
    let child = tug
        .command()
        .args(["demo", "--speed", "1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("demo starts");
    std::thread::sleep(std::time::Duration::from_millis(800));
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let output = child.wait_with_output().expect("demo ends");
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("Stopped after"), "{stdout}");
}

/// The text of every `<text>` element of an SVG file, which must parse as XML.
fn svg_texts(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("the plot was written");
    let doc = roxmltree::Document::parse(&text).expect("the plot is well-formed SVG");
    assert!(doc.root_element().has_tag_name("svg"));
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_owned())
        .collect()
}

#[test]
fn compare_prints_every_scaler_against_the_limit_and_plots_them_together() {
    let tug = Tug::new();
    let svg = tug.scratch.join("compare.svg");
    let svg_arg = svg.to_string_lossy().into_owned();
    let run = tug.run(&[
        "simulate",
        "-f",
        STACK,
        "--load",
        STEP,
        "--compare",
        "tug,aas",
        "--plot",
        &svg_arg,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let header = run.stdout.lines().nth(1).unwrap_or_default();
    for column in [
        "SCALER",
        "AVOIDABLE-S",
        "VS-LIMIT",
        "VS-LIMIT-20S",
        "VS-AAS",
        "TASK-S-VS-AAS",
    ] {
        assert!(header.contains(column), "no {column}: {}", run.stdout);
    }
    for scaler in ["tug", "aas", "limit", "limit-20s"] {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with(&format!("test1Service  {scaler} "))),
            "no row for {scaler}:\n{}",
            run.stdout
        );
    }
    // The reference's ratio to itself is 1, and so is the limit's to itself.
    let aas = run
        .stdout
        .lines()
        .find(|l| l.starts_with("test1Service  aas "))
        .unwrap_or_default();
    let cells: Vec<&str> = aas.split_whitespace().collect();
    assert_eq!(cells.get(6), Some(&"1.00"), "{aas}");
    let texts = svg_texts(&svg);
    for series in [
        "offered rps",
        "healthy capacity rps (tug)",
        "healthy capacity rps (aas)",
        "healthy tasks (tug)",
        "healthy tasks (aas)",
        "scaling decisions (tug)",
        "scaling decisions (aas)",
        "test1Service: offered load and healthy capacity",
        "test1Service: tasks and scaling decisions",
    ] {
        assert!(
            texts.iter().any(|t| t == series),
            "no `{series}` in {texts:?}"
        );
    }
}

#[test]
fn one_run_plots_its_task_counts_and_decisions() {
    let tug = Tug::new();
    let svg = tug.scratch.join("one.svg");
    let svg_arg = svg.to_string_lossy().into_owned();
    let run = tug.run(&[
        "simulate", "-f", STACK, "--load", STEP, "--scaler", "tug", "--plot", &svg_arg,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let texts = svg_texts(&svg);
    for series in [
        "offered rps",
        "healthy capacity rps",
        "desired tasks",
        "running tasks",
        "healthy tasks",
        "scaling decisions",
    ] {
        assert!(
            texts.iter().any(|t| t == series),
            "no `{series}` in {texts:?}"
        );
    }
}

#[test]
fn compare_as_json_holds_every_run_and_refuses_a_timeline() {
    let tug = Tug::new();
    let run = tug.run(&[
        "simulate",
        "-f",
        STACK,
        "--load",
        STEP,
        "--compare",
        "aas,tug,aas",
        "-o",
        "json",
        "--duration",
        "40m",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let value: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    let scalers: Vec<&str> = value["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["scaler"].as_str())
        .collect();
    assert_eq!(scalers, ["aas", "tug"], "in the order asked, once each");
    let out = tug.scratch.join("t.csv").to_string_lossy().into_owned();
    let refused = tug.run(&[
        "simulate",
        "-f",
        STACK,
        "--load",
        STEP,
        "--compare",
        "tug,aas",
        "--out",
        &out,
    ]);
    assert_eq!(refused.code, 2, "{}", refused.stdout);
    assert!(refused.stderr.contains("--out"), "{}", refused.stderr);
}

/// `metricResolutionSeconds: 20`: tugboat creates the service with 20-second CPU, reads it, and
/// scales out on the newest 20-second datapoint, sooner than on 1-minute ones.
#[test]
fn tugboat_on_twenty_second_cpu_scales_out_on_the_newest_datapoint() {
    let tug = Tug::new();
    let text = std::fs::read_to_string(STACK).expect("stack");
    let fine = text.replacen(
        "      scaling:\n",
        "      scaling:\n        metricResolutionSeconds: 20\n",
        1,
    );
    assert_ne!(fine, text, "the example has a scaling section");
    let fine = tug.write("fine.yaml", &fine);
    let first_out = |stack: &str| {
        let run = tug.run(&[
            "simulate", "-f", stack, "--load", STEP, "--scaler", "tug", "-o", "json",
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let summary: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
        let action = summary["actions"]
            .as_array()
            .and_then(|a| a.first())
            .cloned()
            .unwrap_or_default();
        (
            action["t_seconds"].as_u64().unwrap_or(0),
            action["reason"].to_string(),
        )
    };
    let (at, reason) = first_out(&fine);
    assert!(
        reason.contains("in the newest 20-second datapoint"),
        "{reason}"
    );
    let (minute, _) = first_out(STACK);
    assert!(at + 60 <= minute, "20-second: {at}, 1-minute: {minute}");
    assert!(at <= 1800 + 60, "{at}: {reason}");
}

/// Defect: a service without a CPU rule read its 5XX window one minute late (an assumed 180 s
/// publication delay where the world's is 120 s). todo's services scale on the load balancer's
/// 5XX alone: the step at 1800 s fills the minute 1800..1860, readable from 1980, acted on at the
/// next look (at most a resync later), sized to the CPU's demand in one step.
#[test]
fn regression_a_five_xx_rule_reads_the_newest_published_minute() {
    let tug = Tug::new();
    let run = tug.run(&[
        "simulate",
        "-f",
        "manifests/todo.yaml",
        "--load",
        STEP,
        "--scaler",
        "tug",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let summary: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    let first = summary["actions"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["service"] == "todoMain"))
        .cloned()
        .unwrap_or_default();
    let at = first["t_seconds"].as_u64().unwrap_or(0);
    assert!((1980..=1980 + 30).contains(&at), "{first}");
    assert!(
        first["reason"]
            .as_str()
            .is_some_and(|r| r.contains("5XX per minute") && r.contains("at 80%")),
        "{first}"
    );
}
