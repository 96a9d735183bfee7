//! The file store: a local directory, the embedded default (`file://DIR`).
//!
//! ```text
//! DIR/
//!   stacks.json     every stack's desired state and bookkeeping, one JSON document
//!   lock            held (advisory file lock) by whoever is writing
//!   memory/STACK/SERVICE.json
//!                   the controller's memory of a service: its desired-count decision, cooldown
//!                   clocks, revision ledger, verified-good revision, rollout, failed digests and
//!                   recent decisions; written by the one controller, atomically, after each change
//!   status/STACK.json
//!                   the controller's report on a stack: observed generation, per-service
//!                   conditions, last observation, recent decisions
//!   controller.lock held (advisory file lock) by the running controller for its whole life, with
//!                   who holds it written inside: a second controller on the same directory is
//!                   refused, naming the first
//!   simulated-aws.json
//!                   with `tug controller --cloud sim` only: the simulated account, saved every
//!                   few seconds and at shutdown, so a restarted controller finds it again
//! ```
//!
//! `stacks.json` also lists the services the controller still has to take down (`removals`):
//! written with the change that implies them (a delete, or a service leaving a pruned stack), in
//! the same atomic replacement, and dropped by the controller once done.
//!
//! Desired state is one file so that an apply of several stacks is all-or-nothing with a single
//! atomic rename: the new contents go to a temporary file in `DIR`, are fsynced, renamed over
//! `stacks.json`, and the directory is fsynced. Readers need no lock: they see the old file or the
//! new one, never a mix. Writers take `lock` first, so concurrent applies are serialised and none
//! is lost. Status and memory, written by the one controller, live in their own files so that
//! they never rewrite desired state.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::{
    Applied, ApplyOutcome, Store, StoreError, check_generation, merge, pending_removals,
    split_deleted, with_applied,
};
use crate::manifest::spec::StackManifest;
use crate::model::{Removal, ServiceMemory, Stack, StackStatus};

/// Version of the `stacks.json` layout this build reads and writes.
const FORMAT: u32 = 1;
/// How long a writer waits for another writer's lock.
const LOCK_WAIT: Duration = Duration::from_secs(30);
/// How often it tries again meanwhile.
const LOCK_POLL: Duration = Duration::from_millis(20);

/// A store in a local directory. Cheap to clone: it holds only the path.
#[derive(Debug, Clone)]
pub struct FileStore {
    /// The store directory; created on the first write.
    dir: PathBuf,
}

/// The on-disk form of `stacks.json`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StacksFile {
    /// Layout version, so a newer layout is refused rather than misread.
    format: u32,
    /// Every stack, sorted by name.
    stacks: Vec<StackManifest>,
    /// Services the controller still has to scale to 0 (and delete, under prune).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    removals: Vec<Removal>,
}

/// What `stacks.json` holds, validated.
#[derive(Debug, Default)]
struct Contents {
    stacks: Vec<Stack>,
    removals: Vec<Removal>,
}

impl FileStore {
    /// A store in `dir`. Nothing is read or created until it is used.
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The directory this store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn stacks_path(&self) -> PathBuf {
        self.dir.join("stacks.json")
    }

    /// Reads every stack; a missing store is an empty one.
    fn read(&self) -> Result<Vec<Stack>, StoreError> {
        self.read_all().map(|c| c.stacks)
    }

