//! One suite of store behaviours, run against every store: the file store (a temporary
//! directory) and the DynamoDB store (a fresh table on moto per check). Each check is what a
//! command or the daemon relies on: generations, all-or-nothing applies, conflicts, dry runs,
//! deletes and the removals they record, memory and status, the compare-and-swap of
//! `tug rollout undo`, concurrent writers, and corrupt contents reported, never written over.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;
use support::moto::Moto;
use tugboat::manifest::{Source, parse_sources};
use tugboat::model::{DecisionKind, DecisionRecord, ServiceMemory, Stack, StackStatus};
use tugboat::store::dynamodb::Initialised;
use tugboat::store::{ApplyOutcome, DynamoDbStore, FileStore, Store, StoreError};

/// A stack named `name` with services `services` in cluster `cluster`, `prune` as given, and the
/// first service's image tag `tag`.
fn stack(name: &str, cluster: &str, services: &[&str], prune: bool, tag: &str) -> Stack {
    let mut text = format!(
        "apiVersion: tugboat/v1\nkind: Stack\nmetadata: {{name: {name}}}\nspec:\n  cluster: {cluster}\n  prune: {prune}\n  services:\n"
    );
    for (i, service) in services.iter().enumerate() {
        let tag = if i == 0 { tag } else { "1" };
        text.push_str(&format!(
            "    - name: {service}\n      launchType: FARGATE\n      taskDefinition:\n        family: {service}\n        cpu: 256\n        memory: 512\n        containers: [{{name: app, image: 'app:{tag}'}}]\n      network: {{subnets: [subnet-0123abcd]}}\n"
        ));
    }
    parse_sources(&[Source {
        name: format!("{name}.yaml"),
        bytes: text.into_bytes(),
    }])
    .expect("the suite's stacks are valid")
    .remove(0)
}

fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + seconds)
}

fn generation(stack: &Stack) -> u64 {
    stack.manifest().metadata.generation.unwrap_or(0)
}

/// What a backend adds to the suite: making a store, and breaking one's contents.
trait Backend {
    type S: Store + Clone + 'static;
    /// A new, empty store.
    async fn fresh(&self) -> Self::S;
    /// Damages the stored form of stack `name` in `store`.
    async fn corrupt(&self, store: &Self::S, name: &str);
}

/// Every check, each on a fresh store.
async fn conforms<B: Backend>(backend: &B) {
    creates_configures_and_keeps_generations(backend.fresh().await).await;
    applies_all_or_nothing(backend.fresh().await).await;
    dry_runs_write_nothing(backend.fresh().await).await;
    deletes_record_removals(backend.fresh().await).await;
    memory_and_status_round_trip(backend.fresh().await).await;
    undo_is_a_compare_and_swap(backend.fresh().await).await;
    concurrent_applies_of_different_stacks_both_land(backend.fresh().await).await;
    let store = backend.fresh().await;
    store
        .apply(vec![stack("web", "c1", &["web"], false, "1")], at(0), false)
        .await
        .expect("applied");
    backend.corrupt(&store, "web").await;
    corrupt_contents_are_reported_and_not_written_over(store).await;
}

