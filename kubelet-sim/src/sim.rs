//! One pod's simulated life: a pure state machine over simulated time.
//!
//! [`PodSim::step`] advances every container to `now` following its compiled
//! [`Behaviour`](crate::behaviour::Behaviour) and the pod's `restartPolicy`, as the
//! kubelet's sync loop would (`pkg/kubelet/kuberuntime/kuberuntime_manager.go`
//! `computePodActions`): init containers one at a time, each to completion; then the
//! regular containers; restarts with the exponential back-off upstream uses
//! (`CrashLoopBackOff`: the first restart at once, then 10 s doubling to 5 min).
//! [`PodSim::status`] renders the state as the kubelet writes `PodStatus`
//! (`pkg/kubelet/kubelet_pods.go` `generateAPIPodStatus`, `pkg/kubelet/status/generate.go`).
//! No I/O and no clock here: time is passed in, so tests drive it directly.
//!
//! Probes are evaluated in closed form rather than tick by tick: a probe runs at
//! `start + initialDelaySeconds + k * periodSeconds`; the model says from when it
//! succeeds (or fails), and the threshold counts say at which tick the result flips.
//! Worked example: readiness probe `initialDelaySeconds: 5, periodSeconds: 10,
//! successThreshold: 2` with `kubesim.io/ready-after: 12s` probes at 5, 15, 25 s; 15 s is
//! the first success, 25 s the second, so the container is Ready at 25 s.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, HostIP, Pod,
    PodCondition, PodIP, PodStatus, Probe as ApiProbe,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::behaviour::{self, Behaviour};
use crate::clock::Clock;

/// Upstream's restart back-off: 10 s, doubling, at most 5 min.
pub const BACKOFF_INITIAL: Duration = Duration::from_secs(10);
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// The delay before the container is started again after its `restarts`-th restart,
/// as upstream's `Backoff` (`IsInBackOffSince`/`Next`) yields it: the first restart is
/// immediate, then 10 s, 20 s, 40 s, ... capped at 5 min.
pub fn backoff(restarts: i32) -> Duration {
    if restarts <= 0 {
        return Duration::ZERO;
    }
    let doublings = (restarts - 1).min(16) as u32;
    BACKOFF_INITIAL.saturating_mul(1 << doublings).min(BACKOFF_MAX)
}

/// A probe's timing, with upstream's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe {
    pub initial_delay: Duration,
    pub period: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

impl Probe {
    fn from_api(probe: &ApiProbe) -> Probe {
        let secs = |v: Option<i32>, default: i32| Duration::from_secs(v.unwrap_or(default).max(0) as u64);
        Probe {
            initial_delay: secs(probe.initial_delay_seconds, 0),
            period: secs(probe.period_seconds, 10).max(Duration::from_secs(1)),
            success_threshold: probe.success_threshold.unwrap_or(1).max(1) as u32,
            failure_threshold: probe.failure_threshold.unwrap_or(3).max(1) as u32,
        }
    }

    fn tick(&self, start: Duration, k: u32) -> Duration {
        start + self.initial_delay + self.period * k
    }

    /// The first tick at or after `not_before` at which `start + after` has passed.
    fn first_tick(&self, start: Duration, not_before: Duration, after: Duration) -> u32 {
        let at = (start + after).max(not_before);
        let first = start + self.initial_delay;
        if at <= first {
            return 0;
        }
        let periods = (at - first).as_secs_f64() / self.period.as_secs_f64();
        periods.ceil() as u32
    }
}

/// Why a running container stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Exit,
    OomKilled,
    Liveness,
    StartupProbe,
}