    /// `stacks.json` parsed as `T` (all of it, or the part `T` names), its layout version checked;
    /// `None` when there is no store yet.
    fn load<T: serde::de::DeserializeOwned>(
        &self,
        format_of: impl Fn(&T) -> u32,
    ) -> Result<Option<T>, StoreError> {
        let path = self.stacks_path();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StoreError::Io {
                    path,
                    action: "cannot read",
                    source,
                });
            }
        };
        let corrupt = |message: String| StoreError::Corrupt {
            path: path.clone(),
            message,
        };
        let file: T = serde_json::from_slice(&bytes)
            .map_err(|e| corrupt(format!("line {} column {}: {e}", e.line(), e.column())))?;
        let format = format_of(&file);
        if format != FORMAT {
            return Err(corrupt(format!(
                "format {format} is not understood by this version of tug (it reads format {FORMAT})"
            )));
        }
        Ok(Some(file))
    }

    /// Reads stacks and pending removals.
    fn read_all(&self) -> Result<Contents, StoreError> {
        let Some(file) = self.load(|f: &StacksFile| f.format)? else {
            return Ok(Contents::default());
        };
        let corrupt = |message: String| StoreError::Corrupt {
            path: self.stacks_path(),
            message,
        };
        let mut stacks = Vec::with_capacity(file.stacks.len());
        for (i, manifest) in file.stacks.iter().enumerate() {
            let stack = crate::manifest::validate(manifest).map_err(|issues| {
                let first = issues
                    .first()
                    .map(|issue| format!("{}: {}", issue.path, issue.message))
                    .unwrap_or_default();
                corrupt(format!(
                    "stack `{}` (stacks[{i}]) fails validation: {first}",
                    manifest.metadata.name
                ))
            })?;
            if stacks.iter().any(|s: &Stack| s.name() == stack.name()) {
                return Err(corrupt(format!("stack `{}` appears twice", stack.name())));
            }
            stacks.push(stack);
        }
        Ok(Contents {
            stacks,
            removals: file.removals,
        })
    }

    /// Only the pending removals: the controller reads them every pass, right after `list`, so the
    /// stacks are skipped rather than validated a second time.
    fn read_removals(&self) -> Result<Vec<Removal>, StoreError> {
        /// The part of `stacks.json` that lists removals.
        #[derive(Deserialize)]
        struct RemovalsOnly {
            format: u32,
            #[serde(default)]
            removals: Vec<Removal>,
        }
        Ok(self
            .load(|f: &RemovalsOnly| f.format)?
            .map(|f| f.removals)
            .unwrap_or_default())
    }

    /// Replaces `stacks.json` atomically.
    fn write(&self, contents: &Contents) -> Result<(), StoreError> {
        let mut manifests: Vec<StackManifest> = contents
            .stacks
            .iter()
            .map(|s| s.manifest().clone())
            .collect();
        manifests.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        let file = StacksFile {
            format: FORMAT,
            stacks: manifests,
            removals: contents.removals.clone(),
        };
        write_json(&self.stacks_path(), &file)
    }

    /// Replaces the stacks, recording the removals the change implies.
    fn replace(
        &self,
        before: Contents,
        stacks: Vec<Stack>,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let removals = pending_removals(&before.stacks, &stacks, before.removals, now);
        self.write(&Contents { stacks, removals })
    }

    fn status_path(&self, stack: &str) -> PathBuf {
        self.dir.join("status").join(format!("{stack}.json"))
    }

    /// A stack's status, if the controller wrote one.
    ///
    /// # Errors
    /// A status file that cannot be read or understood.
    pub fn load_status_blocking(&self, stack: &str) -> Result<Option<StackStatus>, StoreError> {
        let path = self.status_path(stack);
        match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt {
                        path,
                        message: format!("line {} column {}: {e}", e.line(), e.column()),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Io {
                path,
                action: "cannot read",
                source,
            }),
        }
    }

    /// Writes (or, with `None`, removes) a stack's status.
    ///
    /// # Errors
    /// The file cannot be written or removed.
    pub fn save_status_blocking(
        &self,
        stack: &str,
        status: Option<&StackStatus>,
    ) -> Result<(), StoreError> {
        let path = self.status_path(stack);
        match status {
            Some(status) => {
                let dir = self.dir.join("status");
                private_dir(&dir).map_err(|source| StoreError::Io {
                    path: dir,
                    action: "cannot create",
                    source,
                })?;
                write_json(&path, status)
            }
            None => remove_if_present(&path),
        }
    }

    /// Marks a removal done: drops it from `stacks.json` and forgets the service's memory.
    fn finish_removal_blocking(&self, removal: &Removal) -> Result<(), StoreError> {
        self.locked(|| {
            let mut contents = self.read_all()?;
            let before = contents.removals.len();
            contents.removals.retain(|r| r != removal);
            if contents.removals.len() != before {
                self.write(&contents)?;
            }
            let memory = self
                .memory_dir(&removal.stack)
                .join(format!("{}.json", removal.service));
            remove_if_present(&memory)
        })
    }

    fn memory_dir(&self, stack: &str) -> PathBuf {
        self.dir.join("memory").join(stack)
    }

    /// The controller's memory of every service of `stack` (empty when none was saved).
    ///
    /// # Errors
    /// A memory file that cannot be read or understood.
    pub fn load_memory_blocking(
        &self,
        stack: &str,
    ) -> Result<BTreeMap<String, ServiceMemory>, StoreError> {
        let dir = self.memory_dir(stack);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(source) => {
                return Err(StoreError::Io {
                    path: dir,
                    action: "cannot read",
                    source,
                });
            }
        };
        let mut memories = BTreeMap::new();
        for entry in entries {
            let path = entry
                .map_err(|source| StoreError::Io {
                    path: dir.clone(),
                    action: "cannot read",
                    source,
                })?
                .path();
            let Some(service) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
            else {
                continue;
            };
            let bytes = fs::read(&path).map_err(|source| StoreError::Io {
                path: path.clone(),
                action: "cannot read",
                source,
            })?;
            let memory: ServiceMemory =
                serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                    path: path.clone(),
                    message: format!("line {} column {}: {e}", e.line(), e.column()),
                })?;
            memories.insert(service.to_owned(), memory);
        }
        Ok(memories)
    }

    /// Saves one service's memory atomically. Stack and service names are validated
    /// (`[a-z0-9-]`, `[A-Za-z0-9_-]`), so they are safe file names.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn save_memory_blocking(
        &self,
        stack: &str,
        service: &str,
        memory: &ServiceMemory,
    ) -> Result<(), StoreError> {
        let dir = self.memory_dir(stack);
        private_dir(&dir).map_err(|source| StoreError::Io {
            path: dir.clone(),
            action: "cannot create",
            source,
        })?;
        write_json(&dir.join(format!("{service}.json")), memory)
    }

    /// Runs `change` with the writer lock held. The store directory is created if needed.
    fn locked<T>(&self, change: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        private_dir(&self.dir).map_err(|source| StoreError::Io {
            path: self.dir.clone(),
            action: "cannot create",
            source,
        })?;
        let lock_path = self.dir.join("lock");
        let lock = {
            use std::os::unix::fs::OpenOptionsExt;
            OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .open(&lock_path)
        }
        .map_err(|source| StoreError::Io {
            path: lock_path.clone(),
            action: "cannot open lock",
            source,
        })?;
        let mut waited = Duration::ZERO;
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if waited < LOCK_WAIT => {
                    std::thread::sleep(LOCK_POLL);
                    waited += LOCK_POLL;
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(StoreError::Locked {
                        path: lock_path,
                        seconds: LOCK_WAIT.as_secs(),
                    });
                }
                Err(TryLockError::Error(source)) => {
                    return Err(StoreError::Io {
                        path: lock_path,
                        action: "cannot lock",
                        source,
                    });
                }
            }
        }
        // The lock is released when `lock` is dropped, on every path out of here.
        change()
    }

    fn apply_blocking(
        &self,
        incoming: Vec<Stack>,
        now: SystemTime,
        dry_run: bool,
    ) -> Result<Vec<Applied>, StoreError> {
        let plan = |stored: &[Stack]| merge(stored, incoming, now);
        if dry_run {
            return plan(&self.read()?);
        }
        self.locked(|| {
            let before = self.read_all()?;
            let applied = plan(&before.stacks)?;
            if applied.iter().all(|a| a.outcome == ApplyOutcome::Unchanged) {
                return Ok(applied);
            }
            let stacks = with_applied(&before.stacks, &applied);
            self.replace(before, stacks, now)?;
            Ok(applied)
        })
    }

    fn replace_stack_blocking(
        &self,
        stack: Stack,
        generation: u64,
        now: SystemTime,
    ) -> Result<Applied, StoreError> {
        self.locked(|| {
            let before = self.read_all()?;
            check_generation(&before.stacks, stack.name(), generation)?;
            let one = merge(&before.stacks, vec![stack], now)?.remove(0);
            if one.outcome != ApplyOutcome::Unchanged {
                let stacks = with_applied(&before.stacks, std::slice::from_ref(&one));
                self.replace(before, stacks, now)?;
            }
            Ok(one)
        })
    }

    fn delete_blocking(
        &self,
        names: &[String],
        now: SystemTime,
        dry_run: bool,
    ) -> Result<Vec<Stack>, StoreError> {
        if dry_run {
            return split_deleted(&self.read()?, names).map(|(removed, _)| removed);
        }
        self.locked(|| {
            let before = self.read_all()?;
            let (removed, kept) = split_deleted(&before.stacks, names)?;
            self.replace(before, kept, now)?;
            for stack in &removed {
                remove_if_present(&self.status_path(stack.name()))?;
            }
            Ok(removed)
        })
    }
}

