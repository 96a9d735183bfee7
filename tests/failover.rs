//! Two `tug controller --cloud aws` processes on one DynamoDB store, against moto: one leads, the
//! other waits as a candidate. The leader is killed with SIGKILL at seeded moments (10 seeds);
//! the candidate takes over, a new process becomes the candidate, and so on. Checked: at every
//! moment only the leader has sent calls that change the account (each process's own count of
//! its mutating calls, from `/metrics`: a candidate's stays 0); every new leader acts (an
//! out-of-band desiredCount is put back); nothing in the store is lost and no revision is
//! registered twice. The time from each kill to the takeover is printed.

mod support;

use std::time::{Duration, Instant};

use support::Tug;
use support::controller::{Controller, eventually};
use support::moto::Moto;

const MANIFEST: &str = r#"
apiVersion: tugboat/v1
kind: Stack
metadata:
  name: failover
spec:
  cluster: CLUSTER
  services:
    - name: web
      launchType: FARGATE
      desiredCount: 2
      taskDefinition:
        family: failover-web
        cpu: 256
        memory: 512
        containers: [{name: web, image: 'web:1', portMappings: [{containerPort: 80}]}]
      network: {subnets: [SUBNET], securityGroups: [GROUP]}
"#;

const KILLS: u64 = 10;

