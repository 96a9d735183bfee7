//! A service spec rendered to the task definition the controller registers, and its digest.

use sha2::{Digest, Sha256};

use crate::manifest::rules::effective_network_mode;
use crate::model::aws::{ContainerInput, TaskDefinitionInput};
use std::collections::BTreeMap;

use crate::manifest::spec::{LaunchType, NetworkMode, PortProtocol, ServiceSpec};

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
        requires_compatibilities: match service.launch_type {
            LaunchType::Fargate => vec!["FARGATE".to_owned()],
            LaunchType::Ec2 => Vec::new(),
        },
        execution_role_arn: task.execution_role_arn.clone(),
        task_role_arn: task.task_role_arn.clone(),
        tags: BTreeMap::new(),
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
                }
            })
            .collect(),
    }
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