async fn creates_configures_and_keeps_generations<S: Store>(store: S) {
    assert!(store.list().await.expect("empty store lists").is_empty());
    assert!(store.get("web").await.expect("get").is_none());
    let empty = store.revision().await.expect("revision");
    let applied = store
        .apply(
            vec![
                stack("web", "c1", &["web"], false, "1"),
                stack("api", "c1", &["api"], false, "1"),
            ],
            at(0),
            false,
        )
        .await
        .expect("applied");
    assert!(applied.iter().all(|a| a.outcome == ApplyOutcome::Created));
    let names: Vec<String> = store
        .list()
        .await
        .expect("list")
        .iter()
        .map(|s| s.name().to_owned())
        .collect();
    assert_eq!(names, ["api", "web"], "sorted by name");
    let created = store.revision().await.expect("revision");
    assert_ne!(created, empty, "an apply moves the revision");
    let web = store.get("web").await.expect("get").expect("stored");
    assert_eq!(generation(&web), 1);
    assert!(web.manifest().metadata.creation_timestamp.is_some());

    let again = store
        .apply(
            vec![stack("web", "c1", &["web"], false, "1")],
            at(10),
            false,
        )
        .await
        .expect("re-applied");
    assert_eq!(again[0].outcome, ApplyOutcome::Unchanged);
    assert_eq!(generation(&again[0].stack), 1);
    assert_eq!(
        store.revision().await.expect("revision"),
        created,
        "nothing changed"
    );

    let changed = store
        .apply(
            vec![stack("web", "c1", &["web"], false, "2")],
            at(20),
            false,
        )
        .await
        .expect("changed");
    assert_eq!(changed[0].outcome, ApplyOutcome::Configured);
    assert_eq!(generation(&changed[0].stack), 2);
    let web = store.get("web").await.expect("get").expect("stored");
    assert_eq!(generation(&web), 2);
    assert_eq!(web.spec(), changed[0].stack.spec());
    assert_eq!(
        generation(&store.get("api").await.expect("get").expect("stored")),
        1,
        "the other stack is untouched"
    );
}

async fn applies_all_or_nothing<S: Store>(store: S) {
    store
        .apply(vec![stack("web", "c1", &["web"], false, "1")], at(0), false)
        .await
        .expect("applied");
    let before = store.revision().await.expect("revision");
    // `api` is new and fine; `other` claims web's service: neither is written.
    let error = store
        .apply(
            vec![
                stack("api", "c1", &["api"], false, "1"),
                stack("other", "c1", &["web"], false, "1"),
            ],
            at(10),
            false,
        )
        .await
        .expect_err("a service cannot have two owners");
    assert!(matches!(error, StoreError::Conflict { .. }), "{error}");
    assert!(
        error.to_string().contains("already managed by stack `web`"),
        "{error}"
    );
    assert!(
        store.get("api").await.expect("get").is_none(),
        "nothing written"
    );
    assert_eq!(store.revision().await.expect("revision"), before);
}

async fn dry_runs_write_nothing<S: Store>(store: S) {
    let before = store.revision().await.expect("revision");
    let planned = store
        .apply(vec![stack("web", "c1", &["web"], false, "1")], at(0), true)
        .await
        .expect("dry run");
    assert_eq!(planned[0].outcome, ApplyOutcome::Created);
    assert!(store.list().await.expect("list").is_empty());
    assert_eq!(store.revision().await.expect("revision"), before);
    store
        .apply(vec![stack("web", "c1", &["web"], false, "1")], at(0), false)
        .await
        .expect("applied");
    let removed = store
        .delete(&["web".to_owned()], at(5), true)
        .await
        .expect("dry delete");
    assert_eq!(removed.len(), 1);
    assert!(
        store.get("web").await.expect("get").is_some(),
        "still there"
    );
    assert!(store.removals().await.expect("removals").is_empty());
}

