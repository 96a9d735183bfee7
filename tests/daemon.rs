//! `tug controller --cloud sim` as a process: serves its endpoints, exports every metric of
//! design.md §6 with its type, acts on an apply within seconds, logs JSON, and exits 0 on SIGTERM.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::Tug;
use support::controller::{Controller, eventually, get};

/// A simulated controller, quick and logging JSON.
const SIM: [&str; 9] = [
    "--cloud",
    "sim",
    "--resync",
    "2s",
    "--speed",
    "20",
    "--log-format",
    "json",
    "--listen=127.0.0.1:0",
];

#[test]
fn the_daemon_serves_metrics_acts_on_apply_and_stops_cleanly() {
    let tug = Tug::new();
    assert_eq!(tug.run(&["apply", "-f", "manifests/app.yaml"]).code, 0);
    let mut child = tug
        .command()
        .args([
            "controller",
            "--cloud",
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--resync",
            "2s",
            "--speed",
            "20",
            "--log-format",
            "json",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("controller starts");
    let stderr = child.stderr.take().expect("stderr");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut logs: Vec<String> = Vec::new();
    let mut address = None;
    let found = eventually(Duration::from_secs(30), || {
        while let Ok(line) = lines_rx.try_recv() {
            if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
                && let Some(a) = event["fields"]["address"].as_str()
            {
                address = Some(a.to_owned());
            }
            logs.push(line);
        }
        address.is_some()
    });
    assert!(found, "no listening address logged: {logs:?}");
    let address = address.expect("address");

    assert_eq!(get(&address, "/healthz").0, 200);
    // The container health check's command sees the same.
    let url = format!("http://{address}/healthz");
    assert_eq!(tug.run(&["probe", &url]).code, 0);
    assert_eq!(
        tug.run(&["probe", &format!("http://{address}/nothing-here")])
            .code,
        1
    );
    assert!(
        eventually(Duration::from_secs(30), || get(&address, "/readyz").0
            == 200),
        "never ready"
    );

    // The per-service gauges appear once the service exists (after the pass that creates it).
    let mut metrics = String::new();
    let seen = eventually(Duration::from_secs(30), || {
        let (status, body) = get(&address, "/metrics");
        metrics = body;
        status == 200
            && metrics.contains("tug_service_tasks{service=\"appService\",state=\"desired\"} 2")
    });
    assert!(seen, "no service gauge:\n{metrics}");
    for (name, kind) in [
        ("tug_reconcile_total", "counter"),
        ("tug_reconcile_duration_seconds", "histogram"),
        ("tug_drift_corrections_total", "counter"),
        ("tug_scaling_decisions_total", "counter"),
        ("tug_rollouts_total", "counter"),
        ("tug_service_tasks", "gauge"),
        ("tug_aws_requests_total", "counter"),
        ("tug_aws_throttled_total", "counter"),
        ("tug_leader", "gauge"),
    ] {
        assert!(
            metrics.contains(&format!("# TYPE {name} {kind}")),
            "{name} {kind} missing:\n{metrics}"
        );
    }
    for sample in [
        "tug_reconcile_total{result=\"ok\"}",
        "tug_scaling_decisions_total{direction=\"up\",trigger=\"cpu\"}",
        "tug_rollouts_total{outcome=\"rolled_back\"}",
        "tug_aws_requests_total{operation=\"DescribeServices\",outcome=\"ok\",service=\"ecs\"}",
        "tug_service_tasks{service=\"appService\",state=\"desired\"} 2",
        "tug_leader 1",
    ] {
        assert!(metrics.contains(sample), "{sample} missing:\n{metrics}");
    }

    // An apply is acted on: desiredCount 2 -> 3.
    let scaled = std::fs::read_to_string("manifests/app.yaml")
        .expect("app")
        .replace("desiredCount: 2", "desiredCount: 3");
    let path = tug.write("app.yaml", &scaled);
    assert_eq!(tug.run(&["apply", "-f", &path]).code, 0);
    let acted = eventually(Duration::from_secs(30), || {
        get(&address, "/metrics")
            .1
            .contains("tug_service_tasks{service=\"appService\",state=\"desired\"} 3")
    });
    assert!(acted, "the apply was not acted on");

    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let mut status = None;
    assert!(
        eventually(Duration::from_secs(30), || {
            status = child.try_wait().expect("wait");
            status.is_some()
        }),
        "did not stop on SIGTERM"
    );
    assert_eq!(status.and_then(|s| s.code()), Some(0));
    while let Ok(line) = lines_rx.recv_timeout(Duration::from_secs(2)) {
        logs.push(line);
    }
    for line in &logs {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not JSON: {line}"
        );
    }
    assert!(
        logs.iter()
            .any(|l| l.contains("controller stopped cleanly")),
        "{logs:?}"
    );
    assert!(
        logs.iter()
            .any(|l| l.contains("\"decision\"") && l.contains("Create")),
        "{logs:?}"
    );
    assert!(tug.store.join("memory/app/appService.json").exists());
}

/// `--cloud aws` (the default) checks the account before it starts, and says what to fix.
#[test]
fn the_aws_controller_refuses_to_start_when_the_account_is_not_ready() {
    let tug = Tug::new();
    let no_profile = tug.write("empty-config", "");
    let run = |env: &[(&str, &str)]| {
        let mut command = tug.command();
        command
            .args(["controller", "--once", "--listen", "127.0.0.1:0"])
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .env("AWS_CONFIG_FILE", &no_profile)
            .env("AWS_SHARED_CREDENTIALS_FILE", &no_profile)
            .env("AWS_EC2_METADATA_DISABLED", "true");
        for (k, v) in env {
            command.env(k, v);
        }
        let output = command.output().expect("tug runs");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, stderr) = run(&[("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "b")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no AWS region: set AWS_REGION"), "{stderr}");

    // A region and credentials, but nothing answering: the preflight says so, the controller starts
    // anyway (waiting can fix it), and the round ends with the service's calls failing (exit 1).
    assert_eq!(
        tug.run(&["apply", "-f", "manifests/fargate-test1.yaml"])
            .code,
        0
    );
    let (code, stderr) = run(&[
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "a"),
        ("AWS_SECRET_ACCESS_KEY", "b"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("AWS_MAX_ATTEMPTS", "1"),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("preflight: AWS did not answer")
            && stderr.contains("DescribeClusters")
            && stderr.contains("the calls of 1 service failed: test1Cluster/test1Service"),
        "{stderr}"
    );
}

#[test]
fn describe_and_rollout_read_the_controllers_memory() {
    let tug = Tug::new();
    assert_eq!(tug.run(&["apply", "-f", "manifests/app.yaml"]).code, 0);
    let before = tug.run(&["describe", "service", "appService"]);
    assert_eq!(before.code, 0, "{}", before.stderr);
    assert!(
        before.stdout.contains("the controller has not acted yet"),
        "{}",
        before.stdout
    );
    assert_eq!(tug.run(&["rollout", "status", "appService"]).code, 3);

    let once = tug.controller_once();
    assert_eq!(once.code, 0, "{}", once.stderr);
    let described = tug.run(&["describe", "service", "appService"]);
    assert_eq!(described.code, 0);
    for expected in [
        "Stack:           app (generation 1, observed generation 1)",
        "Live:            2 desired, 0 running",
        "Ready        False   RollingOut",
        "Progressing  True    RollingOut",
        "Degraded     False   AsExpected",
        "Create",
        "creating it with appTaskDefinition:1 and 2 tasks",
        "Rollout:         rolling out to appTaskDefinition:1 since 20",
    ] {
        assert!(
            described.stdout.contains(expected),
            "{expected:?} missing:\n{}",
            described.stdout
        );
    }
    let status = tug.run(&["rollout", "status", "appService"]);
    assert_eq!(status.code, 3, "just created: not verified yet");
    assert!(
        status
            .stdout
            .contains("rollout in progress: rolling out appTaskDefinition:1"),
        "{}",
        status.stdout
    );
    let history = tug.run(&["rollout", "history", "appCluster/appService"]);
    assert!(
        history.stdout.contains("appTaskDefinition:1")
            && history.stdout.contains("rolling out, current"),
        "{}",
        history.stdout
    );

    let services = tug.run(&["get", "services", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_str(&services.stdout).expect("json");
    assert_eq!(list["items"][0]["state"], "Progressing");
    assert_eq!(list["items"][0]["controllerDesiredCount"], 2);

    tug.run(&["describe", "service", "nope"])
        .assert_failure(1, "service `nope` is not in any stack of the store");
    tug.run(&["describe", "pod", "appService"])
        .assert_failure(1, "the type is `service` or `stack`");
    tug.run(&["rollout", "status", "nope"])
        .assert_failure(1, "not in any stack");
}

/// An endpoint that accepts connections and never answers: the daemon still serves `/healthz`,
/// reports its calls as failing (timeouts), and exits within 25 s of SIGTERM, abandoning the call
/// that hangs once the drain is over.
#[test]
fn a_hung_endpoint_never_blocks_healthz_or_shutdown() {
    let hung = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let endpoint = format!("http://{}", hung.local_addr().expect("address"));
    // Accept every connection and hold it open, answering nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in hung.incoming().flatten() {
            held.push(stream);
        }
    });
    let tug = Tug::new();
    assert_eq!(
        tug.run(&["apply", "-f", "manifests/fargate-test1.yaml"])
            .code,
        0
    );
    let mut child = tug
        .command()
        .args([
            "controller",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ])
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "a")
        .env("AWS_SECRET_ACCESS_KEY", "b")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // One attempt per call, so each hung call gives up after the SDK's 10 s attempt timeout.
        .env("AWS_MAX_ATTEMPTS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("controller starts");
    let stderr = child.stderr.take().expect("stderr");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut address = None;
    assert!(eventually(Duration::from_secs(10), || {
        while let Ok(line) = lines_rx.try_recv() {
            if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
                && let Some(a) = event["fields"]["address"].as_str()
            {
                address = Some(a.to_owned());
            }
        }
        address.is_some()
    }));
    let address = address.expect("address");
    assert_eq!(
        get(&address, "/healthz").0,
        200,
        "while the preflight hangs"
    );
    let failing = eventually(Duration::from_secs(60), || {
        let metrics = get(&address, "/metrics").1;
        metrics
            .lines()
            .filter(|l| {
                l.starts_with("tug_aws_requests_total") && l.contains("outcome=\"timeout\"")
            })
            .any(|l| !l.ends_with(" 0"))
            && metrics.contains("tug_reconcile_total{result=\"error\"} ")
            && !metrics.contains("tug_reconcile_total{result=\"error\"} 0")
    });
    assert!(
        failing,
        "calls never reported failing:\n{}",
        get(&address, "/metrics").1
    );
    assert_eq!(get(&address, "/healthz").0, 200, "while calls hang");

    let stop = Instant::now();
    let pid = child.id().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    let mut status = None;
    assert!(
        eventually(Duration::from_secs(40), || {
            status = child.try_wait().ok().flatten();
            status.is_some()
        }),
        "did not stop"
    );
    let took = stop.elapsed();
    assert_eq!(status.and_then(|s| s.code()), Some(0));
    assert!(took < Duration::from_secs(25), "stopped after {took:?}");
}

/// `tug controller --cloud sim` keeps its simulated account beside the store: started again, it
/// resumes that account (the services are there; nothing is created or registered again).
#[test]
fn the_simulated_account_survives_a_restart_of_the_controller() {
    let tug = Tug::new();
    assert_eq!(tug.run(&["apply", "-f", "manifests/todo.yaml"]).code, 0);
    let once = || tug.controller_once();
    let first = once();
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first.stderr.contains("a new simulated AWS account"),
        "{}",
        first.stderr
    );
    assert!(first.stderr.contains("kind=Create"), "{}", first.stderr);
    assert!(tug.store.join("simulated-aws.json").exists());
    let second = once();
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(
        second
            .stderr
            .contains("resuming the simulated AWS account saved beside the store"),
        "{}",
        second.stderr
    );
    assert!(
        !second.stderr.contains("kind=Create") && !second.stderr.contains("kind=Register"),
        "{}",
        second.stderr
    );
}

/// Two controllers on one file store: the second waits as a candidate (acting on nothing, not
/// ready, `tug_leader` 0) and takes over when the first exits.
#[test]
fn a_second_controller_on_a_store_waits_as_a_candidate_and_takes_over() {
    let tug = Tug::new();
    assert_eq!(tug.run(&["apply", "-f", "manifests/app.yaml"]).code, 0);
    let mut first = Controller::start(&tug, &SIM, &[]);
    assert!(
        eventually(Duration::from_secs(30), || get(&first.address, "/readyz").0
            == 200),
        "the first controller never became ready: {:?}",
        first.seen
    );
    assert_eq!(first.metric("tug_leader"), Some(1.0));
    let mut second = Controller::start(&tug, &SIM, &[]);
    assert!(
        eventually(Duration::from_secs(10), || second
            .logged("waiting as a candidate")),
        "{:?}",
        second.seen
    );
    assert_eq!(second.metric("tug_leader"), Some(0.0));
    assert_ne!(get(&second.address, "/readyz").0, 200);
    assert!(
        !second.logged("kind="),
        "a candidate decided something: {:?}",
        second.seen
    );
    assert!(first.logged("holding the store's controller lock"));
    // A one-off round does not wait for the running controller: it says who to look for.
    tug.controller_once()
        .assert_failure(2, "another controller holds the store's lease");
    assert_eq!(first.terminate(), 0);
    assert!(
        eventually(Duration::from_secs(15), || second.metric("tug_leader")
            == Some(1.0)),
        "the candidate never took over: {:?}",
        second.seen
    );
    assert!(
        eventually(Duration::from_secs(30), || get(&second.address, "/readyz")
            .0
            == 200),
        "the new leader never became ready: {:?}",
        second.seen
    );
    assert!(
        second.logged("resuming the simulated AWS account"),
        "{:?}",
        second.seen
    );
    assert_eq!(second.terminate(), 0);
}
