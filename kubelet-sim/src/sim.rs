//! One pod's simulated life: a pure state machine over simulated time.
//!
//! [`PodSim::step`] advances every container to `now` following its compiled
//! [`Behaviour`](crate::behaviour::Behaviour) and the pod's `restartPolicy`, as the
//! kubelet's sync loop would (`pkg/kubelet/kuberuntime/kuberuntime_manager.go`
//! `computePodActions`): init containers one at a time, each to completion; then the
//! regular containers; restarts with the exponential back-off upstream uses
//! (`CrashLoopBackOff`: the first restart at once, then 10 s doubling to 5 min, reset
//! after 10 min without a crash). [`PodSim::status`] renders the state as the kubelet
//! writes `PodStatus` (`pkg/kubelet/kubelet_pods.go` `generateAPIPodStatus`,
//! `pkg/kubelet/status/generate.go`). Along the way it collects what the container
//! printed ([`LogEvent`]) and the Events upstream's kubelet records ([`SimEvent`]:
//! Pulling, Pulled, Created, Started, Killing, Unhealthy, BackOff, Failed). No I/O and
//! no clock here: time is passed in, so tests drive it directly.
//!
//! Probes are evaluated in closed form rather than tick by tick: a probe runs at
//! `start + initialDelaySeconds + k * periodSeconds`; the model says from when it
//! succeeds (or fails), and the threshold counts say at which tick the result flips.
//! Worked example: readiness probe `initialDelaySeconds: 5, periodSeconds: 10,
//! successThreshold: 2` with `kubesim.io/ready-after: 12s` probes at 5, 15, 25 s; the
//! one at 5 s fails (one `Unhealthy` Event), 15 s is the first success, 25 s the
//! second, so the container is Ready at 25 s.

mod container;
mod status;

use std::collections::HashSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod, PodStatus};

pub use container::{
    BACKOFF_INITIAL, BACKOFF_MAX, ContainerSim, Probe, STATUS_UNKNOWN, State, go_duration,
    hex_digest, image_ref,
};
pub use status::{KUBELET_CONDITIONS, qos_class};

use crate::clock::Clock;

/// A line a container printed: which container instance (`container_id`), when, what;
/// `ends`: its last line (it exited).
#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent {
    pub container: String,
    pub container_id: String,
    pub at: Duration,
    pub text: String,
    pub ends: bool,
}

/// An Event the kubelet records about the pod (`field_path`: about one of its
/// containers), `count` times, the last at `at`.
#[derive(Debug, Clone, PartialEq)]
pub struct SimEvent {
    pub field_path: Option<String>,
    pub at: Duration,
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
    pub count: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

/// Upstream's minimum time a container gets between SIGTERM and SIGKILL
/// (`minimumGracePeriodInSeconds`).
const MINIMUM_GRACE: Duration = Duration::from_secs(2);

/// One pod's simulation.
#[derive(Debug, Clone)]
pub struct PodSim {
    pub uid: String,
    name: String,
    namespace: String,
    pub init: Vec<ContainerSim>,
    pub containers: Vec<ContainerSim>,
    restart_policy: RestartPolicy,
    /// When the kubelet admitted the pod.
    pub start: Duration,
    active_deadline: Option<Duration>,
    /// Pod-level terminal reason and message (`DeadlineExceeded`).
    reason: Option<(String, String)>,
    /// Phase once terminal: never leaves it.
    terminal: Option<&'static str>,
    /// Set once the pod is being deleted, with the grace period given.
    pub terminating: bool,
    grace: Option<Duration>,
    /// Images present on the node (pulled images are added).
    pub images: HashSet<String>,
    pub logs: Vec<LogEvent>,
    pub events: Vec<SimEvent>,
}

impl PodSim {
    /// A pod admitted at simulated time `start` on a node holding `images`.
    pub fn new(pod: &Pod, start: Duration, images: HashSet<String>) -> PodSim {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let spec = pod.spec.clone().unwrap_or_default();
        let init: Vec<ContainerSim> = spec
            .init_containers
            .iter()
            .flatten()
            .map(|c| ContainerSim::new(pod, &uid, c, true))
            .collect();
        let mut containers: Vec<ContainerSim> = spec
            .containers
            .iter()
            .map(|c| ContainerSim::new(pod, &uid, c, false))
            .collect();
        let mut events = Vec::new();
        match init.is_empty() {
            true => containers
                .iter_mut()
                .for_each(|c| c.create(start, "ContainerCreating", &images, &mut events)),
            false => containers
                .iter_mut()
                .for_each(|c| c.state = State::waiting("PodInitializing", None)),
        }
        let restart_policy = match spec.restart_policy.as_deref() {
            Some("Never") => RestartPolicy::Never,
            Some("OnFailure") => RestartPolicy::OnFailure,
            _ => RestartPolicy::Always,
        };
        let mut sim = PodSim {
            uid,
            name: pod.metadata.name.clone().unwrap_or_default(),
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            init,
            containers,
            restart_policy,
            start,
            active_deadline: spec
                .active_deadline_seconds
                .map(|s| Duration::from_secs(s.max(0).unsigned_abs())),
            reason: None,
            terminal: None,
            terminating: false,
            grace: None,
            images,
            logs: Vec::new(),
            events,
        };
        if let Some(first) = sim.init.first_mut() {
            first.create(start, "PodInitializing", &sim.images, &mut sim.events);
        }
        sim
    }