async fn deletes_record_removals<S: Store>(store: S) {
    store
        .apply(
            vec![
                stack("web", "c1", &["web", "worker"], true, "1"),
                stack("api", "c1", &["api"], false, "1"),
            ],
            at(0),
            false,
        )
        .await
        .expect("applied");
    let status = StackStatus {
        observed_generation: 1,
        updated_at: 1,
        ..StackStatus::default()
    };
    store
        .save_status("api", Some(&status))
        .await
        .expect("status");

    let missing = store
        .delete(&["api".to_owned(), "nope".to_owned()], at(5), false)
        .await
        .expect_err("one is missing");
    assert!(
        matches!(missing, StoreError::NotFound { ref names } if names == &["nope"]),
        "{missing}"
    );
    assert!(
        store.get("api").await.expect("get").is_some(),
        "all or none"
    );

    // A service leaving a pruned stack is to be deleted.
    store
        .apply(vec![stack("web", "c1", &["web"], true, "1")], at(10), false)
        .await
        .expect("applied");
    let removals = store.removals().await.expect("removals");
    assert_eq!(removals.len(), 1, "{removals:?}");
    assert_eq!(
        (removals[0].service.as_str(), removals[0].delete),
        ("worker", true)
    );

    // A deleted stack without prune: its services are scaled to 0, not deleted; its status goes.
    let removed = store
        .delete(&["api".to_owned()], at(20), false)
        .await
        .expect("deleted");
    assert_eq!(removed[0].name(), "api");
    assert!(store.get("api").await.expect("get").is_none());
    assert!(store.load_status("api").await.expect("status").is_none());
    let removals = store.removals().await.expect("removals");
    let api = removals
        .iter()
        .find(|r| r.service == "api")
        .expect("api's service is to be taken down");
    assert!(!api.delete);

    // Applying the service again takes its removal back.
    store
        .apply(
            vec![stack("web", "c1", &["web", "worker"], true, "1")],
            at(30),
            false,
        )
        .await
        .expect("applied");
    assert!(
        !store
            .removals()
            .await
            .expect("removals")
            .iter()
            .any(|r| r.service == "worker")
    );

    // Finishing a removal drops it and forgets the service's memory.
    store
        .save_memory("api", "api", &ServiceMemory::default())
        .await
        .expect("memory");
    let api = store
        .removals()
        .await
        .expect("removals")
        .into_iter()
        .find(|r| r.service == "api")
        .expect("still pending");
    store.finish_removal(&api).await.expect("finished");
    assert!(store.removals().await.expect("removals").is_empty());
    assert!(store.load_memory("api").await.expect("memory").is_empty());
    // Finishing it twice is harmless.
    store.finish_removal(&api).await.expect("finished again");
}

async fn memory_and_status_round_trip<S: Store>(store: S) {
    assert!(store.load_memory("web").await.expect("memory").is_empty());
    assert!(store.load_status("web").await.expect("status").is_none());
    let mut memory = ServiceMemory {
        desired_count: Some(3),
        ..ServiceMemory::default()
    };
    memory.record(DecisionRecord {
        at: 7,
        kind: DecisionKind::ScaleOut,
        field: None,
        reason: "CPU above 70%".into(),
    });
    store
        .save_memory("web", "web", &memory)
        .await
        .expect("saved");
    store
        .save_memory("web", "worker", &ServiceMemory::default())
        .await
        .expect("saved");
    let loaded = store.load_memory("web").await.expect("loaded");
    let expected: BTreeMap<String, ServiceMemory> = [
        ("web".to_owned(), memory.clone()),
        ("worker".to_owned(), ServiceMemory::default()),
    ]
    .into();
    assert_eq!(loaded, expected);
    assert!(
        store.load_memory("api").await.expect("memory").is_empty(),
        "per stack"
    );

    let status = StackStatus {
        observed_generation: 4,
        updated_at: 99,
        ..StackStatus::default()
    };
    store
        .save_status("web", Some(&status))
        .await
        .expect("saved");
    assert_eq!(
        store.load_status("web").await.expect("loaded"),
        Some(status)
    );
    store.save_status("web", None).await.expect("removed");
    assert!(store.load_status("web").await.expect("loaded").is_none());
}