/// What a running container will do, worked out when it starts.
#[derive(Debug, Clone, PartialEq)]
struct Plan {
    exit: Option<(Duration, i32, Stop)>,
    started: Option<Duration>,
    ready: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Terminated {
    pub exit_code: i32,
    pub reason: String,
    pub message: Option<String>,
    pub started: Duration,
    pub finished: Duration,
    pub container_id: String,
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Waiting { reason: &'static str, message: Option<String>, until: Option<Duration> },
    Running { since: Duration, plan: Plan, printed: usize },
    Terminated(Terminated),
}

/// One container of the pod.
#[derive(Debug, Clone)]
pub struct ContainerSim {
    pub name: String,
    uid: String,
    image: String,
    pub behaviour: Behaviour,
    readiness: Option<Probe>,
    liveness: Option<Probe>,
    startup: Option<Probe>,
    memory_limit: Option<u64>,
    state: State,
    pub restart_count: i32,
    last: Option<Terminated>,
    container_id: String,
    /// Whether the stop of a terminating pod was already scheduled.
    stopping: bool,
}

/// A line a container printed: container, its instance (restart count), when, text.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent {
    pub container: String,
    pub restart: i32,
    pub at: Duration,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

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
    /// Set once the pod is being deleted.
    pub terminating: bool,
    pub logs: Vec<LogEvent>,
}

fn container_id(uid: &str, name: &str, restart: i32) -> String {
    format!("containerd://{}", hex_digest(&format!("{uid}/{name}/{restart}")))
}

/// A 64-hex-digit digest of `s` (stable; not cryptographic).
pub fn hex_digest(s: &str) -> String {
    let mut out = String::with_capacity(64);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for round in 0..4u64 {
        for b in s.bytes().chain(round.to_le_bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        out.push_str(&format!("{h:016x}"));
    }
    out
}

/// The image reference as a container runtime reports it: `nginx` → `docker.io/library/nginx:latest`.
pub fn image_ref(image: &str) -> String {
    let (name, tag) = match image.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
        Some((n, t)) => (n.to_string(), t.to_string()),
        None => (image.to_string(), "latest".to_string()),
    };
    let first = name.split('/').next().unwrap_or("");
    let name = if !name.contains('/') {
        format!("docker.io/library/{name}")
    } else if first.contains('.') || first.contains(':') || first == "localhost" {
        name
    } else {
        format!("docker.io/{name}")
    };
    if image.contains('@') { name } else { format!("{name}:{tag}") }
}

fn image_id(image: &str) -> String {
    let reference = image_ref(image);
    let repo = reference.rsplit_once(':').map(|(r, _)| r.to_string()).unwrap_or(reference.clone());
    let repo = repo.split('@').next().unwrap_or(&repo).to_string();
    format!("{repo}@sha256:{}", hex_digest(&reference))
}

impl ContainerSim {
    fn new(pod: &Pod, uid: &str, c: &Container, init: bool) -> Result<ContainerSim, behaviour::Error> {
        let limit = c
            .resources
            .as_ref()
            .and_then(|r| r.limits.as_ref())
            .and_then(|l| l.get("memory"))
            .and_then(|q| behaviour::parse_quantity(&q.0))
            .map(|m| m as u64);
        Ok(ContainerSim {
            name: c.name.clone(),
            uid: uid.to_string(),
            image: c.image.clone().unwrap_or_default(),
            behaviour: behaviour::compile(pod, c, init)?,
            readiness: if init { None } else { c.readiness_probe.as_ref().map(Probe::from_api) },
            liveness: if init { None } else { c.liveness_probe.as_ref().map(Probe::from_api) },
            startup: if init { None } else { c.startup_probe.as_ref().map(Probe::from_api) },
            memory_limit: limit,
            state: State::Waiting { reason: "ContainerCreating", message: None, until: None },
            restart_count: 0,
            last: None,
            container_id: container_id(uid, &c.name, 0),
            stopping: false,
        })
    }