    /// The pod's IP, for probe messages.
    pub fn set_pod_ip(&mut self, ip: &str) {
        for c in self.init.iter_mut().chain(self.containers.iter_mut()) {
            c.pod_ip = ip.to_string();
        }
    }

    /// Take over a pod a previous kubelet-sim process ran (its status as last
    /// written), as a restarted kubelet finds its containers still there: running
    /// containers keep running since their `startedAt`, restart counts and last
    /// terminations are kept, and whatever should run next is started at `now`.
    pub fn adopt(&mut self, status: &PodStatus, clock: &Clock, now: Duration) {
        let adopt = |containers: &mut Vec<ContainerSim>,
                     statuses: &Option<Vec<ContainerStatus>>| {
            for c in containers.iter_mut() {
                if let Some(s) = statuses.iter().flatten().find(|s| s.name == c.name) {
                    c.adopt(s, clock, now);
                }
            }
        };
        adopt(&mut self.init, &status.init_container_statuses);
        adopt(&mut self.containers, &status.container_statuses);
        if let Some(started) = &status.start_time {
            self.start = clock.at_wall(started.0).min(now);
        }
        // What the previous process reported is not reported again.
        self.events.clear();
        self.logs.clear();
        let pod = (self.name.clone(), self.namespace.clone(), self.uid.clone());
        let (mut logs, mut events) = (Vec::new(), Vec::new());
        let policy = self.restart_policy;
        if self.initialized() {
            for c in &mut self.containers {
                resume(
                    c,
                    false,
                    policy,
                    now,
                    &pod,
                    &mut self.images,
                    &mut logs,
                    &mut events,
                );
            }
        } else if let Some(c) = self.init.iter_mut().find(|c| !c.succeeded()) {
            resume(
                c,
                true,
                policy,
                now,
                &pod,
                &mut self.images,
                &mut logs,
                &mut events,
            );
        }
        self.logs = logs;
        self.events = events;
    }

    fn restarts(&self, code: i32) -> bool {
        restarts(self.restart_policy, self.terminating, code)
    }

    /// Whether the pod is in a terminal phase.
    pub fn is_terminal(&self) -> bool {
        self.terminal.is_some()
    }

    /// Whether every container has stopped (nothing runs or will run).
    pub fn all_stopped(&self) -> bool {
        self.init
            .iter()
            .chain(&self.containers)
            .all(|c| !c.is_running())
    }

    fn initialized(&self) -> bool {
        self.init.iter().all(ContainerSim::succeeded)
    }

    /// Advance to `now`.
    pub fn step(&mut self, now: Duration) {
        if self.terminal.is_some() {
            return;
        }
        if let Some(deadline) = self.active_deadline.map(|d| self.start.saturating_add(d))
            && deadline <= now
            && !self.terminating
        {
            self.deadline_exceeded(deadline);
            return;
        }
        // Bounded: each pass makes progress or stops; restarts are bounded by back-off.
        for _ in 0..10_000 {
            if !self.step_once(now) {
                break;
            }
        }
        self.update_terminal();
    }

