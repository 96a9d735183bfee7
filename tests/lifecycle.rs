//! The daemon's passes against the simulated AWS, in process and in virtual time, with the file
//! store: status written back (conditions, observed generation), services taken down when their
//! stack is deleted or they leave a pruned stack, and `tug rollout undo` putting an earlier
//! revision back. Each pass is a fresh daemon run (`--once`), so everything the next pass needs
//! must come from the store: a restart at every pass.

mod support;

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::watch;
use tugboat::cloud::sim::Sim;
use tugboat::cloud::sim::load::LoadTrace;
use tugboat::cloud::sim::world::{FailingImage, Failure, World};
use tugboat::cloud::{Clock, Layered, SimCloud};
use tugboat::controller::daemon::{Daemon, DaemonConfig, Readiness};
use tugboat::controller::layers;
use tugboat::controller::metrics::Metrics;
use tugboat::controller::observe::{Watch, observe};
use tugboat::manifest::{Source, parse_sources};
use tugboat::model::aws::ServiceDescription;
use tugboat::model::{ConditionType, Stack, StackStatus};
use tugboat::plan::DesiredService;
use tugboat::store::{FileStore, Store};

const BAD_IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/test1:bad";

/// A store in a temporary directory and a simulated account, on a paused (virtual) clock.
struct Harness {
    _dir: tempfile::TempDir,
    store: FileStore,
    sim: SimCloud,
    runtime: tokio::runtime::Runtime,
}

impl Harness {
    fn new(world: World) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::new(dir.path().to_path_buf());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        let sim = {
            let _guard = runtime.enter();
            SimCloud::new(
                Sim::new(world, LoadTrace::constant(50.0), 1),
                Clock::scaled(0, 1.0),
                0,
            )
        };
        Self {
            _dir: dir,
            store,
            sim,
            runtime,
        }
    }

    fn apply(&self, yaml: &str) -> Vec<Stack> {
        let stacks = parse_sources(&[Source {
            name: "test.yaml".into(),
            bytes: yaml.as_bytes().to_vec(),
        }])
        .expect("valid manifest");
        self.sim
            .with(|s| tugboat::simulate::provide_infrastructure(s, &stacks));
        self.runtime
            .block_on(
                self.store
                    .apply(stacks.clone(), SystemTime::UNIX_EPOCH, false),
            )
            .expect("applied");
        stacks
    }

    fn delete(&self, name: &str) {
        self.runtime
            .block_on(
                self.store
                    .delete(&[name.to_owned()], SystemTime::UNIX_EPOCH, false),
            )
            .expect("deleted");
    }

    /// One round of a fresh daemon (`--once`: a restart every time), then `seconds` of
    /// simulated time.
    fn pass(&self, seconds: u64) {
        let metrics = Metrics::new().expect("metrics");
        let (_stop, stopped) = watch::channel(false);
        let clock = self.sim.clock().clone();
        let daemon = Daemon {
            store: self.store.clone(),
            cloud: Layered::new(layers(&clock, &metrics), self.sim.clone()),
            clock: clock.clone(),
            metrics,
            readiness: Arc::new(Readiness::default()),
            config: DaemonConfig {
                once: true,
                ..DaemonConfig::default()
            },
        };
        self.runtime.block_on(daemon.run(stopped)).expect("pass");
        self.runtime.block_on(clock.sleep_ms(seconds * 1000));
    }

    /// Passes every 10 simulated seconds until `done` holds; false after `limit_s`.
    fn until(&self, limit_s: u64, mut done: impl FnMut(&Self) -> bool) -> bool {
        for _ in 0..limit_s / 10 {
            self.pass(10);
            if done(self) {
                return true;
            }
        }
        false
    }

    fn service(&self, cluster: &str, name: &str) -> Option<ServiceDescription> {
        self.sim.with(|s| s.peek_service(cluster, name))
    }

    fn status(&self, stack: &str) -> Option<StackStatus> {
        self.runtime
            .block_on(self.store.load_status(stack))
            .expect("status readable")
    }

    fn condition(&self, stack: &str, service: &str, kind: ConditionType) -> Option<(bool, String)> {
        let status = self.status(stack)?;
        let c = status.services.get(service)?.condition(kind)?.clone();
        Some((c.status, c.reason))
    }

    fn removals(&self) -> usize {
        self.runtime
            .block_on(self.store.removals())
            .expect("readable")
            .len()
    }
}

fn manifest(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).expect("manifest")
}

fn with_prune(yaml: &str) -> String {
    yaml.replacen("  cluster: ", "  prune: true\n  cluster: ", 1)
}