    /// Work out a started container's future.
    fn plan(&self, t0: Duration) -> Plan {
        let b = &self.behaviour;
        let mut exits: Vec<(Duration, i32, Stop)> = Vec::new();
        if let Some((after, code)) = b.exit {
            exits.push((t0 + after, code, Stop::Exit));
        }
        if let Some(limit) = self.memory_limit {
            if b.memory_bytes >= limit {
                exits.push((t0, 137, Stop::OomKilled));
            } else if b.memory_growth_per_second > 0 {
                let secs = (limit - b.memory_bytes) as f64 / b.memory_growth_per_second as f64;
                exits.push((t0 + Duration::from_secs_f64(secs), 137, Stop::OomKilled));
            }
        }
        // Startup probe: readiness and liveness wait for it.
        let mut started = Some(t0);
        if let Some(p) = self.startup {
            let kill_tick = p.failure_threshold - 1;
            match b.startup_after.at() {
                Some(after) if p.first_tick(t0, t0, after) <= kill_tick => started = Some(p.tick(t0, p.first_tick(t0, t0, after))),
                _ => {
                    started = None;
                    exits.push((p.tick(t0, kill_tick), 137, Stop::StartupProbe));
                }
            }
        }
        let mut ready = started;
        if let Some(p) = self.readiness {
            ready = match (started, b.ready_after.at()) {
                (Some(s), Some(after)) => Some(p.tick(t0, p.first_tick(t0, s, after) + p.success_threshold - 1)),
                _ => None,
            };
        }
        if let (Some(p), Some(s), Some(after)) = (self.liveness, started, b.liveness_fail_after.at()) {
            exits.push((p.tick(t0, p.first_tick(t0, s, after) + p.failure_threshold - 1), 137, Stop::Liveness));
        }
        let exit = exits.into_iter().min_by_key(|e| e.0);
        if let Some((at, _, _)) = exit {
            started = started.filter(|s| *s <= at);
            ready = ready.filter(|r| *r < at);
        }
        Plan { exit, started, ready }
    }

    fn run(&mut self, at: Duration, logs: &mut Vec<LogEvent>) {
        let plan = self.plan(at);
        self.container_id = container_id(&self.uid, &self.name, self.restart_count);
        self.state = State::Running { since: at, plan, printed: 0 };
        logs.push(self.line(at, format!("Started container {} (image {})", self.name, image_ref(&self.image))));
    }

    fn line(&self, at: Duration, text: String) -> LogEvent {
        LogEvent { container: self.name.clone(), restart: self.restart_count, at, text }
    }

    fn is_running(&self) -> bool {
        matches!(self.state, State::Running { .. })
    }

    fn succeeded(&self) -> bool {
        matches!(&self.state, State::Terminated(t) if t.exit_code == 0)
    }

    /// Running and ready at `now`.
    fn ready(&self, now: Duration) -> bool {
        matches!(&self.state, State::Running { plan, .. } if plan.ready.is_some_and(|r| r <= now))
    }

    fn started(&self, now: Duration) -> bool {
        matches!(&self.state, State::Running { plan, .. } if plan.started.is_some_and(|s| s <= now))
    }

    /// Memory in use at `now`, bytes (0 unless running).
    pub fn memory(&self, now: Duration) -> u64 {
        match &self.state {
            State::Running { since, .. } => {
                let grown = self.behaviour.memory_bytes + (self.behaviour.memory_growth_per_second as f64 * (now.saturating_sub(*since)).as_secs_f64()) as u64;
                self.memory_limit.map_or(grown, |l| grown.min(l))
            }
            _ => 0,
        }
    }

    /// CPU in use at `now`, millicores (0 unless running).
    pub fn cpu_millis(&self) -> u64 {
        if self.is_running() { self.behaviour.cpu_millis } else { 0 }
    }

    /// Stop a running container at `at`.
    fn terminate(&mut self, at: Duration, exit_code: i32, reason: &str, message: Option<String>, logs: &mut Vec<LogEvent>) {
        let since = match &self.state {
            State::Running { since, .. } => *since,
            _ => at,
        };
        let text = match reason {
            "OOMKilled" => "Out of memory: Killed process 1".to_string(),
            _ => format!("Exited with code {exit_code}"),
        };
        logs.push(self.line(at, text));
        self.state = State::Terminated(Terminated {
            exit_code,
            reason: reason.to_string(),
            message,
            started: since,
            finished: at,
            container_id: self.container_id.clone(),
        });
    }