impl FileStore {
    /// Who holds the controller lock now, as it wrote itself down, and since when (the time it
    /// wrote that, on taking the lock); `None` when no controller holds it.
    ///
    /// # Errors
    /// The lock file exists but cannot be opened.
    pub fn controller_holder(&self) -> Result<Option<(String, Option<SystemTime>)>, StoreError> {
        let path = self.dir.join("controller.lock");
        let file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StoreError::Io {
                    path,
                    action: "cannot open lock",
                    source,
                });
            }
        };
        match file.try_lock() {
            // Free: nobody holds it (taking it for a moment is harmless; dropping releases it).
            Ok(()) => Ok(None),
            Err(_) => Ok(Some((
                fs::read_to_string(&path)
                    .map(|h| h.trim().to_owned())
                    .unwrap_or_default(),
                file.metadata().and_then(|m| m.modified()).ok(),
            ))),
        }
    }
}

/// The controller's hold on a file store: released when dropped (or when the process dies, since
/// it is an advisory lock on an open file).
#[derive(Debug)]
pub struct ControllerLock {
    /// The open lock file; the lock lives as long as it.
    _file: File,
}

impl FileStore {
    /// Takes the controller lock for this process's lifetime, writing `holder` (pid, host, since)
    /// into it.
    ///
    /// # Errors
    /// [`StoreError::ControllerRunning`] naming the holder when another controller has it; I/O.
    pub fn lock_controller(&self, holder: &str) -> Result<ControllerLock, StoreError> {
        private_dir(&self.dir).map_err(|source| StoreError::Io {
            path: self.dir.clone(),
            action: "cannot create",
            source,
        })?;
        let path = self.dir.join("controller.lock");
        let mut file = {
            use std::os::unix::fs::OpenOptionsExt;
            OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .mode(0o600)
                .open(&path)
        }
        .map_err(|source| StoreError::Io {
            path: path.clone(),
            action: "cannot open lock",
            source,
        })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(&path)
                    .ok()
                    .map(|h| h.trim().to_owned())
                    .filter(|h| !h.is_empty())
                    .unwrap_or_else(|| "a process that did not say who it is".to_owned());
                return Err(StoreError::ControllerRunning { path, holder });
            }
            Err(TryLockError::Error(source)) => {
                return Err(StoreError::Io {
                    path,
                    action: "cannot lock",
                    source,
                });
            }
        }
        let write = |file: &mut File| -> std::io::Result<()> {
            file.set_len(0)?;
            std::io::Seek::seek(file, std::io::SeekFrom::Start(0))?;
            file.write_all(holder.as_bytes())?;
            file.write_all(b"\n")?;
            file.sync_all()
        };
        write(&mut file).map_err(|source| StoreError::Io {
            path: path.clone(),
            action: "cannot write",
            source,
        })?;
        Ok(ControllerLock { _file: file })
    }
}

