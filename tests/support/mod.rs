//! Helpers shared by the CLI tests: run the built `tug` against a private store.

#![allow(dead_code)] // each test binary uses a different subset

pub mod controller;
pub mod moto;

/// The stacks of a manifest file or directory of the repository, which must be valid.
pub fn example_stacks(path: &str) -> Vec<tugboat::model::Stack> {
    let sources =
        tugboat::manifest::load_sources(&[format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))])
            .expect("readable");
    tugboat::manifest::parse_sources(&sources).expect("valid")
}

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A private store directory and a way to run `tug` against it.
pub struct Tug {
    /// Keeps the temporary directory alive.
    _temp: tempfile::TempDir,
    /// The store directory (inside the temporary directory).
    pub store: PathBuf,
    /// Scratch space for files the test writes.
    pub scratch: PathBuf,
    /// Another store than the directory (`dynamodb://TABLE`), and the environment to reach it.
    pub remote: Option<(String, Vec<(&'static str, String)>)>,
}

/// What one run of `tug` did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The run exited with `code` and said `fragment` on standard error.
    pub fn assert_failure(&self, code: i32, fragment: &str) {
        assert_eq!(self.code, code, "exit code; stderr:\n{}", self.stderr);
        assert!(
            self.stderr.contains(fragment),
            "stderr lacks {fragment:?}:\n{}",
            self.stderr
        );
    }
}

impl Tug {
    pub fn new() -> Self {
        let temp = tempfile::tempdir().expect("temporary directory");
        let store = temp.path().join("store");
        let scratch = temp.path().join("scratch");
        std::fs::create_dir_all(&scratch).expect("scratch directory");
        Self {
            _temp: temp,
            store,
            scratch,
            remote: None,
        }
    }

    /// Runs against the store `uri` (`dynamodb://TABLE`), with `env` (moto's endpoint and keys).
    pub fn on(uri: &str, env: Vec<(&'static str, String)>) -> Self {
        let mut tug = Self::new();
        tug.remote = Some((uri.to_owned(), env));
        tug
    }

    /// Runs against an existing store directory (which the caller keeps alive).
    pub fn with_store(store: &Path) -> Self {
        let mut tug = Self::new();
        tug.store = store.to_path_buf();
        tug
    }

    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tug"));
        command
            .env("TUG_STORE", format!("file://{}", self.store.display()))
            .env_remove("XDG_STATE_HOME")
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if let Some((uri, env)) = &self.remote {
            command
                .env("TUG_STORE", uri)
                .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        }
        command
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let output = self.command().args(args).output().expect("tug runs");
        finish(output)
    }

    /// One round of the controller on the simulated AWS (`--once`), on a free port.
    pub fn controller_once(&self) -> Run {
        self.run(&[
            "controller",
            "--cloud",
            "sim",
            "--once",
            "--listen",
            "127.0.0.1:0",
        ])
    }

    pub fn run_with_stdin(&self, args: &[&str], input: &[u8]) -> Run {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tug starts");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("stdin written");
        finish(child.wait_with_output().expect("tug finishes"))
    }

    pub fn write(&self, name: &str, text: &str) -> String {
        let path = self.scratch.join(name);
        std::fs::write(&path, text).expect("write scratch file");
        path.to_string_lossy().into_owned()
    }

    /// Every file under the store, with its bytes: to prove a failed command changed nothing.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut files = BTreeMap::new();
        collect(&self.store, &mut files);
        files
    }
}

fn collect(dir: &Path, files: &mut BTreeMap<PathBuf, Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else {
            files.insert(path.clone(), std::fs::read(&path).expect("read store file"));
        }
    }
}

fn finish(output: Output) -> Run {
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "tug panicked:\n{}",
        run.stderr
    );
    assert_ne!(
        run.code, 101,
        "tug exited with a panic code:\n{}",
        run.stderr
    );
    run
}