    /// Advance a running container to `now`: printed lines, probe transitions, its exit.
    /// Returns whether it stopped.
    fn advance_running(&mut self, now: Duration, logs: &mut Vec<LogEvent>, may_exit: bool) -> bool {
        let State::Running { since, plan, printed } = &mut self.state else { return false };
        let (since, plan_now) = (*since, plan.clone());
        let limit = plan_now.exit.map_or(now, |(at, _, _)| at.min(now));
        let mut lines = Vec::new();
        while let Some(line) = self.behaviour.output.get(*printed) {
            if since + line.at > limit {
                break;
            }
            lines.push((since + line.at, line.text.clone()));
            *printed += 1;
        }
        for (at, text) in lines {
            logs.push(self.line(at, text));
        }
        match plan_now.exit {
            Some((at, code, why)) if at <= now && may_exit => {
                let (reason, message) = match why {
                    Stop::OomKilled => ("OOMKilled", None),
                    _ if code == 0 => ("Completed", None),
                    _ => ("Error", None),
                };
                match why {
                    Stop::Liveness => logs.push(self.line(at, "Liveness probe failed; the kubelet is restarting the container".into())),
                    Stop::StartupProbe => logs.push(self.line(at, "Startup probe failed; the kubelet is restarting the container".into())),
                    _ => {}
                }
                self.terminate(at, code, reason, message, logs);
                true
            }
            _ => false,
        }
    }

    fn events(&self) -> Vec<Duration> {
        match &self.state {
            State::Waiting { until, .. } => until.iter().copied().collect(),
            State::Running { since, plan, printed } => [
                plan.exit.map(|e| e.0),
                plan.started,
                plan.ready,
                self.behaviour.output.get(*printed).map(|l| *since + l.at),
            ]
            .into_iter()
            .flatten()
            .collect(),
            State::Terminated(_) => Vec::new(),
        }
    }

    /// After an exit: restart (now or after back-off) or stay terminated.
    fn restart_or_stay(&mut self, pod: &str, namespace: &str, uid: &str, logs: &mut Vec<LogEvent>) {
        let State::Terminated(t) = &self.state else { return };
        let t = t.clone();
        let delay = backoff(self.restart_count);
        self.last = Some(t.clone());
        if delay.is_zero() {
            self.restart_count += 1;
            self.run(t.finished, logs);
        } else {
            self.state = State::Waiting {
                reason: "CrashLoopBackOff",
                message: Some(format!("back-off {} restarting failed container={} pod={pod}_{namespace}({uid})", go_duration(delay), self.name)),
                until: Some(t.finished + delay),
            };
        }
    }

    fn api_state(&self, clock: &Clock) -> ContainerState {
        match &self.state {
            State::Waiting { reason, message, .. } => ContainerState {
                waiting: Some(ContainerStateWaiting { reason: Some(reason.to_string()), message: message.clone() }),
                ..Default::default()
            },
            State::Running { since, .. } => ContainerState {
                running: Some(ContainerStateRunning { started_at: Some(Time(clock.wall(*since))) }),
                ..Default::default()
            },
            State::Terminated(t) => terminated_state(clock, t),
        }
    }

    fn api_status(&self, clock: &Clock, now: Duration, init: bool) -> ContainerStatus {
        let created = !matches!(self.state, State::Waiting { reason: "ContainerCreating" | "PodInitializing", .. }) || self.last.is_some();
        let ready = if init { self.succeeded() } else { self.ready(now) };
        ContainerStatus {
            name: self.name.clone(),
            image: image_ref(&self.image),
            image_id: if created { image_id(&self.image) } else { String::new() },
            container_id: match &self.state {
                State::Terminated(t) => Some(t.container_id.clone()),
                State::Running { .. } => Some(self.container_id.clone()),
                State::Waiting { .. } => self.last.as_ref().map(|l| l.container_id.clone()),
            },
            ready,
            started: Some(if init { self.is_running() } else { self.started(now) }),
            restart_count: self.restart_count,
            state: Some(self.api_state(clock)),
            last_state: Some(self.last.as_ref().map(|t| terminated_state(clock, t)).unwrap_or_default()),
            ..Default::default()
        }
    }
}

fn terminated_state(clock: &Clock, t: &Terminated) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: t.exit_code,
            reason: Some(t.reason.clone()),
            message: t.message.clone(),
            started_at: Some(Time(clock.wall(t.started))),
            finished_at: Some(Time(clock.wall(t.finished))),
            container_id: Some(t.container_id.clone()),
            signal: None,
        }),
        ..Default::default()
    }
}