#[test]
fn status_reports_ready_once_the_revision_is_verified_and_degraded_after_a_rollback() {
    let mut world = World::default();
    world.images.push(FailingImage {
        image: BAD_IMAGE.into(),
        failure: Failure::NeverRuns,
        after_seconds: None,
        fraction: None,
    });
    let h = Harness::new(world);
    let good = manifest("manifests/fargate-test1.yaml");
    h.apply(&good);
    h.pass(0);
    assert_eq!(
        h.condition("fargate-test1", "test1Service", ConditionType::Progressing),
        Some((true, "RollingOut".to_owned())),
        "just created"
    );
    assert!(
        h.until(600, |h| h.condition(
            "fargate-test1",
            "test1Service",
            ConditionType::Ready
        ) == Some((true, "RolloutVerified".to_owned()))),
        "never Ready: {:?}",
        h.status("fargate-test1")
    );
    let status = h.status("fargate-test1").expect("status");
    assert_eq!(status.observed_generation, 1);
    let service = &status.services["test1Service"];
    assert_eq!(service.live.as_ref().map(|l| l.running_count), Some(2));
    assert!(!service.recent_decisions.is_empty());

    // Steady: health comes from CloudWatch's HealthyHostCount, read with the other metrics; no
    // DescribeTargetHealth.
    let stacks = h.apply(&good);
    let desired: Vec<DesiredService> = stacks.iter().flat_map(DesiredService::of_stack).collect();
    h.pass(600);
    let health_reads = h.sim.with(|s| {
        s.api()
            .counts()
            .get("DescribeTargetHealth")
            .map_or(0, |o| o.values().sum::<u64>())
    });
    let now = h.sim.clock().now_s();
    let watches = [Watch::new(
        Arc::new(desired[0].clone()),
        &tugboat::model::ServiceMemory::default(),
        now,
    )];
    let observed = h.runtime.block_on(observe(&h.sim, &watches, now));
    let observed = observed[0].as_ref().expect("observed");
    assert_eq!(
        observed.healthy_hosts.get("test1TargetGroup"),
        Some(&2.0),
        "{observed:?}"
    );
    assert_eq!(
        h.sim.with(|s| s
            .api()
            .counts()
            .get("DescribeTargetHealth")
            .map_or(0, |o| o.values().sum::<u64>())),
        health_reads,
        "no DescribeTargetHealth in steady state"
    );

    // A bad image: Ready goes false, then Degraded/RolledBack, with the new generation observed.
    h.apply(&good.replace("test1:1.0.0", "test1:bad"));
    assert!(
        h.until(1800, |h| h.condition(
            "fargate-test1",
            "test1Service",
            ConditionType::Degraded
        ) == Some((true, "RolledBack".to_owned()))),
        "never Degraded: {:?}",
        h.status("fargate-test1")
    );
    let status = h.status("fargate-test1").expect("status");
    assert_eq!(status.observed_generation, 2);
    let ready = status.services["test1Service"]
        .condition(ConditionType::Ready)
        .expect("ready");
    assert_eq!(
        (ready.status, ready.reason.as_str()),
        (false, "RolloutFailed")
    );
}

#[test]
fn deleting_a_pruned_stack_scales_its_services_to_zero_then_deletes_them() {
    let h = Harness::new(World::default());
    h.apply(&with_prune(&manifest("manifests/todo.yaml")));
    assert!(h.until(600, |h| {
        h.condition("todo", "todoMain", ConditionType::Ready)
            .is_some_and(|(ready, _)| ready)
    }));
    h.delete("todo");
    assert_eq!(h.removals(), 2);
    h.pass(0);
    for name in ["todoMain", "todoFiles"] {
        let service = h.service("todoCluster", name).expect("still there");
        assert_eq!(service.desired_count, 0, "{name} scaled to 0 first");
        assert_eq!(
            service.status, "ACTIVE",
            "{name} not deleted before it is at 0"
        );
    }
    assert!(h.status("todo").is_none(), "a deleted stack's status goes");
    assert!(
        h.until(600, |h| h.service("todoCluster", "todoMain").is_none()
            && h.service("todoCluster", "todoFiles").is_none()),
        "services never deleted"
    );
    assert_eq!(h.removals(), 0, "removals are dropped once done");
    let memory = h
        .runtime
        .block_on(h.store.load_memory("todo"))
        .expect("readable");
    assert!(memory.is_empty(), "memory forgotten: {memory:?}");
}