    fn deadline_exceeded(&mut self, at: Duration) {
        let message = "Pod was active on the node longer than the specified deadline";
        self.events.push(SimEvent {
            field_path: None,
            at,
            warning: false,
            reason: "DeadlineExceeded",
            message: message.into(),
            count: 1,
        });
        let (mut logs, mut events) = (Vec::new(), Vec::new());
        for c in self.init.iter_mut().chain(self.containers.iter_mut()) {
            if c.is_running() {
                events.push(SimEvent {
                    field_path: Some(c.field_path.clone()),
                    at,
                    warning: false,
                    reason: "Killing",
                    message: format!("Stopping container {}", c.name),
                    count: 1,
                });
                c.terminate(at, 137, "Error", None, &mut logs);
            }
        }
        self.logs.extend(logs);
        self.events.extend(events);
        self.reason = Some(("DeadlineExceeded".into(), message.into()));
        self.terminal = Some("Failed");
    }

    /// One transition, the earliest due; `false` when none is due.
    fn step_once(&mut self, now: Duration) -> bool {
        let (name, namespace, uid) = (self.name.clone(), self.namespace.clone(), self.uid.clone());
        let (policy, terminating) = (self.restart_policy, self.terminating);
        let restarts = move |code: i32| restarts(policy, terminating, code);
        let restarts_137 = restarts(137);
        let (mut logs, mut events) = (Vec::new(), Vec::new());
        // Init containers, one at a time.
        if !self.initialized() {
            let Some(i) = self.init.iter().position(|c| !c.succeeded()) else {
                return false;
            };
            let failed_restarts = restarts(1);
            let c = &mut self.init[i];
            let progressed = match c.state.clone() {
                State::Waiting {
                    until: Some(at),
                    reason,
                    ..
                } if at <= now && !terminating => {
                    if reason == "CrashLoopBackOff" {
                        c.backoff_passed(at);
                    }
                    c.run(at, &mut self.images, &mut logs, &mut events);
                    true
                }
                State::Running { .. } => {
                    c.advance_running(now, &mut logs, &mut events, true, restarts_137)
                }
                State::Terminated(t) if t.exit_code != 0 && failed_restarts => {
                    c.restart(
                        &name,
                        &namespace,
                        &uid,
                        &mut self.images,
                        &mut logs,
                        &mut events,
                    );
                    true
                }
                _ => false,
            };
            let finished_ok = match &self.init[i].state {
                State::Terminated(t) if t.exit_code == 0 => t.finished,
                _ => None,
            };
            if let Some(at) = finished_ok {
                match self.init.get_mut(i + 1) {
                    Some(next) => next.create(at, "PodInitializing", &self.images, &mut events),
                    None => {
                        for c in &mut self.containers {
                            c.create(at, "ContainerCreating", &self.images, &mut events);
                        }
                    }
                }
            }
            self.logs.extend(logs);
            self.events.extend(events);
            return progressed || finished_ok.is_some();
        }
        // Regular containers: the earliest due transition first.
        let due = self
            .containers
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match &c.state {
                State::Waiting {
                    until: Some(at), ..
                } if *at <= now && !terminating => Some((*at, i)),
                State::Running { plan, .. } => plan.exit.filter(|e| e.0 <= now).map(|e| (e.0, i)),
                _ => None,
            })
            .min();
        let progressed = match due {
            Some((_, i)) => {
                let c = &mut self.containers[i];
                match c.state.clone() {
                    State::Waiting {
                        until: Some(at),
                        reason,
                        ..
                    } => {
                        if reason == "CrashLoopBackOff" {
                            c.backoff_passed(at);
                        }
                        c.run(at, &mut self.images, &mut logs, &mut events);
                    }
                    State::Running { .. } => {
                        c.advance_running(now, &mut logs, &mut events, true, restarts_137);
                        if let State::Terminated(t) = &c.state
                            && restarts(t.exit_code)
                        {
                            c.restart(
                                &name,
                                &namespace,
                                &uid,
                                &mut self.images,
                                &mut logs,
                                &mut events,
                            );
                        }
                    }
                    State::Waiting { .. } | State::Terminated(_) => {}
                }
                true
            }
            None => false,
        };
        // Printed lines and probe results of containers that keep running.
        for c in &mut self.containers {
            if c.is_running() {
                c.advance_running(now, &mut logs, &mut events, false, restarts_137);
            }
        }
        self.logs.extend(logs);
        self.events.extend(events);
        progressed
    }

    fn update_terminal(&mut self) {
        if self.terminal.is_none() {
            self.terminal = self.phase_if_done();
        }
    }