/// A duration as Go prints it: `10s`, `1m20s`, `5m0s`.
pub fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m{}s", secs / 60, secs % 60)
    } else {
        format!("{}h{}m{}s", secs / 3600, (secs % 3600) / 60, secs % 60)
    }
}

impl PodSim {
    /// A pod admitted at simulated time `start`.
    pub fn new(pod: &Pod, start: Duration) -> Result<PodSim, behaviour::Error> {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let spec = pod.spec.clone().unwrap_or_default();
        let mut init = Vec::new();
        for c in spec.init_containers.iter().flatten() {
            init.push(ContainerSim::new(pod, &uid, c, true)?);
        }
        let mut containers = Vec::new();
        for c in &spec.containers {
            let mut sim = ContainerSim::new(pod, &uid, c, false)?;
            if !init.is_empty() {
                sim.state = State::Waiting { reason: "PodInitializing", message: None, until: None };
            }
            containers.push(sim);
        }
        if let Some(first) = init.first_mut() {
            first.state = State::Waiting { reason: "PodInitializing", message: None, until: Some(start + first.behaviour.startup_delay) };
        }
        if init.is_empty() {
            for c in &mut containers {
                c.state = State::Waiting { reason: "ContainerCreating", message: None, until: Some(start + c.behaviour.startup_delay) };
            }
        }
        let restart_policy = match spec.restart_policy.as_deref() {
            Some("Never") => RestartPolicy::Never,
            Some("OnFailure") => RestartPolicy::OnFailure,
            _ => RestartPolicy::Always,
        };
        Ok(PodSim {
            uid,
            name: pod.metadata.name.clone().unwrap_or_default(),
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            init,
            containers,
            restart_policy,
            start,
            active_deadline: spec.active_deadline_seconds.map(|s| Duration::from_secs(s.max(0) as u64)),
            reason: None,
            terminal: None,
            terminating: false,
            logs: Vec::new(),
        })
    }

    fn restarts(&self, code: i32) -> bool {
        match self.restart_policy {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => code != 0,
            RestartPolicy::Never => false,
        }
    }

    /// Whether the pod is in a terminal phase.
    pub fn is_terminal(&self) -> bool {
        self.terminal.is_some()
    }

    /// Whether every container has stopped (nothing runs or will run).
    pub fn all_stopped(&self) -> bool {
        self.init.iter().chain(&self.containers).all(|c| !c.is_running())
    }

    fn initialized(&self) -> bool {
        self.init.iter().all(ContainerSim::succeeded)
    }

