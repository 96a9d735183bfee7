//! Store errors: each says which file or stack, and whether trying again can help.

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
            StoreError::Corrupt { .. }
            | StoreError::Conflict { .. }
            | StoreError::NotFound { .. }
            | StoreError::Unsupported { .. } => false,
        }
    }

    /// Whether the caller's input is at fault (exit 1) rather than the environment (exit 2).
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            StoreError::Conflict { .. } | StoreError::NotFound { .. }
        )
    }
}