async fn undo_is_a_compare_and_swap<S: Store>(store: S) {
    store
        .apply(vec![stack("web", "c1", &["web"], false, "1")], at(0), false)
        .await
        .expect("applied");
    store
        .apply(
            vec![stack("web", "c1", &["web"], false, "2")],
            at(10),
            false,
        )
        .await
        .expect("applied");
    // Prepared at generation 2, someone applies generation 3 meanwhile: refused.
    store
        .apply(
            vec![stack("web", "c1", &["web"], false, "3")],
            at(20),
            false,
        )
        .await
        .expect("applied");
    let error = store
        .replace_stack(stack("web", "c1", &["web"], false, "1"), 2, at(30))
        .await
        .expect_err("the stack moved on");
    assert!(
        matches!(
            error,
            StoreError::Changed {
                expected: 2,
                found: 3,
                ..
            }
        ),
        "{error}"
    );
    let web = store.get("web").await.expect("get").expect("stored");
    assert_eq!(generation(&web), 3, "the concurrent apply is not undone");
    let replaced = store
        .replace_stack(stack("web", "c1", &["web"], false, "1"), 3, at(40))
        .await
        .expect("at the generation read");
    assert_eq!(generation(&replaced.stack), 4);
    assert_eq!(
        store.get("web").await.expect("get").expect("stored").spec(),
        stack("web", "c1", &["web"], false, "1").spec()
    );
    let gone = store
        .replace_stack(stack("nope", "c1", &["nope"], false, "1"), 1, at(50))
        .await
        .expect_err("no such stack");
    assert!(
        matches!(gone, StoreError::Changed { found: 0, .. }),
        "{gone}"
    );
}

async fn concurrent_applies_of_different_stacks_both_land<S: Store + Clone + 'static>(store: S) {
    let writers: Vec<_> = (0..4)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let name = format!("s{i}");
                store
                    .apply(
                        vec![stack(&name, "c1", &[&format!("svc{i}")], false, "1")],
                        at(i),
                        false,
                    )
                    .await
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("joined").expect("every apply lands");
    }
    let names: Vec<String> = store
        .list()
        .await
        .expect("list")
        .iter()
        .map(|s| s.name().to_owned())
        .collect();
    assert_eq!(names, ["s0", "s1", "s2", "s3"]);
}

async fn corrupt_contents_are_reported_and_not_written_over<S: Store>(store: S) {
    let error = store.list().await.expect_err("corrupt");
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
    assert!(
        error.to_string().contains("web"),
        "names the stack: {error}"
    );
    let apply = store
        .apply(vec![stack("api", "c1", &["api"], false, "1")], at(5), false)
        .await
        .expect_err("a corrupt store is not written");
    assert!(matches!(apply, StoreError::Corrupt { .. }), "{apply}");
    let again = store.list().await.expect_err("still corrupt, not replaced");
    assert!(matches!(again, StoreError::Corrupt { .. }), "{again}");
}

struct Files(tempfile::TempDir);

impl Backend for Files {
    type S = FileStore;
    async fn fresh(&self) -> FileStore {
        let dir = tempfile::tempdir_in(self.0.path()).expect("dir");
        FileStore::new(dir.keep())
    }
    async fn corrupt(&self, store: &FileStore, name: &str) {
        let path = store.dir().join("stacks.json");
        let text = std::fs::read_to_string(&path).expect("stacks.json");
        // The stack's cluster becomes an invalid name: it parses, and fails validation.
        assert!(text.contains(name));
        std::fs::write(&path, text.replace("\"c1\"", "\"not a cluster!\"")).expect("written");
    }
}

#[tokio::test]
async fn the_file_store_conforms() {
    conforms(&Files(tempfile::tempdir().expect("dir"))).await;
}

struct Tables {
    client: aws_sdk_dynamodb::Client,
    count: std::sync::atomic::AtomicU32,
}

impl Backend for Tables {
    type S = DynamoDbStore;
    async fn fresh(&self) -> DynamoDbStore {
        let n = self
            .count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let table = format!("conformance-{}-{n}", std::process::id());
        let store = DynamoDbStore::with_client(table, self.client.clone());
        assert_eq!(
            store
                .create_table(Duration::from_secs(30))
                .await
                .expect("table"),
            Initialised::Created
        );
        store
    }
    async fn corrupt(&self, store: &DynamoDbStore, name: &str) {
        self.client
            .update_item()
            .table_name(store.table())
            .key("pk", AttributeValue::S(format!("stack/{name}")))
            .key("sk", AttributeValue::S("part/0000".into()))
            .update_expression("SET #d = :junk")
            .expression_attribute_names("#d", "data")
            .expression_attribute_values(
                ":junk",
                AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(
                    b"not gzip".to_vec(),
                )),
            )
            .send()
            .await
            .expect("corrupted");
    }
}