    /// Advance to `now`.
    pub fn step(&mut self, now: Duration) {
        if self.terminal.is_some() {
            return;
        }
        if let Some(deadline) = self.active_deadline.map(|d| self.start + d) {
            if deadline <= now && !self.terminating {
                self.deadline_exceeded(deadline);
                return;
            }
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
        let mut logs = Vec::new();
        for c in self.init.iter_mut().chain(self.containers.iter_mut()) {
            if c.is_running() {
                c.terminate(at, 137, "Error", None, &mut logs);
            }
        }
        self.logs.extend(logs);
        self.reason = Some(("DeadlineExceeded".into(), "Pod was active on the node longer than the specified deadline".into()));
        self.terminal = Some("Failed");
    }

    /// One transition, the earliest due; `false` when none is due.
    fn step_once(&mut self, now: Duration) -> bool {
        let (name, namespace, uid) = (self.name.clone(), self.namespace.clone(), self.uid.clone());
        let terminating = self.terminating;
        let restarts = |code: i32| !terminating && match self.restart_policy {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => code != 0,
            RestartPolicy::Never => false,
        };
        // Init containers, one at a time.
        let init_done = self.initialized();
        if !init_done {
            let Some(i) = self.init.iter().position(|c| !c.succeeded()) else { return false };
            let policy_never = self.restart_policy == RestartPolicy::Never;
            let c = &mut self.init[i];
            let mut logs = Vec::new();
            let progressed = match c.state.clone() {
                State::Waiting { until: Some(at), .. } if at <= now && !terminating => {
                    if c.last.is_some() {
                        c.restart_count += 1;
                    }
                    c.run(at, &mut logs);
                    true
                }
                State::Running { .. } => c.advance_running(now, &mut logs, true),
                State::Terminated(t) if t.exit_code != 0 => {
                    if policy_never || terminating {
                        false
                    } else {
                        let restart_delay = backoff(c.restart_count);
                        c.last = Some(t.clone());
                        c.state = State::Waiting {
                            reason: if restart_delay.is_zero() { "PodInitializing" } else { "CrashLoopBackOff" },
                            message: (!restart_delay.is_zero()).then(|| {
                                format!("back-off {} restarting failed container={} pod={name}_{namespace}({uid})", go_duration(restart_delay), c.name)
                            }),
                            until: Some(t.finished + restart_delay),
                        };
                        true
                    }
                }
                _ => false,
            };
            let finished_ok = match &self.init[i].state {
                State::Terminated(t) if t.exit_code == 0 => Some(t.finished),
                _ => None,
            };
            self.logs.extend(logs);
            if let Some(at) = finished_ok {
                match self.init.get_mut(i + 1) {
                    Some(next) => next.state = State::Waiting { reason: "PodInitializing", message: None, until: Some(at + next.behaviour.startup_delay) },
                    None => {
                        for c in &mut self.containers {
                            c.state = State::Waiting { reason: "ContainerCreating", message: None, until: Some(at + c.behaviour.startup_delay) };
                        }
                    }
                }
                return true;
            }
            return progressed;
        }
        // Regular containers: the earliest due transition first.
        let due = self
            .containers
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match &c.state {
                State::Waiting { until: Some(at), .. } if *at <= now && !terminating => Some((*at, i)),
                State::Running { plan, .. } => plan.exit.filter(|e| e.0 <= now).map(|e| (e.0, i)),
                _ => None,
            })
            .min();
        let mut logs = Vec::new();
        let progressed = match due {
            Some((_, i)) => {
                let c = &mut self.containers[i];
                match c.state.clone() {
                    State::Waiting { until: Some(at), .. } => {
                        if c.last.is_some() {
                            c.restart_count += 1;
                        }
                        c.run(at, &mut logs);
                    }
                    State::Running { .. } => {
                        c.advance_running(now, &mut logs, true);
                        if let State::Terminated(t) = &c.state {
                            if restarts(t.exit_code) {
                                c.restart_or_stay(&name, &namespace, &uid, &mut logs);
                            }
                        }
                    }
                    _ => {}
                }
                true
            }
            None => false,
        };
        // Printed lines of containers that keep running.
        for c in &mut self.containers {
            if c.is_running() {
                c.advance_running(now, &mut logs, false);
            }
        }
        self.logs.extend(logs);
        progressed
    }

    fn update_terminal(&mut self) {
        if self.terminal.is_some() {
            return;
        }
        if let Some(phase) = self.phase_if_done() {
            self.terminal = Some(phase);
        }
    }