#[test]
fn deleting_an_unpruned_stack_leaves_its_services_at_zero() {
    let h = Harness::new(World::default());
    h.apply(&manifest("manifests/fargate-test1.yaml"));
    assert!(h.until(600, |h| {
        h.service("test1Cluster", "test1Service")
            .is_some_and(|s| s.running_count == 2)
    }));
    h.delete("fargate-test1");
    assert!(
        h.until(300, |h| h.removals() == 0),
        "removal never finished"
    );
    for _ in 0..10 {
        h.pass(10);
    }
    let service = h
        .service("test1Cluster", "test1Service")
        .expect("left in place");
    assert_eq!(
        (service.status.as_str(), service.desired_count),
        ("ACTIVE", 0)
    );
    assert_eq!(service.running_count, 0);
}

#[test]
fn a_service_leaving_a_pruned_stack_is_deleted_and_one_leaving_an_unpruned_stack_is_not() {
    let todo = manifest("manifests/todo.yaml");
    // Everything from the second service on: the stack keeps only todoMain.
    let only_main = {
        let cut = todo
            .find("    - name: todoFiles\n")
            .expect("second service");
        todo[..cut].to_owned()
    };

    let h = Harness::new(World::default());
    h.apply(&todo);
    assert!(h.until(600, |h| {
        h.service("todoCluster", "todoFiles")
            .is_some_and(|s| s.running_count > 0)
    }));
    h.apply(&only_main);
    assert_eq!(
        h.removals(),
        0,
        "no prune: the service is simply no longer managed"
    );
    for _ in 0..10 {
        h.pass(10);
    }
    let left = h.service("todoCluster", "todoFiles").expect("untouched");
    assert!(left.desired_count > 0, "{left:?}");

    let h = Harness::new(World::default());
    h.apply(&with_prune(&todo));
    assert!(h.until(600, |h| {
        h.service("todoCluster", "todoFiles")
            .is_some_and(|s| s.running_count > 0)
    }));
    h.apply(&with_prune(&only_main));
    assert_eq!(h.removals(), 1);
    assert!(
        h.until(600, |h| h.service("todoCluster", "todoFiles").is_none()),
        "pruned service never deleted"
    );
    assert!(
        h.service("todoCluster", "todoMain")
            .is_some_and(|s| s.desired_count > 0)
    );
    let status = h.status("todo").expect("status");
    assert_eq!(status.services.keys().collect::<Vec<_>>(), ["todoMain"]);
}

#[test]
fn reapplying_a_deleted_stack_takes_its_services_back() {
    let h = Harness::new(World::default());
    let todo = with_prune(&manifest("manifests/todo.yaml"));
    h.apply(&todo);
    assert!(h.until(600, |h| {
        h.service("todoCluster", "todoMain")
            .is_some_and(|s| s.running_count > 0)
    }));
    h.delete("todo");
    h.apply(&todo);
    assert_eq!(h.removals(), 0, "the apply took the removal back");
    for _ in 0..10 {
        h.pass(10);
    }
    let service = h.service("todoCluster", "todoMain").expect("kept");
    assert!(
        service.desired_count > 0 && service.status == "ACTIVE",
        "{service:?}"
    );
}

#[test]
fn rollout_undo_puts_the_previous_revision_back_and_the_controller_rolls_it_out() {
    let h = Harness::new(World::default());
    let v1 = manifest("manifests/fargate-test1.yaml");
    h.apply(&v1);
    let verified = |h: &Harness| {
        h.condition("fargate-test1", "test1Service", ConditionType::Ready)
            == Some((true, "RolloutVerified".to_owned()))
    };
    assert!(h.until(600, verified));
    h.apply(&v1.replace("test1:1.0.0", "test1:1.1.0"));
    h.pass(10);
    assert!(h.until(900, verified), "1.1.0 never verified");

    let tug = support::Tug::with_store(h.store.dir());
    let history = tug.run(&["rollout", "history", "test1Service"]);
    assert!(
        history.stdout.contains("test1TaskDefinition:2"),
        "{}",
        history.stdout
    );
    tug.run(&["rollout", "undo", "test1Service", "--to-revision", "7"])
        .assert_failure(1, "revision 7 was not registered by the controller");
    let history = tug.run(&["rollout", "history", "test1Service"]);
    assert!(
        history.stdout.contains("DIGESTS") && history.stdout.contains("test1Container sha256:"),
        "the history names the digests each revision ran:\n{}",
        history.stdout
    );
    let undo = tug.run(&["rollout", "undo", "test1Service"]);
    assert_eq!(undo.code, 0, "{}", undo.stderr);
    assert!(
        undo.stdout.contains(
            "rolled back to test1TaskDefinition:1 (stack/fargate-test1 configured, generation 3), images pinned to the digests it ran: test1Container sha256:"
        ),
        "{}",
        undo.stdout
    );
    assert!(
        undo.stderr.contains("rolls forward again"),
        "{}",
        undo.stderr
    );
    // The store now holds 1.0.0 again, by the digest it ran: diff against the 1.1.0 file shows it.
    let file = tug.write("v2.yaml", &v1.replace("test1:1.0.0", "test1:1.1.0"));
    let diff = tug.run(&["diff", "-f", &file]);
    assert_eq!(diff.code, 1, "{}", diff.stdout);
    assert!(
        diff.stdout
            .contains("-        image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/test1@sha256:"),
        "{}",
        diff.stdout
    );

    // The controller rolls the pinned definition out: a revision of its own (3), running the
    // digest revision 1 ran.
    assert!(h.until(900, |h| {
        verified(h)
            && h.service("test1Cluster", "test1Service")
                .is_some_and(|s| s.task_definition.revision == 3)
    }));
    let again = tug.run(&["rollout", "undo", "test1Service", "--to-revision", "1"]);
    again.assert_failure(1, "already the stored manifest's revision");
}

