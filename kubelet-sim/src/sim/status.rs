//! A simulated pod's state rendered as the `PodStatus` the kubelet writes
//! (`generateAPIPodStatus`, and the status manager's merge with what the API server has).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Container, ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::PodSim;
use crate::behaviour;
use crate::clock::Clock;

/// The conditions the kubelet owns (upstream's `PodConditionsByKubelet`); others
/// (`DisruptionTarget`, readiness gates) are kept as the API server has them.
pub const KUBELET_CONDITIONS: [&str; 5] = [
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
];

fn condition(
    type_: &str,
    ok: bool,
    reason: Option<String>,
    message: Option<String>,
) -> PodCondition {
    PodCondition {
        type_: type_.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        reason,
        message,
        ..Default::default()
    }
}

impl PodSim {
    /// The pod status the kubelet writes at `now`, given the pod as last observed
    /// (for conditions owned by others, transition times and `startTime`). `pod_ip`
    /// empty: the pod has no IP (yet).
    pub fn status(
        &self,
        pod: &Pod,
        clock: &Clock,
        now: Duration,
        host_ip: &str,
        pod_ip: &str,
    ) -> PodStatus {
        let old = pod.status.clone().unwrap_or_default();
        let phase = self.phase();
        let terminal = matches!(phase, "Succeeded" | "Failed");
        let init_statuses: Vec<ContainerStatus> = self
            .init
            .iter()
            .map(|c| c.api_status(clock, now, true))
            .collect();
        let statuses: Vec<ContainerStatus> = self
            .containers
            .iter()
            .map(|c| c.api_status(clock, now, false))
            .collect();

        let names = |list: Vec<&str>| format!("[{}]", list.join(" "));
        // PodReadyToStartContainers: the sandbox (and its IP) exists, until a finished
        // pod's is torn down.
        let ready_to_start = condition(
            "PodReadyToStartContainers",
            !(pod_ip.is_empty() || terminal && self.all_stopped()),
            None,
            None,
        );
        let incomplete: Vec<&str> = self
            .init
            .iter()
            .zip(&init_statuses)
            .filter(|(_, s)| !s.ready)
            .map(|(c, _)| c.name.as_str())
            .collect();
        let any_started = self.containers.iter().any(|c| {
            c.is_running() || c.last.is_some() || matches!(c.state, super::State::Terminated(_))
        });
        let initialized = if phase == "Succeeded" {
            condition("Initialized", true, Some("PodCompleted".into()), None)
        } else if incomplete.is_empty() || any_started {
            condition("Initialized", true, None, None)
        } else {
            condition(
                "Initialized",
                false,
                Some("ContainersNotInitialized".into()),
                Some(format!(
                    "containers with incomplete status: {}",
                    names(incomplete)
                )),
            )
        };
        let unready: Vec<&str> = statuses
            .iter()
            .filter(|s| !s.ready)
            .map(|s| s.name.as_str())
            .collect();
        let containers_ready = match phase {
            "Succeeded" => condition("ContainersReady", false, Some("PodCompleted".into()), None),
            "Failed" => condition("ContainersReady", false, Some("PodFailed".into()), None),
            _ if !unready.is_empty() => condition(
                "ContainersReady",
                false,
                Some("ContainersNotReady".into()),
                Some(format!(
                    "containers with unready status: {}",
                    names(unready)
                )),
            ),
            _ => condition("ContainersReady", true, None, None),
        };
        let ready = PodCondition {
            type_: "Ready".into(),
            ..containers_ready.clone()
        };
        // The kubelet runs only scheduled pods: PodScheduled is always True from it.
        let scheduled = condition("PodScheduled", true, None, None);

        // As the status manager merges: others' conditions first, then the kubelet's.
        let mut conditions: Vec<PodCondition> = old
            .conditions
            .iter()
            .flatten()
            .filter(|c| !KUBELET_CONDITIONS.contains(&c.type_.as_str()))
            .cloned()
            .collect();
        let others = conditions.len();
        conditions.extend([
            ready_to_start,
            initialized,
            ready,
            containers_ready,
            scheduled,
        ]);
        // Whole seconds, as the API server keeps them: what is read back compares equal.
        let seconds = |t: jiff::Timestamp| jiff::Timestamp::from_second(t.as_second()).unwrap_or(t);
        let now_wall = Time(seconds(clock.wall(now)));
        // The generation of the spec these conditions and this status describe (upstream's
        // PodObservedGenerationTracking, GA in v1.35).
        let generation = pod.metadata.generation.filter(|g| *g != 0);
        for c in conditions.iter_mut().skip(others) {
            c.observed_generation = generation;
            let previous = old.conditions.iter().flatten().find(|o| o.type_ == c.type_);
            c.last_transition_time = match previous {
                Some(p) if p.status == c.status => p
                    .last_transition_time
                    .clone()
                    .or_else(|| Some(now_wall.clone())),
                _ => Some(now_wall.clone()),
            };
            c.last_probe_time = previous.and_then(|p| p.last_probe_time.clone());
        }

        let ip = |ip: &str| (!ip.is_empty()).then(|| ip.to_string());
        let mut status = PodStatus {
            phase: Some(phase.to_string()),
            conditions: Some(conditions),
            host_ip: Some(host_ip.to_string()),
            host_ips: Some(vec![HostIP {
                ip: host_ip.to_string(),
            }]),
            pod_ip: ip(pod_ip),
            pod_ips: ip(pod_ip).map(|ip| vec![PodIP { ip }]),
            start_time: old
                .start_time
                .clone()
                .or_else(|| Some(Time(seconds(clock.wall(self.start))))),
            qos_class: Some(qos_class(pod).to_string()),
            container_statuses: Some(statuses),
            init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
            observed_generation: generation,
            ..old.clone()
        };
        if let Some((reason, message)) = &self.reason {
            status.reason = Some(reason.clone());
            status.message = Some(message.clone());
        }
        status
    }
}

/// Upstream's `GetPodQOS`: Guaranteed when every container's cpu and memory requests
/// equal their limits, BestEffort when nothing is requested or limited, else Burstable.
pub fn qos_class(pod: &Pod) -> &'static str {
    let Some(spec) = pod.spec.as_ref() else {
        return "BestEffort";
    };
    let all: Vec<&Container> = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in &all {
        let empty = BTreeMap::new();
        let requests = c
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .unwrap_or(&empty);
        let limits = c
            .resources
            .as_ref()
            .and_then(|r| r.limits.as_ref())
            .unwrap_or(&empty);
        let value =
            |m: &BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
             k: &str| {
                m.get(k)
                    .and_then(|q| behaviour::parse_quantity(&q.0))
                    .filter(|v| *v > 0.0)
            };
        for r in ["cpu", "memory"] {
            let (req, lim) = (value(requests, r), value(limits, r));
            any |= req.is_some() || lim.is_some();
            // A request defaults to its limit.
            let req = req.or(lim);
            if lim.is_none() || req != lim {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}
