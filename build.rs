//! Build facts for `tug version`: the git commit (from `TUG_GIT_COMMIT`, else the checkout's
//! HEAD, else `unknown`), the build date (`SOURCE_DATE_EPOCH` when set, for reproducible builds,
//! else the time this script ran) and the AWS SDK crates' versions, read from Cargo.lock.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    println!("cargo:rerun-if-env-changed=TUG_GIT_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");

    let commit = std::env::var("TUG_GIT_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| {
            let out = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=TUG_GIT_COMMIT={commit}");

    let seconds = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(|| {
            #[allow(clippy::disallowed_methods)] // the build's own time is the fact reported
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    println!(
        "cargo:rustc-env=TUG_BUILD_DATE={}",
        humantime::format_rfc3339_seconds(UNIX_EPOCH + std::time::Duration::from_secs(seconds))
    );

    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let mut sdks = Vec::new();
    let mut name: Option<String> = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_owned());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take())
            && (n.starts_with("aws-sdk-") || n == "aws-config" || n == "aws-smithy-runtime")
        {
            sdks.push(format!("{n}={}", v.trim_matches('"')));
        }
    }
    sdks.sort();
    sdks.dedup();
    println!("cargo:rustc-env=TUG_AWS_SDKS={}", sdks.join(","));
}
