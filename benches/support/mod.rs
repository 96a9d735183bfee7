//! Timing helpers shared by the benchmarks: run N times, print min / median / max.

#![allow(dead_code)] // each benchmark uses a different subset of these helpers

use std::time::{Duration, Instant};

/// Runs `run` `runs` times; the durations, sorted.
pub fn time_runs(runs: usize, mut run: impl FnMut()) -> Vec<Duration> {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .collect();
    times.sort();
    times
}

/// Prints one line of figures for sorted durations.
pub fn report(what: &str, sorted: &[Duration]) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{what:<48} min {:>8.1} ms  median {:>8.1} ms  max {:>8.1} ms",
        ms(sorted[0]),
        ms(sorted[sorted.len() / 2]),
        ms(sorted[sorted.len() - 1])
    );
}

/// One stack of `services` Fargate services, each with a load balancer, scaling and a health-checked
/// target group: every rule of the validator has work to do.
pub fn generate(services: usize, desired: u32) -> String {
    let mut text = String::from(
        "apiVersion: tugboat/v1\nkind: Stack\nmetadata:\n  name: big\nspec:\n  cluster: bigCluster\n  targetGroups:\n",
    );
    for i in 0..services {
        text.push_str(&format!(
            "    - name: tg-{i}\n      healthCheck: {{path: /health, intervalSeconds: 30, timeoutSeconds: 5}}\n"
        ));
    }
    text.push_str("  services:\n");
    for i in 0..services {
        text.push_str(&format!(
            "    - name: svc-{i}
      launchType: FARGATE
      desiredCount: {desired}
      taskDefinition:
        family: svc-{i}
        cpu: 512
        memory: 1024
        executionRoleArn: arn:aws:iam::123456789012:role/ecsTaskExecutionRole
        containers:
          - name: app
            image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/svc-{i}:1.0.{i}
            memory: 1024
            portMappings: [{{containerPort: 8080}}]
            environment: {{SERVICE: svc-{i}, MODE: prod}}
      network: {{subnets: [subnet-0a1b2c3d, subnet-4e5f6a7b], securityGroups: [sg-0a1b2c3d]}}
      loadBalancers:
        - {{targetGroup: tg-{i}, containerName: app, containerPort: 8080}}
      deployment: {{minimumHealthyPercent: 50, maximumPercent: 200, healthCheckGracePeriodSeconds: 60}}
      scaling:
        minTasks: 2
        maxTasks: 10
        cpu: {{scaleOutAbovePercent: 70, scaleInBelowPercent: 40, evaluationPeriods: 3}}
"
        ));
    }
    text
}

/// A moto server that goes away when dropped (when this benchmark started it).
pub struct Server(Option<std::process::Child>);

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The moto server in `TUG_MOTO_URL`, or one started from `target/moto-venv` (which
/// `scripts/test` installs): its URL.
pub fn moto_server() -> (String, Server) {
    if let Ok(url) = std::env::var("TUG_MOTO_URL") {
        return (url, Server(None));
    }
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/target/moto-venv/bin");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = std::process::Command::new(format!("{venv}/moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("MOTO_ECS_SERVICE_RUNNING", "2")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("moto_server (run scripts/test once to install it under target/moto-venv)");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "moto never started"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    (format!("http://127.0.0.1:{port}"), Server(Some(child)))
}