#[tokio::test]
#[ignore = "needs moto: scripts/test starts it and runs these with --include-ignored"]
async fn the_dynamodb_store_conforms() {
    let moto = Moto::get();
    let client = aws_sdk_dynamodb::Client::new(&moto.config().await);
    let tables = Tables {
        client,
        count: Default::default(),
    };
    conforms(&tables).await;
    // A stack whose parts are gone (deleted by hand): corrupt, not a race to retry for ever.
    let store = tables.fresh().await;
    store
        .apply(vec![stack("web", "c1", &["web"], false, "1")], at(0), false)
        .await
        .expect("applied");
    tables
        .client
        .delete_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S("stack/web".into()))
        .key("sk", AttributeValue::S("part/0000".into()))
        .send()
        .await
        .expect("deleted");
    let fresh = DynamoDbStore::with_client(store.table().to_owned(), tables.client.clone());
    let error = fresh.list().await.expect_err("parts missing");
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
    assert!(error.to_string().contains("missing or newer"), "{error}");
    // The table is what `tug store init` promises, and a second init leaves it alone.
    let store = tables.fresh().await;
    assert_eq!(
        store
            .create_table(Duration::from_secs(30))
            .await
            .expect("again"),
        Initialised::Existing
    );
    let described = tables
        .client
        .describe_table()
        .table_name(store.table())
        .send()
        .await
        .expect("described");
    let table = described.table.expect("table");
    assert_eq!(
        table
            .billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .map(|m| m.as_str()),
        Some("PAY_PER_REQUEST")
    );
    let backups = tables
        .client
        .describe_continuous_backups()
        .table_name(store.table())
        .send()
        .await
        .expect("backups");
    let pitr = backups
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .and_then(|p| p.point_in_time_recovery_status())
        .map(|s| s.as_str().to_owned());
    assert_eq!(pitr.as_deref(), Some("ENABLED"));
}

/// A controller's writes carry a condition on its lease: once another controller holds the
/// lease, a late write of the deposed one is refused, and nothing it wrote lands.
#[tokio::test]
#[ignore = "needs moto: scripts/test starts it and runs these with --include-ignored"]
async fn a_deposed_leaders_late_writes_are_refused() {
    use tugboat::store::dynamodb::LeaseRecord;
    let moto = Moto::get();
    let client = aws_sdk_dynamodb::Client::new(&moto.config().await);
    let table = format!("fencing-{}", std::process::id());
    let old = DynamoDbStore::with_client(table.clone(), client.clone());
    old.create_table(Duration::from_secs(30))
        .await
        .expect("table");
    let record = |holder: &str, version: &str| LeaseRecord {
        holder: holder.into(),
        record_version: version.into(),
        lease_ms: 15_000,
        renewed_at: "2026-12-02T00:00:00Z".into(),
        since: "2026-12-02T00:00:00Z".into(),
    };
    assert!(
        old.write_lease(None, &record("old", "v1"))
            .await
            .expect("taken")
    );
    assert!(
        !old.write_lease(None, &record("other", "x"))
            .await
            .expect("answered"),
        "a held lease is not taken without the version seen"
    );
    old.fence(Some("v1".into()));
    let memory = ServiceMemory {
        desired_count: Some(2),
        ..ServiceMemory::default()
    };
    old.save_memory("web", "web", &memory)
        .await
        .expect("the leader writes");

    // Another controller saw v1 unchanged for a whole lease and takes over.
    let new = DynamoDbStore::with_client(table, client);
    assert!(
        new.write_lease(Some("v1"), &record("new", "v2"))
            .await
            .expect("taken over")
    );
    let late = ServiceMemory {
        desired_count: Some(9),
        ..ServiceMemory::default()
    };
    let refused = old
        .save_memory("web", "web", &late)
        .await
        .expect_err("deposed");
    assert!(matches!(refused, StoreError::NotLeader { .. }), "{refused}");
    let status = old
        .save_status("web", Some(&StackStatus::default()))
        .await
        .expect_err("deposed");
    assert!(matches!(status, StoreError::NotLeader { .. }), "{status}");
    assert_eq!(
        new.load_memory("web").await.expect("memory")["web"].desired_count,
        Some(2),
        "the late write did not land"
    );
    // The new holder renews; the old one's renewal with its version fails.
    assert!(
        !old.write_lease(Some("v1"), &record("old", "v3"))
            .await
            .expect("answered")
    );
    assert_eq!(
        new.read_lease().await.expect("lease").map(|l| l.holder),
        Some("new".to_owned())
    );
}