    /// `Succeeded`/`Failed` once nothing will run again.
    fn phase_if_done(&self) -> Option<&'static str> {
        let failed_init = self.init.iter().any(|c| matches!(&c.state, State::Terminated(t) if t.exit_code != 0));
        if failed_init && (self.restart_policy == RestartPolicy::Never || self.terminating) {
            return Some("Failed");
        }
        if !self.initialized() && !self.terminating {
            return None;
        }
        let mut failed = false;
        for c in &self.containers {
            match &c.state {
                State::Terminated(t) => failed |= t.exit_code != 0,
                State::Waiting { .. } if self.terminating && c.last.is_none() => {}
                State::Waiting { .. } if self.terminating => failed |= c.last.as_ref().is_some_and(|l| l.exit_code != 0),
                _ => return None,
            }
        }
        if !self.terminating && self.containers.iter().any(|c| matches!(&c.state, State::Terminated(t) if self.restarts(t.exit_code))) {
            return None;
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

    /// The deletion path: every running container gets SIGTERM at `now`, runs its
    /// preStop hook, and exits after its stop delay — or is killed when the grace
    /// period (`grace`, from `now`) runs out first. Nothing restarts any more.
    pub fn terminate(&mut self, now: Duration, grace: Duration) {
        self.step(now);
        self.terminating = true;
        let mut logs = Vec::new();
        for c in self.init.iter_mut().chain(self.containers.iter_mut()) {
            if c.stopping {
                continue;
            }
            c.stopping = true;
            match &mut c.state {
                State::Running { plan, .. } => {
                    let wanted = c.behaviour.pre_stop.saturating_add(c.behaviour.stop_delay);
                    let exit = if wanted <= grace { (now + wanted, 0, Stop::Exit) } else { (now + grace, 137, Stop::Exit) };
                    if plan.exit.is_none_or(|e| e.0 > exit.0) {
                        plan.exit = Some(exit);
                    }
                    plan.ready = plan.ready.filter(|r| *r <= now);
                    if !c.behaviour.pre_stop.is_zero() {
                        logs.push(LogEvent { container: c.name.clone(), restart: c.restart_count, at: now, text: "Running preStop hook".into() });
                    }
                    logs.push(LogEvent { container: c.name.clone(), restart: c.restart_count, at: now, text: "Received SIGTERM, shutting down".into() });
                }
                State::Waiting { until, .. } => *until = None,
                State::Terminated(_) => {}
            }
        }
        // Ready drops at once on deletion: nothing may route to a terminating pod.
        for c in self.containers.iter_mut() {
            if let State::Running { plan, .. } = &mut c.state {
                plan.ready = None;
            }
        }
        self.logs.extend(logs);
        self.step(now);
    }

    /// The node restarted at `now`: every running container is gone (exit 255,
    /// `Unknown`, as after a reboot) and starts again as its restart policy says.
    pub fn node_restarted(&mut self, now: Duration) {
        if self.terminal.is_some() || self.terminating {
            return;
        }
        self.step(now);
        let (name, namespace, uid) = (self.name.clone(), self.namespace.clone(), self.uid.clone());
        let policy = self.restart_policy;
        let mut logs = Vec::new();
        for c in self.containers.iter_mut() {
            if c.is_running() {
                c.terminate(now, 255, "Unknown", None, &mut logs);
                let restart = policy != RestartPolicy::Never;
                if restart {
                    c.restart_or_stay(&name, &namespace, &uid, &mut logs);
                }
            }
        }
        self.logs.extend(logs);
        self.step(now);
    }

    /// When something next changes (simulated time), if ever.
    pub fn next_event(&self, now: Duration) -> Option<Duration> {
        if self.terminal.is_some() {
            return None;
        }
        let containers = if self.initialized() { &self.containers } else { &self.init };
        let deadline = self.active_deadline.map(|d| self.start + d).filter(|_| !self.terminating);
        containers.iter().flat_map(ContainerSim::events).chain(deadline).filter(|t| *t > now).min()
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

    /// The pod status the kubelet writes at `now`, given the pod as last observed
    /// (for conditions owned by others, transition times and `startTime`).
    pub fn status(&self, pod: &Pod, clock: &Clock, now: Duration, host_ip: &str, pod_ip: &str) -> PodStatus {
        let old = pod.status.clone().unwrap_or_default();
        let phase = self.phase();
        let terminal = matches!(phase, "Succeeded" | "Failed");
        let init_statuses: Vec<ContainerStatus> = self.init.iter().map(|c| c.api_status(clock, now, true)).collect();
        let statuses: Vec<ContainerStatus> = self.containers.iter().map(|c| c.api_status(clock, now, false)).collect();

        let condition = |type_: &str, ok: bool, reason: Option<String>, message: Option<String>| PodCondition {
            type_: type_.to_string(),
            status: if ok { "True" } else { "False" }.to_string(),
            reason,
            message,
            ..Default::default()
        };
        let names = |list: Vec<&str>| format!("[{}]", list.join(" "));
        // PodReadyToStartContainers: the sandbox exists, until a finished pod's is torn down.
        let ready_to_start = condition("PodReadyToStartContainers", !(terminal && self.all_stopped()), None, None);
        let incomplete: Vec<&str> = self.init.iter().zip(&init_statuses).filter(|(_, s)| !s.ready).map(|(c, _)| c.name.as_str()).collect();
        let any_started = self.containers.iter().any(|c| c.is_running() || c.last.is_some() || matches!(c.state, State::Terminated(_)));
        let initialized = if phase == "Succeeded" {
            condition("Initialized", true, Some("PodCompleted".into()), None)
        } else if incomplete.is_empty() || any_started {
            condition("Initialized", true, None, None)
        } else {
            condition("Initialized", false, Some("ContainersNotInitialized".into()), Some(format!("containers with incomplete status: {}", names(incomplete))))
        };
        let unready: Vec<&str> = statuses.iter().filter(|s| !s.ready).map(|s| s.name.as_str()).collect();
        let containers_ready = match phase {
            "Succeeded" => condition("ContainersReady", false, Some("PodCompleted".into()), None),
            "Failed" => condition("ContainersReady", false, Some("PodFailed".into()), None),
            _ if !unready.is_empty() => {
                condition("ContainersReady", false, Some("ContainersNotReady".into()), Some(format!("containers with unready status: {}", names(unready))))
            }
            _ => condition("ContainersReady", true, None, None),
        };
        let ready = PodCondition { type_: "Ready".into(), ..containers_ready.clone() };

        let mut conditions = vec![ready_to_start, initialized, ready, containers_ready];
        let owned = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady"];
        for c in old.conditions.iter().flatten() {
            if !owned.contains(&c.type_.as_str()) {
                conditions.push(c.clone());
            }
        }
        let now_wall = Time(clock.wall(now));
        for c in conditions.iter_mut() {
            if c.last_transition_time.is_some() {
                continue;
            }
            let previous = old.conditions.iter().flatten().find(|o| o.type_ == c.type_);
            c.last_transition_time = match previous {
                Some(p) if p.status == c.status => p.last_transition_time.clone().or_else(|| Some(now_wall.clone())),
                _ => Some(now_wall.clone()),
            };
            c.last_probe_time = previous.and_then(|p| p.last_probe_time.clone());
        }

        let mut status = PodStatus {
            phase: Some(phase.to_string()),
            conditions: Some(conditions),
            host_ip: Some(host_ip.to_string()),
            host_ips: Some(vec![HostIP { ip: host_ip.to_string() }]),
            pod_ip: Some(pod_ip.to_string()),
            pod_ips: Some(vec![PodIP { ip: pod_ip.to_string() }]),
            start_time: old.start_time.clone().or_else(|| Some(Time(clock.wall(self.start)))),
            qos_class: Some(qos_class(pod).to_string()),
            container_statuses: Some(statuses),
            init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
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
    let Some(spec) = pod.spec.as_ref() else { return "BestEffort" };
    let all: Vec<&Container> = spec.containers.iter().chain(spec.init_containers.iter().flatten()).collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in &all {
        let empty = BTreeMap::new();
        let requests = c.resources.as_ref().and_then(|r| r.requests.as_ref()).unwrap_or(&empty);
        let limits = c.resources.as_ref().and_then(|r| r.limits.as_ref()).unwrap_or(&empty);
        let value = |m: &BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>, k: &str| {
            m.get(k).and_then(|q| behaviour::parse_quantity(&q.0)).filter(|v| *v > 0.0)
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

#[cfg(test)]
mod tests;