/// Runs blocking file work off the async executor.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(StoreError::Io {
            path: PathBuf::new(),
            action: "store task failed",
            source: std::io::Error::other(e.to_string()),
        })
    })
}

impl Store for FileStore {
    async fn list(&self) -> Result<Vec<Stack>, StoreError> {
        let store = self.clone();
        let mut stacks = blocking(move || store.read()).await?;
        stacks.sort_by(|a, b| a.name().cmp(b.name()));
        Ok(stacks)
    }

    async fn get(&self, name: &str) -> Result<Option<Stack>, StoreError> {
        let name = name.to_owned();
        Ok(self.list().await?.into_iter().find(|s| s.name() == name))
    }

    async fn apply(
        &self,
        stacks: Vec<Stack>,
        now: SystemTime,
        dry_run: bool,
    ) -> Result<Vec<Applied>, StoreError> {
        let store = self.clone();
        blocking(move || store.apply_blocking(stacks, now, dry_run)).await
    }

    async fn delete(
        &self,
        names: &[String],
        now: SystemTime,
        dry_run: bool,
    ) -> Result<Vec<Stack>, StoreError> {
        let store = self.clone();
        let names = names.to_vec();
        blocking(move || store.delete_blocking(&names, now, dry_run)).await
    }

    async fn replace_stack(
        &self,
        stack: Stack,
        generation: u64,
        now: SystemTime,
    ) -> Result<Applied, StoreError> {
        let store = self.clone();
        blocking(move || store.replace_stack_blocking(stack, generation, now)).await
    }

