//! Access to the moto server `scripts/test` starts (`TUG_MOTO_URL`, `TUG_MOTO_PYTHON`). The tests
//! that need it are `#[ignore]`d, so a plain `cargo test` lists them as ignored rather than
//! passing them; `scripts/test` runs them with `--include-ignored`, and there a missing server
//! fails them.

use std::process::Command;

/// The moto server and the Python beside it.
pub struct Moto {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The virtual environment's Python (boto3, for fixtures).
    pub python: String,
}

impl Moto {
    /// The server.
    ///
    /// # Panics
    /// Without one: the test was asked for (`--include-ignored`) and cannot run.
    pub fn get() -> Moto {
        match (
            std::env::var("TUG_MOTO_URL"),
            std::env::var("TUG_MOTO_PYTHON"),
        ) {
            (Ok(url), Ok(python)) => Moto { url, python },
            _ => panic!(
                "no moto server: TUG_MOTO_URL and TUG_MOTO_PYTHON are not set (scripts/test starts one)"
            ),
        }
    }

    /// Creates a VPC, subnets, a security group, a load balancer, `groups` target groups and a
    /// cluster named `PREFIX-cluster`; returns their ids (see tests/moto/fixtures.py).
    pub fn fixtures(&self, prefix: &str, groups: &[&str]) -> serde_json::Value {
        let mut args = vec![prefix];
        args.extend_from_slice(groups);
        self.script(&args)
    }

    /// Runs tests/moto/fixtures.py with `args`; its JSON output.
    pub fn script(&self, args: &[&str]) -> serde_json::Value {
        let output = Command::new(&self.python)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/moto/fixtures.py"
            ))
            .arg(&self.url)
            .args(args)
            .output()
            .expect("python runs");
        assert!(
            output.status.success(),
            "fixtures.py {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("fixtures print JSON")
    }

    /// Deletes a target group (and the listeners forwarding to it) out of band.
    pub fn delete_target_group(&self, name: &str) {
        self.script(&["--delete-target-group", name]);
    }

    /// An SDK configuration for moto: static test credentials, us-east-1, no retries (a retried
    /// 500 would repeat a side effect).
    pub async fn config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.url)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await
    }

    /// Environment for a `tug` process pointed at moto.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.url.clone()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ]
    }
}

/// Seconds since the epoch: CloudWatch datapoints in moto carry real timestamps.
#[allow(clippy::disallowed_methods)] // moto's clock is the wall clock
pub fn epoch_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
