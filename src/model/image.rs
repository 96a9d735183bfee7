//! Container images: a reference (by tag or by digest), the digests tasks were seen running, and
//! what an ECR lifecycle policy could do to a verified image.
//!
//! A tag moves; a digest does not. ECS resolves a task definition's tags to digests when a
//! deployment starts and keeps them for that deployment's tasks ("Container image resolution",
//! ECS Developer Guide), but a *new* deployment of the same revision (tugboat's rollback by
//! UpdateService, an undo) resolves them again. So the verified-good ledger records the digests the
//! verified tasks ran, and a rollback or an undo deploys those digests, never the tags.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::model::aws::TaskDefinitionId;

/// Container name → image digest (`sha256:…`).
pub type ImageDigests = BTreeMap<String, String>;

/// An image reference split into its parts: `NAME[:TAG][@DIGEST]`, where NAME may start with a
/// registry host (and port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageRef<'a> {
    /// Registry and repository, without tag or digest.
    pub name: &'a str,
    /// The tag, if the reference has one.
    pub tag: Option<&'a str>,
    /// The digest, if the reference pins one.
    pub digest: Option<&'a str>,
}

impl<'a> ImageRef<'a> {
    /// Splits `image`.
    pub fn parse(image: &'a str) -> Self {
        let (rest, digest) = match image.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (image, None),
        };
        // A colon after the last slash is a tag; one before it is a registry port.
        let slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[slash..].rfind(':') {
            Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
            None => (rest, None),
        };
        Self { name, tag, digest }
    }

    /// The reference pinned to `digest`: `NAME@DIGEST` (the tag dropped: it says nothing once the
    /// digest is given, and a reader might believe it).
    pub fn pinned(&self, digest: &str) -> String {
        format!("{}@{digest}", self.name)
    }

    /// The ECR repository it names, if it is a private ECR image
    /// (`ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]/REPOSITORY`).
    pub fn ecr_repository(&self) -> Option<EcrRepository> {
        let (host, repository) = self.name.split_once('/')?;
        let mut parts = host.split('.');
        let registry_id = parts.next()?;
        let (dkr, ecr, region) = (parts.next()?, parts.next()?, parts.next()?);
        let domain: Vec<&str> = parts.collect();
        let aws = matches!(
            domain.as_slice(),
            ["amazonaws", "com"] | ["amazonaws", "com", "cn"]
        );
        (registry_id.len() == 12
            && registry_id.bytes().all(|b| b.is_ascii_digit())
            && dkr == "dkr"
            && ecr == "ecr"
            && aws
            && !repository.is_empty())
        .then(|| EcrRepository {
            registry_id: registry_id.to_owned(),
            region: region.to_owned(),
            name: repository.to_owned(),
        })
    }
}

