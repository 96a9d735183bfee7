//! A service spec rendered to the task definition the controller registers, and its digest.

use sha2::{Digest, Sha256};

use crate::manifest::rules::effective_network_mode;
use crate::model::aws::{
    ContainerHealthCheckInput, ContainerInput, LogConfiguration, TaskDefinitionInput,
};

use crate::manifest::spec::{
    ContainerSpec, LaunchType, NetworkMode, PortProtocol, ServiceSpec, TaskDefinitionSpec,
};
use crate::model::image::{ImageDigests, ImageRef};

/// The task definition a service's spec renders to; `image` replaces the first essential
/// container's image (a deployment of a new version).
pub fn render(service: &ServiceSpec, image: Option<&str>) -> TaskDefinitionInput {
    let task = &service.task_definition;
    let mut replaced = false;
    let awsvpc = effective_network_mode(service) == NetworkMode::Awsvpc;
    TaskDefinitionInput {
        family: task.family.clone(),
        cpu: task.cpu,
        memory: task.memory,
        network_mode: match effective_network_mode(service) {
            NetworkMode::Awsvpc => "awsvpc",
            NetworkMode::Bridge => "bridge",
            NetworkMode::Host => "host",
            NetworkMode::None => "none",
        }
        .to_owned(),
        requires_compatibilities: match service.launch() {
            LaunchType::Fargate => vec!["FARGATE".to_owned()],
            LaunchType::Ec2 => Vec::new(),
        },
        execution_role_arn: task.execution_role_arn.clone(),
        task_role_arn: task.task_role_arn.clone(),
        tags: task.tags.clone(),
        containers: task
            .containers
            .iter()
            .map(|c| {
                let image = match image {
                    Some(new) if c.essential && !replaced => {
                        replaced = true;
                        new.to_owned()
                    }
                    _ => c.image.clone(),
                };
                ContainerInput {
                    name: c.name.clone(),
                    image,
                    essential: c.essential,
                    ports: c.port_mappings.iter().map(|p| p.container_port).collect(),
                    // Normalised as ECS reports them back: no host port, 0 (dynamic) and, in
                    // awsvpc mode, the container port itself all mean the same.
                    host_ports: c
                        .port_mappings
                        .iter()
                        .filter_map(|p| {
                            let host = p.host_port?;
                            (host != 0 && !(awsvpc && host == p.container_port))
                                .then_some((p.container_port, host))
                        })
                        .collect(),
                    udp_ports: c
                        .port_mappings
                        .iter()
                        .filter(|p| p.protocol == PortProtocol::Udp)
                        .map(|p| p.container_port)
                        .collect(),
                    cpu: c.cpu,
                    memory: c.memory,
                    memory_reservation: c.memory_reservation,
                    environment: c.environment.clone(),
                    command: c.command.clone(),
                    ..extras(c)
                }
            })
            .collect(),
    }
}

/// The container fields beyond image, ports and resources, with ECS's defaults made explicit.
fn extras(c: &ContainerSpec) -> ContainerInput {
    ContainerInput {
        secrets: c
            .secrets
            .iter()
            .map(|s| (s.name.clone(), s.value_from.clone()))
            .collect(),
        log_configuration: c.log_configuration.as_ref().map(|l| LogConfiguration {
            log_driver: l.log_driver.as_str().to_owned(),
            options: l.options.clone(),
            secret_options: l
                .secret_options
                .iter()
                .map(|s| (s.name.clone(), s.value_from.clone()))
                .collect(),
        }),
        health_check: c.health_check.as_ref().map(|h| ContainerHealthCheckInput {
            command: h.command.clone(),
            interval: h.interval,
            timeout: h.timeout,
            retries: h.retries,
            start_period: h.start_period,
        }),
        stop_timeout: c.stop_timeout,
        depends_on: c
            .depends_on
            .iter()
            .map(|d| (d.container_name.clone(), d.condition.as_str().to_owned()))
            .collect(),
        ulimits: c
            .ulimits
            .iter()
            .map(|u| (u.name.as_str().to_owned(), (u.soft_limit, u.hard_limit)))
            .collect(),
        readonly_root_filesystem: c.readonly_root_filesystem,
        user: c.user.clone(),
        ..ContainerInput::default()
    }
}

/// `source` with every image that names a tag pinned to the digest its container ran
/// (`NAME@sha256:…`), where `images` knows it; `None` when nothing changes (every image pinned
/// already, or no digest known). What a rollback to a verified revision and `tug rollout undo`
/// deploy: ECS resolves a tag again at every new deployment, and the tag may have moved.
pub fn pinned(source: &TaskDefinitionSpec, images: &ImageDigests) -> Option<TaskDefinitionSpec> {
    let mut pinned = source.clone();
    let mut changed = false;
    for c in &mut pinned.containers {
        let reference = ImageRef::parse(&c.image);
        if reference.digest.is_some() {
            continue;
        }
        if let Some(digest) = images.get(&c.name) {
            c.image = reference.pinned(digest);
            changed = true;
        }
    }
    changed.then_some(pinned)
}

/// SHA-256 of the definition's canonical JSON, as 64 hex digits: equal definitions, equal digests.
pub fn digest(definition: &TaskDefinitionInput) -> String {
    sha256_hex(&serde_json::to_vec(definition).unwrap_or_default())
}

/// SHA-256 of `bytes` as 64 lowercase hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(64);
    for b in Sha256::digest(bytes) {
        text.push(char::from(HEX[usize::from(b >> 4)]));
        text.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    text
}

/// The first 12 hex digits of a digest: enough to tell revisions apart in messages.
pub fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definition(image: &str) -> TaskDefinitionInput {
        TaskDefinitionInput {
            family: "f".into(),
            cpu: Some(256),
            memory: Some(512),
            network_mode: "awsvpc".into(),
            containers: vec![ContainerInput {
                name: "c".into(),
                image: image.into(),
                essential: true,
                ports: vec![80],
                ..ContainerInput::default()
            }],
            ..TaskDefinitionInput::default()
        }
    }

    #[test]
    fn digests_follow_content() {
        assert_eq!(digest(&definition("a")), digest(&definition("a")));
        assert_ne!(digest(&definition("a")), digest(&definition("b")));
        assert_eq!(digest(&definition("a")).len(), 64);
    }
}