    async fn import(&self, stacks: Vec<Stack>, removals: Vec<Removal>) -> Result<(), StoreError> {
        let store = self.clone();
        blocking(move || {
            store.locked(|| {
                let before = store.read_all()?;
                if !before.stacks.is_empty() || !before.removals.is_empty() {
                    return Err(super::not_empty(&format!("file://{}", store.dir.display())));
                }
                store.write(&Contents { stacks, removals })
            })
        })
        .await
    }

    async fn removals(&self) -> Result<Vec<Removal>, StoreError> {
        let store = self.clone();
        blocking(move || store.read_removals()).await
    }

    async fn finish_removal(&self, removal: &Removal) -> Result<(), StoreError> {
        let store = self.clone();
        let removal = removal.clone();
        blocking(move || store.finish_removal_blocking(&removal)).await
    }

    async fn load_status(&self, stack: &str) -> Result<Option<StackStatus>, StoreError> {
        let store = self.clone();
        let stack = stack.to_owned();
        blocking(move || store.load_status_blocking(&stack)).await
    }

    async fn save_status(
        &self,
        stack: &str,
        status: Option<&StackStatus>,
    ) -> Result<(), StoreError> {
        let store = self.clone();
        let (stack, status) = (stack.to_owned(), status.cloned());
        blocking(move || store.save_status_blocking(&stack, status.as_ref())).await
    }

    async fn revision(&self) -> Result<String, StoreError> {
        let path = self.stacks_path();
        match fs::metadata(&path) {
            Ok(meta) => {
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                Ok(format!("{}:{modified}", meta.len()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok("absent".to_owned()),
            Err(source) => Err(StoreError::Io {
                path,
                action: "cannot read",
                source,
            }),
        }
    }

    async fn load_memory(
        &self,
        stack: &str,
    ) -> Result<BTreeMap<String, ServiceMemory>, StoreError> {
        let store = self.clone();
        let stack = stack.to_owned();
        blocking(move || store.load_memory_blocking(&stack)).await
    }

    async fn forget_memory(&self, stack: &str, service: &str) -> Result<(), StoreError> {
        let path = self.memory_dir(stack).join(format!("{service}.json"));
        blocking(move || remove_if_present(&path)).await
    }

    async fn save_memory(
        &self,
        stack: &str,
        service: &str,
        memory: &ServiceMemory,
    ) -> Result<(), StoreError> {
        let store = self.clone();
        let (stack, service, memory) = (stack.to_owned(), service.to_owned(), memory.clone());
        blocking(move || store.save_memory_blocking(&stack, &service, &memory)).await
    }
}

/// Removes a file; one already gone is fine.
fn remove_if_present(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StoreError::Io {
            path: path.to_path_buf(),
            action: "cannot remove",
            source,
        }),
    }
}

/// Creates `dir` and its missing parents readable by their owner only (0700): the store holds
/// every stack's spec and the controller's memory.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Creates (or truncates) `path` for writing, readable and writable by its owner only (0600).
pub fn private_file(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

/// Replaces `target` with `value` as pretty JSON, atomically: a temporary file beside it, fsync,
/// rename, then fsync of the directory, so a crash leaves the old contents or the new, never half.
fn write_json(target: &Path, value: &impl Serialize) -> Result<(), StoreError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| StoreError::Corrupt {
        path: target.to_path_buf(),
        message: format!("cannot encode: {e}"),
    })?;
    bytes.push(b'\n');
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("file");
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let io = |path: &Path, action: &'static str| {
        let path = path.to_path_buf();
        move |source| StoreError::Io {
            path,
            action,
            source,
        }
    };
    let result = (|| {
        let mut out = private_file(&temp).map_err(io(&temp, "cannot write"))?;
        out.write_all(&bytes).map_err(io(&temp, "cannot write"))?;
        out.sync_all().map_err(io(&temp, "cannot sync"))?;
        drop(out);
        fs::rename(&temp, target).map_err(io(target, "cannot replace"))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir, "cannot sync"))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}