/// Whether `digest` has the shape of an OCI content digest (`sha256:` and 64 hex digits).
pub fn is_digest(digest: &str) -> bool {
    digest
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A digest shortened for people: `sha256:` and the first 12 hex digits.
pub fn short_digest(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

/// Digests in words: `web sha256:0123456789ab, sidecar sha256:…`.
pub fn describe_digests(images: &ImageDigests) -> String {
    images
        .iter()
        .map(|(container, digest)| format!("{container} {}", short_digest(digest)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A private ECR repository.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EcrRepository {
    /// The registry: the account id.
    pub registry_id: String,
    /// Its region.
    pub region: String,
    /// The repository name (may contain slashes).
    pub name: String,
}

impl std::fmt::Display for EcrRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} ({})", self.registry_id, self.name, self.region)
    }
}

/// The images one running task reported (DescribeTasks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskImages {
    /// The task's revision.
    pub task_definition: TaskDefinitionId,
    /// Container name → the digest ECS reported (`None`: none reported yet, or by this endpoint).
    pub containers: BTreeMap<String, Option<String>>,
}

/// The one digest per container that the running tasks of `revision` report, or why there is
/// none: the tasks disagree (a tag moved while ECS did not keep its digest).
///
/// # Errors
/// The container whose tasks run more than one digest, in words.
pub fn digests_of(
    tasks: &[TaskImages],
    revision: &TaskDefinitionId,
) -> Result<ImageDigests, String> {
    let mut seen: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
    for task in tasks.iter().filter(|t| t.task_definition == *revision) {
        for (container, digest) in &task.containers {
            if let Some(d) = digest {
                seen.entry(container).or_default().insert(d);
            }
        }
    }
    let mut digests = ImageDigests::new();
    for (container, found) in seen {
        if found.len() > 1 {
            return Err(format!(
                "tasks of {revision} run {} images of container {container} ({})",
                found.len(),
                found
                    .iter()
                    .map(|d| short_digest(d))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if let Some(d) = found.into_iter().next() {
            digests.insert(container.to_owned(), d.to_owned());
        }
    }
    Ok(digests)
}

/// An ECR lifecycle policy (only the parts that decide what it selects).
#[derive(Debug, Deserialize)]
struct Policy {
    #[serde(default)]
    rules: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    rule_priority: i64,
    #[serde(default)]
    description: Option<String>,
    selection: Selection,
    action: RuleAction,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Selection {
    tag_status: String,
    #[serde(default)]
    tag_prefix_list: Vec<String>,
    #[serde(default)]
    tag_pattern_list: Vec<String>,
    count_type: String,
    #[serde(default)]
    count_number: Option<u64>,
    #[serde(default)]
    storage_class: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RuleAction {
    #[serde(rename = "type")]
    kind: String,
}

/// What each rule of an ECR lifecycle `policy` could do to a verified image that the task
/// definition names as `image` (by `tag`, or by digest when `tag` is `None`): one sentence per
/// rule that could expire (delete) or archive it. Conservative: a rule counts when it could select
/// the image in some future (`untagged` rules, once a tag moves away; `tagged` rules whose
/// prefixes or patterns the tag matches; `any`), since a deleted verified image cannot be rolled
/// back to. Rules on archived images (`storageClass: archive`) count only for expiry of what is
/// already archived, so they are left out.
///
/// # Errors
/// The policy text is not a lifecycle policy.
pub fn lifecycle_risks(policy: &str, tag: Option<&str>) -> Result<Vec<String>, String> {
    let policy: Policy = serde_json::from_str(policy)
        .map_err(|e| format!("the lifecycle policy is not readable: {e}"))?;
    let mut rules: Vec<&Rule> = policy.rules.iter().collect();
    rules.sort_by_key(|r| r.rule_priority);
    let mut risks = Vec::new();
    for rule in rules {
        let s = &rule.selection;
        if s.storage_class.as_deref() == Some("archive") {
            continue;
        }
        let selects = match s.tag_status.as_str() {
            "any" => Some("selects every image".to_owned()),
            "untagged" => Some(match tag {
                Some(t) => {
                    format!("selects untagged images, which it becomes once tag `{t}` moves")
                }
                None => "selects untagged images, which it is once no tag names it".to_owned(),
            }),
            "tagged" => match tag {
                Some(t) => {
                    let prefix = s.tag_prefix_list.iter().find(|p| t.starts_with(p.as_str()));
                    let pattern = s.tag_pattern_list.iter().find(|p| wildcard(p, t));
                    prefix
                        .map(|p| format!("selects tags starting with `{p}`, as `{t}` does"))
                        .or_else(|| {
                            pattern.map(|p| format!("selects tags matching `{p}`, as `{t}` does"))
                        })
                }
                None => Some(
                    "selects tagged images, and the digest's tags are not known here".to_owned(),
                ),
            },
            _ => None,
        };
        let Some(selects) = selects else {
            continue;
        };
        let n = s.count_number.unwrap_or(0);
        let when = match s.count_type.as_str() {
            "imageCountMoreThan" => format!("once more than {n} images match"),
            "sinceImagePushed" => format!("{n} days after it was pushed"),
            "sinceImagePulled" => format!("{n} days after it was last pulled"),
            other => format!("by `{other}`"),
        };
        let does = match rule.action.kind.as_str() {
            "expire" => "expire (delete) it",
            "transition" => "archive it (an archived image cannot be pulled until restored)",
            _ => continue,
        };
        let label = rule
            .description
            .as_deref()
            .filter(|d| !d.is_empty())
            .map_or_else(String::new, |d| format!(" ({d})"));
        risks.push(format!(
            "rule {}{label} {selects}, and would {does} {when}",
            rule.rule_priority
        ));
    }
    Ok(risks)
}

/// ECR's tag patterns: `*` matches any run of characters, everything else itself.
fn wildcard(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn references_split_into_name_tag_and_digest() {
        let cases = [
            ("nginx", "nginx", None, None),
            ("nginx:1.27", "nginx", Some("1.27"), None),
            (
                "localhost:5000/team/app:v2",
                "localhost:5000/team/app",
                Some("v2"),
                None,
            ),
            ("localhost:5000/app", "localhost:5000/app", None, None),
            ("app@sha256:ab", "app", None, Some("sha256:ab")),
            ("app:v1@sha256:ab", "app", Some("v1"), Some("sha256:ab")),
        ];
        for (image, name, tag, digest) in cases {
            assert_eq!(
                ImageRef::parse(image),
                ImageRef { name, tag, digest },
                "{image}"
            );
        }
        assert_eq!(
            ImageRef::parse("registry:5000/app:v1").pinned(DIGEST),
            format!("registry:5000/app@{DIGEST}")
        );
    }

    #[test]
    fn only_private_ecr_images_name_a_repository() {
        let ecr = ImageRef::parse("123456789012.dkr.ecr.us-east-2.amazonaws.com/team/app:1.0.0");
        assert_eq!(
            ecr.ecr_repository(),
            Some(EcrRepository {
                registry_id: "123456789012".into(),
                region: "us-east-2".into(),
                name: "team/app".into(),
            })
        );
        for other in [
            "public.ecr.aws/nginx/nginx:1.27",
            "nginx:1.27",
            "12345.dkr.ecr.us-east-1.amazonaws.com/app",
            "123456789012.dkr.ecr.us-east-1.example.com/app",
        ] {
            assert_eq!(ImageRef::parse(other).ecr_repository(), None, "{other}");
        }
        assert!(
            ImageRef::parse("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app")
                .ecr_repository()
                .is_some()
        );
    }

    #[test]
    fn digests_must_agree_across_the_revisions_tasks() {
        let id = |n| TaskDefinitionId {
            family: "app".into(),
            revision: n,
        };
        let task = |n, digest: Option<&str>| TaskImages {
            task_definition: id(n),
            containers: [("web".to_owned(), digest.map(str::to_owned))].into(),
        };
        let other = DIGEST.replace("0123", "ffff");
        let tasks = [task(1, Some(DIGEST)), task(1, None), task(2, Some(&other))];
        assert_eq!(
            digests_of(&tasks, &id(1)),
            Ok([("web".to_owned(), DIGEST.to_owned())].into())
        );
        let mixed = [task(1, Some(DIGEST)), task(1, Some(&other))];
        let err = digests_of(&mixed, &id(1)).expect_err("two digests");
        assert!(err.contains("2 images of container web"), "{err}");
        assert_eq!(
            digests_of(&[task(1, None)], &id(1)),
            Ok(ImageDigests::new())
        );
        assert!(is_digest(DIGEST) && !is_digest("sha256:xyz"));
        assert_eq!(short_digest(DIGEST), "sha256:0123456789ab");
    }

    #[test]
    fn lifecycle_rules_that_could_remove_a_verified_image_are_named() {
        let policy = r#"{"rules": [
            {"rulePriority": 2, "description": "old untagged",
             "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14},
             "action": {"type": "expire"}},
            {"rulePriority": 1,
             "selection": {"tagStatus": "tagged", "tagPatternList": ["release-*-rc"], "countType": "imageCountMoreThan", "countNumber": 5},
             "action": {"type": "expire"}},
            {"rulePriority": 3,
             "selection": {"tagStatus": "tagged", "tagPrefixList": ["dev"], "countType": "imageCountMoreThan", "countNumber": 1},
             "action": {"type": "expire"}},
            {"rulePriority": 4,
             "selection": {"tagStatus": "any", "countType": "sinceImagePulled", "countUnit": "days", "countNumber": 90},
             "action": {"type": "transition", "targetStorageClass": "archive"}},
            {"rulePriority": 5,
             "selection": {"tagStatus": "any", "storageClass": "archive", "countType": "sinceImageTransitioned", "countUnit": "days", "countNumber": 365},
             "action": {"type": "expire"}}
        ]}"#;
        let risks = lifecycle_risks(policy, Some("release-7-rc")).expect("a policy");
        assert_eq!(risks.len(), 3, "{risks:#?}");
        assert!(risks[0].starts_with("rule 1 selects tags matching `release-*-rc`"));
        assert!(
            risks[0].ends_with("once more than 5 images match"),
            "{}",
            risks[0]
        );
        assert!(risks[1].contains("rule 2 (old untagged)"), "{}", risks[1]);
        assert!(risks[1].contains("once tag `release-7-rc` moves"));
        assert!(risks[1].ends_with("14 days after it was pushed"));
        assert!(risks[2].contains("archive it"), "{}", risks[2]);
        // Not matched by the prefix rule or the rule on archived images.
        assert!(
            !risks
                .iter()
                .any(|r| r.starts_with("rule 3") || r.starts_with("rule 5"))
        );
        let by_digest = lifecycle_risks(policy, None).expect("a policy");
        assert!(by_digest.iter().any(|r| r.contains("tags are not known")));
        assert!(lifecycle_risks("{", None).is_err());
        assert_eq!(
            lifecycle_risks(r#"{"rules": []}"#, Some("v1")),
            Ok(Vec::new())
        );
    }

    #[test]
    fn wildcards_match_as_ecr_documents_them() {
        assert!(wildcard("prod*", "prod-1"));
        assert!(wildcard("*", "anything"));
        assert!(wildcard("v*-*", "v1-2"));
        assert!(wildcard("exact", "exact"));
        assert!(!wildcard("exact", "exactly"));
        assert!(!wildcard("*-rc", "v1"));
        assert!(!wildcard("a*a", "a"));
    }
}
