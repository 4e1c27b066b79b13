//! Observed state: one snapshot of what an engine runs for a project, as plain values. The engine
//! adapter fills it; reconcile reads it. The engine is the database: there is no state file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl RunState {
    pub fn parse(s: &str) -> RunState {
        match s {
            "running" => RunState::Running,
            "paused" => RunState::Paused,
            "restarting" => RunState::Restarting,
            "removing" => RunState::Removing,
            "exited" => RunState::Exited,
            "dead" => RunState::Dead,
            _ => RunState::Created,
        }
    }

    pub fn is_running(self) -> bool {
        matches!(self, RunState::Running | RunState::Restarting)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Starting,
    Healthy,
    Unhealthy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedPort {
    pub private_port: u16,
    pub public_port: Option<u16>,
    pub host_ip: Option<String>,
    pub protocol: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedContainer {
    pub id: String,
    pub name: String,
    pub service: String,
    pub number: u32,
    pub oneoff: bool,
    pub config_hash: Option<String>,
    /// Image reference as configured (`10.200.0.1:5000/books-ms`).
    pub image: String,
    /// Image id the container runs (`sha256:...`).
    pub image_id: String,
    pub command: String,
    pub state: RunState,
    /// `Up 3 minutes`, `Exited (137) 2 seconds ago`: the engine's status text.
    pub status: String,
    pub exit_code: Option<i64>,
    pub health: Option<Health>,
    pub created: i64,
    pub ports: Vec<ObservedPort>,
    pub labels: BTreeMap<String, String>,
}

impl ObservedContainer {
    /// Replica `number` of `service`, named `name`, running, with nothing else known (no id,
    /// image, ports or labels): what a listing or a test starts from and fills in.
    pub fn running(service: &str, number: u32, name: &str) -> ObservedContainer {
        ObservedContainer {
            id: String::new(),
            name: name.to_string(),
            service: service.to_string(),
            number,
            oneoff: false,
            config_hash: None,
            image: String::new(),
            image_id: String::new(),
            command: String::new(),
            state: RunState::Running,
            status: String::new(),
            exit_code: None,
            health: None,
            created: 0,
            ports: Vec::new(),
            labels: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedNetwork {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedVolume {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// Everything reconcile needs to know about one engine and one project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// Containers labelled with the project (one-offs included).
    pub containers: Vec<ObservedContainer>,
    /// Networks and volumes by engine name, whoever created them.
    pub networks: Vec<ObservedNetwork>,
    pub volumes: Vec<ObservedVolume>,
    /// Image reference → local image id, for the images the project uses; absent when the engine
    /// does not have it.
    pub images: BTreeMap<String, String>,
    /// Image reference → seconds since the local image was last tagged (pulled, built or
    /// tagged), for the images the project uses that the engine has.
    #[serde(default)]
    pub image_ages: BTreeMap<String, u64>,
}

impl Observed {
    /// The containers `up` manages for `service`: not one-offs, and not the blue-green colours,
    /// which releases manage.
    pub fn service_containers<'a>(
        &'a self,
        service: &'a str,
    ) -> impl Iterator<Item = &'a ObservedContainer> + 'a {
        self.containers.iter().filter(move |c| {
            c.service == service && !c.oneoff && !c.labels.contains_key(crate::spec::labels::COLOR)
        })
    }

    pub fn network(&self, name: &str) -> Option<&ObservedNetwork> {
        self.networks.iter().find(|n| n.name == name)
    }

    pub fn volume(&self, name: &str) -> Option<&ObservedVolume> {
        self.volumes.iter().find(|v| v.name == name)
    }
}