#[test]
fn diff_reports_what_the_controller_would_change_on_the_live_service() {
    let h = Harness::new(World::default());
    let v1 = manifest("manifests/fargate-test1.yaml");
    h.apply(&v1);
    assert!(h.until(600, |h| {
        h.condition("fargate-test1", "test1Service", ConditionType::Ready)
            .is_some_and(|(ready, _)| ready)
    }));
    let tug = support::Tug::with_store(h.store.dir());
    let same = tug.write("same.yaml", &v1);
    let unchanged = tug.run(&["diff", "-f", &same]);
    assert_eq!(
        (unchanged.code, unchanged.stdout.as_str()),
        (0, ""),
        "{}",
        unchanged.stderr
    );

    // A new image and new deployment bounds in the file: planned against the live service as the
    // controller last reported it, they are a registration (then a rollout) and an update.
    let changed = tug.write(
        "changed.yaml",
        &v1.replace("test1:1.0.0", "test1:2.0.0")
            .replace("minimumHealthyPercent: 50", "minimumHealthyPercent: 0"),
    );
    let diff = tug.run(&["diff", "-f", &changed]);
    assert_eq!(diff.code, 1);
    for expected in [
        "live stack/fargate-test1 (as the controller reported it 1970-01-01T",
        "test1Service: taskDefinition: would register a new revision of test1TaskDefinition",
        "test1Service: would update: deployment ROLLING 50%/100% -> ROLLING 0%/100%",
    ] {
        assert!(
            diff.stdout.contains(expected),
            "{expected:?} missing:\n{}",
            diff.stdout
        );
    }

    let fresh = support::Tug::new();
    let no_status = fresh.run(&["diff", "-f", &same]);
    assert_eq!(no_status.code, 1, "not in that store at all");
    assert!(
        no_status
            .stderr
            .contains("no controller has reported live state yet"),
        "{}",
        no_status.stderr
    );
}

/// A lifecycle policy that could expire the verified-good image is named in `tug describe`, with
/// the rule and what to do; the verified digests are listed beside the revision.
#[test]
fn describe_warns_when_a_lifecycle_policy_could_delete_a_verified_image() {
    let h = Harness::new(World::default());
    h.sim.with(|s| {
        s.set_lifecycle_policy(
            "test1",
            r#"{"rules":[{"rulePriority":1,"description":"untagged after a week","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":7},"action":{"type":"expire"}}]}"#,
        );
    });
    h.apply(&manifest("manifests/fargate-test1.yaml"));
    assert!(h.until(900, |h| {
        h.condition("fargate-test1", "test1Service", ConditionType::Ready)
            == Some((true, "RolloutVerified".to_owned()))
    }));
    h.pass(30);
    let tug = support::Tug::with_store(h.store.dir());
    let describe = tug.run(&["describe", "service", "test1Service"]);
    assert_eq!(describe.code, 0, "{}", describe.stderr);
    let digest = h
        .sim
        .with(|s| s.image_digest("123456789012.dkr.ecr.us-east-1.amazonaws.com/test1:1.0.0"));
    assert!(
        describe
            .stdout
            .contains(&format!("test1Container@{digest}")),
        "{}",
        describe.stdout
    );
    assert!(
        describe.stdout.contains(
            "warning: the lifecycle policy of ECR repository 123456789012/test1 (us-east-1) could delete an image test1TaskDefinition:1 was verified with: rule 1 (untagged after a week) selects untagged images, which it becomes once tag `1.0.0` moves, and would expire (delete) it 7 days after it was pushed"
        ),
        "{}",
        describe.stdout
    );
    let calls = h.sim.with(|s| {
        s.api()
            .counts()
            .get("GetLifecyclePolicy")
            .map_or(0, |o| o.values().sum::<u64>())
    });
    assert_eq!(calls, 1, "read once, not every resync");
}
