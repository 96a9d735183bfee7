//! Store errors: each says which file, table or stack, and whether trying again can help.

use std::path::PathBuf;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading or writing a store file failed.
    #[error("store {path}: {action}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done ("cannot read", "cannot write").
        action: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The store's contents cannot be understood; nothing is written over them.
    #[error("store {path} is corrupt: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Another process held the store's lock for too long.
    #[error("store {path} is locked by another tug process; gave up after {seconds} s")]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        seconds: u64,
    },
    /// Another controller holds the store's controller lock.
    #[error(
        "another controller already runs on store {path}: {holder}; stop it first (two controllers must never both act)"
    )]
    ControllerRunning {
        /// The lock file.
        path: PathBuf,
        /// Who holds it (pid, host, since), as it wrote itself down.
        holder: String,
    },
    /// The change would give a service two owners.
    #[error("{message}")]
    Conflict {
        /// Which service, which stacks, what to do.
        message: String,
    },
    /// The named stacks are not in the store.
    #[error("stack{} not found: {}", if .names.len() == 1 { "" } else { "s" }, .names.join(", "))]
    NotFound {
        /// The missing names.
        names: Vec<String>,
    },
    /// A remote store (DynamoDB) refused or failed a request.
    #[error("store {store}: {action}: {message}")]
    Remote {
        /// The store URI.
        store: String,
        /// What was being done ("cannot read stack `web`").
        action: String,
        /// The service's answer, each cause once.
        message: String,
        /// Whether trying again can help (throttling, a 5xx, a timeout).
        retryable: bool,
    },
    /// The change cannot be written in one transaction; nothing was written.
    #[error("{message}")]
    TooLarge {
        /// Which limit, by how much, and what to do.
        message: String,
    },
    /// A stack changed between being read and being written (a compare-and-swap lost).
    #[error(
        "stack/{name} changed since it was read (generation {expected}, now {found}); run the command again"
    )]
    Changed {
        /// The stack.
        name: String,
        /// The generation it was read at.
        expected: u64,
        /// The generation stored now (0: deleted).
        found: u64,
    },
    /// Concurrent writers kept winning the race for the store.
    #[error("store {store}: {attempts} attempts lost the race to other writers; try again")]
    Contended {
        /// The store URI.
        store: String,
        /// How many times the change was re-read and re-merged.
        attempts: u32,
    },
    /// A write made under a controller lease that another controller now holds: refused.
    #[error("store {store}: this controller no longer holds the lease; the write was refused")]
    NotLeader {
        /// The store URI.
        store: String,
    },
    /// The store URI names something this build cannot open.
    #[error("store {uri}: {reason}")]
    Unsupported {
        /// The URI as given.
        uri: String,
        /// Why, and what to use instead.
        reason: String,
    },
}

impl StoreError {
    /// Whether the same call may succeed later (a lock released, a transient I/O error).
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Locked { .. } | StoreError::ControllerRunning { .. } => true,
            StoreError::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::WouldBlock
                    | std::io::ErrorKind::TimedOut
            ),
            StoreError::Remote { retryable, .. } => *retryable,
            // Refused while the lease moved on: the next leader (or this one, renewed) retries.
            StoreError::Contended { .. } | StoreError::NotLeader { .. } => true,
            StoreError::Corrupt { .. }
            | StoreError::Conflict { .. }
            | StoreError::NotFound { .. }
            | StoreError::TooLarge { .. }
            | StoreError::Changed { .. }
            | StoreError::Unsupported { .. } => false,
        }
    }

    /// Whether the caller's input is at fault (exit 1) rather than the environment (exit 2).
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            StoreError::Conflict { .. }
                | StoreError::NotFound { .. }
                | StoreError::TooLarge { .. }
                | StoreError::Changed { .. }
        )
    }
}