/// `tug store copy`: a file store with stacks, removals, memory and status, copied into DynamoDB
/// and back into a new directory, reads back the same; a copy into a store that is not empty is
/// refused and writes nothing.
#[tokio::test]
#[ignore = "needs moto: scripts/test starts it and runs these with --include-ignored"]
async fn tug_store_copy_moves_everything_and_verifies_it() {
    use tugboat::store::Everything;
    let moto = Moto::get();
    let temp = tempfile::tempdir().expect("dir");
    let source = FileStore::new(temp.path().join("source"));
    source
        .apply(
            vec![
                stack("web", "c1", &["web", "worker"], true, "1"),
                stack("api", "c1", &["api"], false, "2"),
            ],
            at(0),
            false,
        )
        .await
        .expect("applied");
    source
        .apply(vec![stack("web", "c1", &["web"], true, "3")], at(10), false)
        .await
        .expect("applied");
    source
        .save_memory(
            "web",
            "web",
            &ServiceMemory {
                desired_count: Some(4),
                ..ServiceMemory::default()
            },
        )
        .await
        .expect("memory");
    source
        .save_memory("web", "worker", &ServiceMemory::default())
        .await
        .expect("memory");
    source
        .save_status(
            "api",
            Some(&StackStatus {
                observed_generation: 1,
                ..StackStatus::default()
            }),
        )
        .await
        .expect("status");
    let before = Everything::read(&source).await.expect("read");
    assert_eq!(before.removals.len(), 1, "worker left a pruned stack");

    let table = format!("dynamodb://copy-{}", std::process::id());
    let back = temp.path().join("back");
    let tug = support::Tug::on(&table, moto.env());
    let file_uri = format!("file://{}", temp.path().join("source").display());
    let back_uri = format!("file://{}", back.display());
    assert_eq!(tug.run(&["store", "init", &table]).code, 0);
    let there = tug.run(&["store", "copy", &file_uri, &table]);
    assert_eq!(there.code, 0, "{}", there.stderr);
    assert!(
        there
            .stdout
            .contains("copied 2 stacks, 1 removal, the memory of 2 services and 1 status")
            && there.stdout.contains("verified"),
        "{}",
        there.stdout
    );
    let again = tug.run(&["store", "copy", &file_uri, &table]);
    again.assert_failure(1, "is not empty");
    let home = tug.run(&["store", "copy", &table, &back_uri]);
    assert_eq!(home.code, 0, "{}", home.stderr);
    let after = Everything::read(&FileStore::new(back)).await.expect("read");
    assert_eq!(after, before, "file -> DynamoDB -> file keeps everything");
    assert_eq!(
        after
            .stacks
            .iter()
            .find(|s| s.name() == "web")
            .and_then(|s| s.manifest().metadata.generation),
        Some(2),
        "generations travel"
    );
    tug.run(&["store", "init", &file_uri])
        .assert_failure(1, "only a DynamoDB store needs creating");
}