/// Mutating calls this process has sent (any outcome), from its own metrics.
fn mutating_calls(controller: &Controller) -> u64 {
    let (_, body) = support::controller::get(&controller.address, "/metrics");
    body.lines()
        .filter(|l| l.starts_with("tug_aws_requests_total{"))
        .filter(|l| {
            l.split("operation=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .and_then(tugboat::cloud::Operation::from_name)
                .is_some_and(|op| op.is_mutating())
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

#[test]
#[ignore = "needs moto: scripts/test starts it and runs these with --include-ignored"]
fn killing_the_leader_hands_over_within_a_lease_and_two_never_act() {
    let moto = Moto::get();
    let fixtures = moto.fixtures("failover", &[]);
    let cluster = fixtures["cluster"].as_str().expect("cluster").to_owned();
    let manifest = MANIFEST
        .replace("CLUSTER", &cluster)
        .replace("SUBNET", fixtures["subnets"][0].as_str().expect("subnet"))
        .replace("GROUP", fixtures["securityGroup"].as_str().expect("sg"));
    let uri = format!("dynamodb://failover-{}", std::process::id());
    let tug = Tug::on(&uri, moto.env());
    assert_eq!(tug.run(&["store", "init", &uri]).code, 0);
    let file = tug.write("failover.yaml", &manifest);
    let applied = tug.run(&["apply", "-f", &file]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let ecs = aws_sdk_ecs::Client::new(&runtime.block_on(moto.config()));
    let desired = || {
        runtime
            .block_on(
                ecs.describe_services()
                    .cluster(&cluster)
                    .services("web")
                    .send(),
            )
            .ok()
            .and_then(|o| o.services().first().map(|s| s.desired_count()))
    };
    let args = [
        "--cloud",
        "aws",
        "--resync",
        "1s",
        "--listen=127.0.0.1:0",
        "--log-format",
        "json",
    ];
    let env = moto.env();
    let mut leader = Controller::start(&tug, &args, &env);
    assert!(
        eventually(Duration::from_secs(30), || leader.logged("took the lease")),
        "{:?}",
        leader.seen
    );
    let mut candidate = Controller::start(&tug, &args, &env);
    let mut handovers: Vec<Duration> = Vec::new();
    for seed in 1..=KILLS {
        assert!(
            eventually(Duration::from_secs(30), || candidate
                .logged("waiting as a candidate")),
            "{:?}",
            candidate.seen
        );
        // The leader acts: the service exists, and an out-of-band change is put back.
        assert!(
            eventually(Duration::from_secs(60), || desired() == Some(2)),
            "seed {seed}: the leader never made the service: {:?}",
            leader.seen
        );
        runtime
            .block_on(
                ecs.update_service()
                    .cluster(&cluster)
                    .service("web")
                    .desired_count(5)
                    .send(),
            )
            .expect("out-of-band change");
        assert!(
            eventually(Duration::from_secs(30), || desired() == Some(2)),
            "seed {seed}: the leader did not put desiredCount back: {:?}",
            leader.seen
        );
        assert_eq!(
            mutating_calls(&candidate),
            0,
            "seed {seed}: a candidate changed the account"
        );
        // Kill at a seeded moment within the renewal interval.
        std::thread::sleep(Duration::from_millis((seed * 7_919) % 5_000));
        assert_eq!(mutating_calls(&candidate), 0, "seed {seed}");
        let killed = Instant::now();
        leader.kill();
        assert!(
            eventually(Duration::from_secs(40), || candidate
                .logged("took the lease")),
            "seed {seed}: the candidate never took over: {:?}",
            candidate.seen
        );
        handovers.push(killed.elapsed());
        leader = candidate;
        candidate = Controller::start(&tug, &args, &env);
    }
    // The last leader acts too.
    runtime
        .block_on(
            ecs.update_service()
                .cluster(&cluster)
                .service("web")
                .desired_count(5)
                .send(),
        )
        .expect("out-of-band change");
    assert!(eventually(Duration::from_secs(30), || desired() == Some(2)));
    assert_eq!(mutating_calls(&candidate), 0);

    let mut sorted = handovers.clone();
    sorted.sort();
    println!(
        "failover over {KILLS} SIGKILLs of the leader: min {:.1} s, median {:.1} s, max {:.1} s (lease 15 s, candidates read it every 1 s)",
        sorted[0].as_secs_f64(),
        sorted[sorted.len() / 2].as_secs_f64(),
        sorted[sorted.len() - 1].as_secs_f64()
    );
    for (i, h) in handovers.iter().enumerate() {
        // A bound on waiting (lease + a candidate's read + slack for a loaded machine), not a
        // timing target: the figures above are the measurement.
        assert!(
            *h < Duration::from_secs(30),
            "kill {}: took {h:?} to hand over",
            i + 1
        );
    }

    // Nothing lost: the stack, its generation, the memory; one revision ever registered.
    let stacks = tug.run(&["get", "stacks", "-o", "json"]);
    let stacks: serde_json::Value = serde_json::from_str(&stacks.stdout).expect("json");
    assert_eq!(stacks["items"][0]["metadata"]["generation"], 1);
    let described = tug.run(&["describe", "service", "web"]);
    assert_eq!(described.code, 0, "{}", described.stderr);
    assert!(
        described.stdout.contains("failover-web:1"),
        "{}",
        described.stdout
    );
    let revisions = runtime
        .block_on(
            ecs.list_task_definitions()
                .family_prefix("failover-web")
                .send(),
        )
        .expect("list");
    assert_eq!(revisions.task_definition_arns().len(), 1);
    let controllers = tug.run(&["get", "controllers"]);
    assert!(
        controllers
            .stdout
            .contains(&format!("pid {}", leader.child.id())),
        "{}",
        controllers.stdout
    );
    assert_eq!(candidate.terminate(), 0);
    assert_eq!(leader.terminate(), 0);
    let controllers = tug.run(&["get", "controllers"]);
    assert!(
        controllers.stdout.contains("No controller holds the store"),
        "the last leader gave the lease up: {}",
        controllers.stdout
    );
}

/// A loopback TCP proxy to `target` that can be cut: while cut, the connections it had are closed
/// and new ones are accepted and held without an answer (a partition, as the client sees one).
struct Proxy {
    address: String,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Proxy {
    fn start(target: &str) -> Self {
        use std::io::{Read, Write};
        use std::net::{Shutdown, TcpListener, TcpStream};
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy listens");
        let address = format!("http://{}", listener.local_addr().expect("address"));
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let target = target.trim_start_matches("http://").to_owned();
        let flag = cut.clone();
        std::thread::spawn(move || {
            let open: std::sync::Arc<std::sync::Mutex<Vec<TcpStream>>> = Default::default();
            let watcher = (open.clone(), flag.clone());
            std::thread::spawn(move || {
                loop {
                    if watcher.1.load(Ordering::SeqCst) {
                        for stream in watcher.0.lock().expect("lock").drain(..) {
                            let _ = stream.shutdown(Shutdown::Both);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
            let mut held = Vec::new();
            for client in listener.incoming().map_while(Result::ok) {
                if flag.load(Ordering::SeqCst) {
                    held.push(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                for stream in [&client, &server] {
                    if let Ok(copy) = stream.try_clone() {
                        open.lock().expect("lock").push(copy);
                    }
                }
                for (mut from, mut to) in [
                    (
                        client.try_clone().expect("clone"),
                        server.try_clone().expect("clone"),
                    ),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let mut buffer = [0u8; 16 * 1024];
                        while let Ok(n) = from.read(&mut buffer) {
                            if n == 0 || to.write_all(&buffer[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Write);
                    });
                }
            }
        });
        Self { address, cut }
    }

    fn cut(&self, cut: bool) {
        self.cut.store(cut, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The leader's DynamoDB traffic is cut while ECS stays reachable: it stops acting (tug_leader 0,
/// no more mutating calls) before its lease can expire, and only then does the candidate take
/// over. When the partition heals, the old leader stays a candidate.
#[test]
#[ignore = "needs moto: scripts/test starts it and runs these with --include-ignored"]
fn a_leader_cut_off_from_the_store_stops_before_its_lease_expires() {
    let moto = Moto::get();
    let fixtures = moto.fixtures("partition", &[]);
    let cluster = fixtures["cluster"].as_str().expect("cluster").to_owned();
    let manifest = MANIFEST
        .replace("name: failover", "name: partition")
        .replace("failover-web", "partition-web")
        .replace("CLUSTER", &cluster)
        .replace("SUBNET", fixtures["subnets"][0].as_str().expect("subnet"))
        .replace("GROUP", fixtures["securityGroup"].as_str().expect("sg"));
    let uri = format!("dynamodb://partition-{}", std::process::id());
    let tug = Tug::on(&uri, moto.env());
    assert_eq!(tug.run(&["store", "init", &uri]).code, 0);
    let file = tug.write("partition.yaml", &manifest);
    assert_eq!(tug.run(&["apply", "-f", &file]).code, 0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let ecs = aws_sdk_ecs::Client::new(&runtime.block_on(moto.config()));
    let desired = || {
        runtime
            .block_on(
                ecs.describe_services()
                    .cluster(&cluster)
                    .services("web")
                    .send(),
            )
            .ok()
            .and_then(|o| o.services().first().map(|s| s.desired_count()))
    };
    let args = [
        "--cloud",
        "aws",
        "--resync",
        "1s",
        "--listen=127.0.0.1:0",
        "--log-format",
        "json",
    ];
    let proxy = Proxy::start(&moto.url);
    let mut through_proxy = moto.env();
    through_proxy.push(("AWS_ENDPOINT_URL_DYNAMODB", proxy.address.clone()));
    let mut leader = Controller::start(&tug, &args, &through_proxy);
    assert!(
        eventually(Duration::from_secs(30), || leader.logged("took the lease")),
        "{:?}",
        leader.seen
    );
    let mut candidate = Controller::start(&tug, &args, &moto.env());
    assert!(eventually(Duration::from_secs(30), || candidate
        .logged("waiting as a candidate")));
    assert!(
        eventually(Duration::from_secs(60), || desired() == Some(2)),
        "{:?}",
        leader.seen
    );

    proxy.cut(true);
    let cut = Instant::now();
    let mut stepped_down = None;
    let mut took_over = None;
    let done = eventually(Duration::from_secs(60), || {
        if stepped_down.is_none() && leader.metric("tug_leader") == Some(0.0) {
            stepped_down = Some(cut.elapsed());
        }
        if took_over.is_none() && candidate.logged("took the lease") {
            took_over = Some(cut.elapsed());
        }
        stepped_down.is_some() && took_over.is_some()
    });
    assert!(
        done,
        "leader: {:?}\ncandidate: {:?}",
        leader.seen, candidate.seen
    );
    let (stepped_down, took_over) = (
        stepped_down.expect("stepped down"),
        took_over.expect("took over"),
    );
    println!(
        "partition: the leader stopped acting {:.1} s after its store traffic was cut; the candidate took over at {:.1} s",
        stepped_down.as_secs_f64(),
        took_over.as_secs_f64()
    );
    assert!(
        stepped_down < took_over,
        "the old leader must stop before the new one starts"
    );
    assert!(
        leader.logged("could not renew the lease within its deadline"),
        "{:?}",
        leader.seen
    );
    assert_ne!(
        support::controller::get(&leader.address, "/readyz").0,
        200,
        "a deposed leader is not ready"
    );
    // Deposed, it sends nothing that changes the account, although ECS is reachable.
    let before = mutating_calls(&leader);
    runtime
        .block_on(
            ecs.update_service()
                .cluster(&cluster)
                .service("web")
                .desired_count(5)
                .send(),
        )
        .expect("out-of-band change");
    assert!(
        eventually(Duration::from_secs(30), || desired() == Some(2)),
        "the new leader restores the count: {:?}",
        candidate.seen
    );
    assert_eq!(mutating_calls(&leader), before, "the deposed leader acted");
    // Healed: the old leader stays a candidate, the new one keeps the lease.
    proxy.cut(false);
    std::thread::sleep(Duration::from_secs(7));
    assert_eq!(leader.metric("tug_leader"), Some(0.0));
    assert_eq!(candidate.metric("tug_leader"), Some(1.0));
    assert_eq!(mutating_calls(&leader), before);
    leader.kill();
    assert_eq!(candidate.terminate(), 0);
}