    /// `Succeeded`/`Failed` once nothing will run again. A terminated pod's containers
    /// settle first as upstream's `TerminatePod` leaves them: a container in back-off
    /// shows its last exit; one never started, once the pod was initialized, is
    /// `ContainerStatusUnknown` (exit 137) — and then the pod is `Failed` unless every
    /// container succeeded.
    fn phase_if_done(&mut self) -> Option<&'static str> {
        if self.terminating {
            if !self.all_stopped() {
                return None;
            }
            let initialized = self.initialized();
            self.init.iter_mut().for_each(|c| c.settle(false));
            self.containers
                .iter_mut()
                .for_each(|c| c.settle(initialized));
            let succeeded = initialized && self.containers.iter().all(ContainerSim::succeeded);
            return Some(if succeeded { "Succeeded" } else { "Failed" });
        }
        let failed_init = self
            .init
            .iter()
            .any(|c| matches!(&c.state, State::Terminated(t) if t.exit_code != 0));
        if failed_init && self.restart_policy == RestartPolicy::Never {
            return Some("Failed");
        }
        if !self.initialized() {
            return None;
        }
        let mut failed = false;
        for c in &self.containers {
            match &c.state {
                State::Terminated(t) if !self.restarts(t.exit_code) => failed |= t.exit_code != 0,
                _ => return None,
            }
        }
        Some(if failed { "Failed" } else { "Succeeded" })
    }

    /// The pod's phase, as upstream's `getPhase`.
    pub fn phase(&self) -> &'static str {
        if let Some(p) = self.terminal {
            return p;
        }
        if !self.initialized() {
            return "Pending";
        }
        let (mut running, mut waiting, mut stopped) = (0, 0, 0);
        for c in &self.containers {
            match &c.state {
                State::Running { .. } => running += 1,
                State::Terminated(_) => stopped += 1,
                State::Waiting { .. } if c.last.is_some() => stopped += 1,
                State::Waiting { .. } => waiting += 1,
            }
        }
        if waiting > 0 {
            "Pending"
        } else if running > 0 || stopped > 0 {
            "Running"
        } else {
            "Pending"
        }
    }

    /// The deletion path, as the kubelet's `killContainer`: every running container
    /// runs its preStop hook, gets SIGTERM, and exits after its stop delay — or is
    /// killed (exit 137) when the grace period runs out first, but never less than 2 s
    /// after SIGTERM. Nothing restarts or starts any more; readiness probes go on,
    /// liveness and startup probes stop. Called again with a shorter grace period (a
    /// second delete), the kill comes sooner.
    pub fn terminate(&mut self, now: Duration, grace: Duration) {
        self.step(now);
        if self.terminating {
            if self.grace.is_some_and(|g| grace < g) {
                self.grace = Some(grace);
                let kill = now.saturating_add(grace.max(MINIMUM_GRACE));
                for c in self.init.iter_mut().chain(self.containers.iter_mut()) {
                    if let State::Running { plan, .. } = &mut c.state
                        && plan.exit.is_none_or(|e| e.0 > kill)
                    {
                        plan.exit = Some((kill, 137, container::Stop::Exit));
                    }
                }
            }
            self.step(now);
            return;
        }
        self.terminating = true;
        self.grace = Some(grace);
        let (mut logs, mut events) = (Vec::new(), Vec::new());
        for c in self.init.iter_mut().chain(self.containers.iter_mut()) {
            if c.stopping {
                continue;
            }
            c.stopping = true;
            let (pre_stop, stop_delay) = (c.behaviour.pre_stop, c.behaviour.stop_delay);
            let (name, id, field_path) =
                (c.name.clone(), c.container_id.clone(), c.field_path.clone());
            match &mut c.state {
                State::Running { plan, .. } => {
                    events.push(SimEvent {
                        field_path: Some(field_path),
                        at: now,
                        warning: false,
                        reason: "Killing",
                        message: format!("Stopping container {name}"),
                        count: 1,
                    });
                    // The preStop hook runs within the grace period; SIGTERM follows it.
                    let hook = pre_stop.min(grace);
                    let sigterm = now.saturating_add(hook);
                    let kill = sigterm.saturating_add((grace - hook).max(MINIMUM_GRACE));
                    let own = sigterm.saturating_add(stop_delay);
                    let exit = if own <= kill {
                        (own, 0, container::Stop::Exit)
                    } else {
                        (kill, 137, container::Stop::Exit)
                    };
                    let probe_kill = plan.exit.is_some_and(|e| {
                        matches!(
                            e.2,
                            container::Stop::Liveness | container::Stop::StartupProbe
                        )
                    });
                    if probe_kill || plan.exit.is_none_or(|e| e.0 > exit.0) {
                        plan.exit = Some(exit);
                    }
                    let line = |at, text: &str| LogEvent {
                        container: name.clone(),
                        container_id: id.clone(),
                        at,
                        text: text.into(),
                        ends: false,
                    };
                    if !pre_stop.is_zero() {
                        logs.push(line(now, "Running preStop hook"));
                    }
                    logs.push(line(sigterm, "Received SIGTERM, shutting down"));
                }
                State::Waiting { until, .. } => *until = None,
                State::Terminated(_) => {}
            }
        }
        self.logs.extend(logs);
        self.events.extend(events);
        self.step(now);
    }

    /// The node restarted at `now`: every running container is gone (exit 255,
    /// `Unknown`, as after a reboot) and starts again as its restart policy says — at
    /// once: the kubelet's back-off lived in its memory.
    pub fn node_restarted(&mut self, now: Duration) {
        if self.terminal.is_some() || self.terminating {
            return;
        }
        self.step(now);
        let (name, namespace, uid) = (self.name.clone(), self.namespace.clone(), self.uid.clone());
        let restart = self.restart_policy != RestartPolicy::Never;
        let (mut logs, mut events) = (Vec::new(), Vec::new());
        events.push(SimEvent {
            field_path: None,
            at: now,
            warning: false,
            reason: "SandboxChanged",
            message: "Pod sandbox changed, it will be killed and re-created.".into(),
            count: 1,
        });
        for c in self.containers.iter_mut() {
            if c.is_running() {
                c.terminate(now, 255, "Unknown", None, &mut logs);
                if restart {
                    c.forget_backoff();
                    c.restart(
                        &name,
                        &namespace,
                        &uid,
                        &mut self.images,
                        &mut logs,
                        &mut events,
                    );
                }
            }
        }
        self.logs.extend(logs);
        self.events.extend(events);
        self.step(now);
    }

    /// When something next changes (simulated time), if ever.
    pub fn next_event(&self, now: Duration) -> Option<Duration> {
        if self.terminal.is_some() {
            return None;
        }
        let containers = if self.initialized() {
            &self.containers
        } else {
            &self.init
        };
        let deadline = self
            .active_deadline
            .map(|d| self.start.saturating_add(d))
            .filter(|_| !self.terminating);
        containers
            .iter()
            .filter_map(ContainerSim::next_event)
            .chain(deadline)
            .filter(|t| *t > now)
            .min()
    }

    /// CPU (millicores) and memory (bytes) in use, per running container.
    pub fn usage(&self, now: Duration) -> Vec<(String, u64, u64)> {
        self.init
            .iter()
            .chain(&self.containers)
            .filter(|c| c.is_running())
            .map(|c| (c.name.clone(), c.cpu_millis(), c.memory(now)))
            .collect()
    }

    /// Which instance of `container` a log request means (its container ID), or
    /// upstream's error.
    pub fn log_instance(&self, container: &str, previous: bool) -> Result<String, String> {
        match self
            .init
            .iter()
            .chain(&self.containers)
            .find(|c| c.name == container)
        {
            Some(c) => c.log_instance(&self.name, previous),
            None => Err(format!(
                "container {container:?} in pod {:?} is not available",
                self.name
            )),
        }
    }
}