/// A stack too big for one DynamoDB item is split over several, and reads back whole.
#[tokio::test]
#[ignore = "needs moto: scripts/test starts it and runs these with --include-ignored"]
async fn a_stack_larger_than_an_item_is_split_and_read_back_whole() {
    let moto = Moto::get();
    let client = aws_sdk_dynamodb::Client::new(&moto.config().await);
    let table = format!("split-{}", std::process::id());
    let store = DynamoDbStore::with_client(table.clone(), client.clone());
    store
        .create_table(Duration::from_secs(30))
        .await
        .expect("table");
    // 1,000 services each carrying 960 pseudo-random hex digits: about 480 KB of entropy, so
    // well above one item even compressed.
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut noise = || {
        (0..60)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                format!("{seed:016x}")
            })
            .collect::<String>()
    };
    let mut text = String::from(
        "apiVersion: tugboat/v1\nkind: Stack\nmetadata: {name: big}\nspec:\n  cluster: c1\n  services:\n",
    );
    for i in 0..1_000 {
        text.push_str(&format!(
            "    - name: svc{i}\n      launchType: FARGATE\n      taskDefinition:\n        family: svc{i}\n        cpu: 256\n        memory: 512\n        containers: [{{name: app, image: 'app:1', environment: {{SEED: '{}'}}}}]\n      network: {{subnets: [subnet-0123abcd]}}\n",
            noise()
        ));
    }
    let big = parse_sources(&[Source {
        name: "big.yaml".into(),
        bytes: text.into_bytes(),
    }])
    .expect("the big stack is valid")
    .remove(0);
    store
        .apply(vec![big.clone()], at(0), false)
        .await
        .expect("applied");
    let parts = client
        .query()
        .table_name(&table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S("stack/big".into()))
        .send()
        .await
        .expect("query");
    let sizes: Vec<usize> = parts
        .items()
        .iter()
        .filter_map(|i| match i.get("data") {
            Some(AttributeValue::B(b)) => Some(b.as_ref().len()),
            _ => None,
        })
        .collect();
    let parts = sizes.len();
    assert!(parts > 1, "{sizes:?}");
    assert!(
        parts > 1,
        "expected the stack split over several items, got {parts}"
    );
    let fresh = DynamoDbStore::with_client(table, client);
    let read = fresh.get("big").await.expect("read").expect("stored");
    assert_eq!(read.spec(), big.spec());
    // Smaller again: the extra parts go.
    fresh
        .apply(
            vec![stack("big", "c1", &["svc0"], false, "1")],
            at(5),
            false,
        )
        .await
        .expect("applied");
    assert_eq!(
        fresh
            .get("big")
            .await
            .expect("read")
            .expect("stored")
            .spec()
            .services
            .len(),
        1
    );
}

/// An apply that cannot fit one DynamoDB transaction (100 actions) is refused before anything
/// is sent, with the limit it exceeds.
#[tokio::test]
#[ignore = "needs moto: scripts/test starts it and runs these with --include-ignored"]
async fn an_apply_too_big_for_one_transaction_is_refused_up_front() {
    let moto = Moto::get();
    let client = aws_sdk_dynamodb::Client::new(&moto.config().await);
    let store = DynamoDbStore::with_client(format!("limits-{}", std::process::id()), client);
    store
        .create_table(Duration::from_secs(30))
        .await
        .expect("table");
    let many: Vec<Stack> = (0..120)
        .map(|i| stack(&format!("s{i}"), "c1", &[&format!("svc{i}")], false, "1"))
        .collect();
    let error = store.apply(many, at(0), false).await.expect_err("too many");
    assert!(matches!(error, StoreError::TooLarge { .. }), "{error}");
    assert!(
        error.to_string().contains("above its limit of 100"),
        "{error}"
    );
    assert!(
        store.list().await.expect("list").is_empty(),
        "nothing written"
    );
    assert_eq!(
        store.requests().get("TransactWriteItems"),
        None,
        "nothing sent"
    );
}