/// Whether a container that exited with `code` starts again.
fn restarts(policy: RestartPolicy, terminating: bool, code: i32) -> bool {
    !terminating
        && match policy {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => code != 0,
            RestartPolicy::Never => false,
        }
}

/// Start what an adopted pod's previous process left to do: create a container still
/// waiting to be, restart one that exited and should run again.
#[allow(clippy::too_many_arguments)]
fn resume(
    c: &mut ContainerSim,
    init: bool,
    policy: RestartPolicy,
    now: Duration,
    (name, namespace, uid): &(String, String, String),
    images: &mut HashSet<String>,
    logs: &mut Vec<LogEvent>,
    events: &mut Vec<SimEvent>,
) {
    match &c.state {
        State::Waiting {
            until: None,
            reason,
            ..
        } if *reason != "CreateContainerConfigError" => {
            c.create(
                now,
                if init {
                    "PodInitializing"
                } else {
                    "ContainerCreating"
                },
                images,
                events,
            );
        }
        State::Terminated(t) => {
            let again = match policy {
                RestartPolicy::Always => !init || t.exit_code != 0,
                RestartPolicy::OnFailure => t.exit_code != 0,
                RestartPolicy::Never => false,
            };
            if again {
                c.restart(name, namespace, uid, images, logs, events);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
