//! One container of a simulated pod: its state, what it will do once started (the
//! [`Plan`]), its probes, its restart back-off, and the log lines and Events it produces.

use std::collections::HashSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, Pod, Probe as ApiProbe,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{LogEvent, SimEvent};
use crate::behaviour::{self, Behaviour};
use crate::clock::Clock;

/// Upstream's restart back-off: 10 s, doubling, at most 5 min.
pub const BACKOFF_INITIAL: Duration = Duration::from_secs(10);
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// The termination of a container whose state the kubelet lost (upstream's
/// `TerminatePod`: a container never started when its pod was terminated).
pub const STATUS_UNKNOWN: &str = "ContainerStatusUnknown";
pub const STATUS_UNKNOWN_MESSAGE: &str =
    "The container could not be located when the pod was terminated";

/// One container's entry in upstream's crash-loop back-off (`flowcontrol.Backoff`, keyed
/// by pod and container).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Backoff {
    delay: Duration,
    last_update: Duration,
}

/// A probe's timing, with upstream's defaults, and what a failure reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub initial_delay: Duration,
    pub period: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
    /// What the probe's handler says when it fails (`HTTP probe failed with statuscode: 503`).
    pub output: String,
}

impl Probe {
    fn from_api(probe: &ApiProbe, container: &Container) -> Probe {
        let secs = |v: Option<i32>, default: i32| {
            Duration::from_secs(v.unwrap_or(default).max(0).unsigned_abs().into())
        };
        let output = if probe.http_get.is_some() {
            "HTTP probe failed with statuscode: 503".to_string()
        } else if let Some(tcp) = &probe.tcp_socket {
            let port = match &tcp.port {
                IntOrString::Int(p) => p.to_string(),
                IntOrString::String(name) => container
                    .ports
                    .iter()
                    .flatten()
                    .find(|p| p.name.as_deref() == Some(name))
                    .map_or_else(|| name.clone(), |p| p.container_port.to_string()),
            };
            format!("dial tcp {{pod-ip}}:{port}: connect: connection refused")
        } else if probe.grpc.is_some() {
            "service unhealthy (responded with \"NOT_SERVING\")".to_string()
        } else {
            // An exec probe's failure is the command's own output: none here.
            String::new()
        };
        Probe {
            initial_delay: secs(probe.initial_delay_seconds, 0),
            period: secs(probe.period_seconds, 10).max(Duration::from_secs(1)),
            success_threshold: probe.success_threshold.unwrap_or(1).max(1).unsigned_abs(),
            failure_threshold: probe.failure_threshold.unwrap_or(3).max(1).unsigned_abs(),
            output,
        }
    }

    fn base(&self, start: Duration) -> Duration {
        start.saturating_add(self.initial_delay)
    }

    /// The time of the `k`-th probe of a container started at `start`.
    pub fn tick(&self, start: Duration, k: u32) -> Duration {
        self.base(start)
            .saturating_add(self.period.saturating_mul(k))
    }

    /// The first tick at or after `at`.
    fn first_tick_from(&self, start: Duration, at: Duration) -> u32 {
        let base = self.base(start);
        if at <= base {
            return 0;
        }
        let periods = (at - base)
            .as_nanos()
            .div_ceil(self.period.as_nanos().max(1));
        u32::try_from(periods).unwrap_or(u32::MAX)
    }

    /// The first tick at or after `not_before` at which `start + after` has passed.
    pub fn first_tick(&self, start: Duration, not_before: Duration, after: Duration) -> u32 {
        self.first_tick_from(start, start.saturating_add(after).max(not_before))
    }

    /// The failing probes in `[from, to]`: ticks at or after `lo` and before `hi`. The
    /// time of the last one and how many there were.
    fn failures(
        &self,
        start: Duration,
        lo: Duration,
        hi: Option<Duration>,
        from: Duration,
        to: Duration,
    ) -> Option<(Duration, u32)> {
        let first = self.first_tick_from(start, lo.max(from));
        let to = match hi {
            Some(hi) if hi <= to => hi.checked_sub(Duration::from_nanos(1))?,
            _ => to,
        };
        let base = self.base(start);
        if to < base {
            return None;
        }
        let last = u32::try_from((to - base).as_nanos() / self.period.as_nanos().max(1))
            .unwrap_or(u32::MAX);
        (last >= first).then(|| (self.tick(start, last), last - first + 1))
    }

    /// The first failing probe from `from` on, as in [`Probe::failures`].
    fn next_failure(
        &self,
        start: Duration,
        lo: Duration,
        hi: Option<Duration>,
        from: Duration,
    ) -> Option<Duration> {
        let at = self.tick(start, self.first_tick_from(start, lo.max(from)));
        hi.is_none_or(|hi| at < hi).then_some(at)
    }
}

/// Why a running container stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Exit,
    OomKilled,
    Liveness,
    StartupProbe,
}

/// What a running container will do, worked out when it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub exit: Option<(Duration, i32, Stop)>,
    pub started: Option<Duration>,
    pub ready: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Terminated {
    pub exit_code: i32,
    pub reason: String,
    pub message: Option<String>,
    /// When it started and finished; `None` for a container that never ran.
    pub started: Option<Duration>,
    pub finished: Option<Duration>,
    pub container_id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Not running: being created (`until` it starts), backing off, or stuck.
    /// `pulling`: when the image pull for this start began.
    Waiting {
        reason: &'static str,
        message: Option<String>,
        until: Option<Duration>,
        pulling: Option<Duration>,
    },
    /// `printed`: output lines written so far; `unreported`: probe results from then
    /// on are not reported yet.
    Running {
        since: Duration,
        plan: Plan,
        printed: usize,
        unreported: Duration,
    },
    Terminated(Terminated),
}

impl State {
    pub fn waiting(reason: &'static str, until: Option<Duration>) -> State {
        State::Waiting {
            reason,
            message: None,
            until,
            pulling: None,
        }
    }
}

/// One container of the pod.
#[derive(Debug, Clone)]
pub struct ContainerSim {
    pub name: String,
    /// `spec.containers{web}`: where Events about it point.
    pub field_path: String,
    pub(super) uid: String,
    pub image: String,
    /// The pod's IP, for probe messages (`dial tcp 10.244.0.5:80: ...`).
    pub pod_ip: String,
    /// `imagePullPolicy: Always` (upstream's default for `:latest` or no tag).
    pull_always: bool,
    pub behaviour: Behaviour,
    /// A behaviour annotation that does not parse: the container cannot be created
    /// (`CreateContainerConfigError`).
    pub config_error: Option<String>,
    readiness: Option<Probe>,
    liveness: Option<Probe>,
    startup: Option<Probe>,
    memory_limit: Option<u64>,
    pub state: State,
    pub restart_count: i32,
    pub last: Option<Terminated>,
    /// The termination before `last`, shown again if a terminating pod's container in
    /// back-off reports `last` as its state.
    before_last: Option<Terminated>,
    pub container_id: String,
    backoff: Option<Backoff>,
    /// Whether the stop of a terminating pod was already scheduled.
    pub stopping: bool,
    /// Whether this instance already logged that its readiness probe fails.
    noted_unready: bool,
}

pub fn container_id(uid: &str, name: &str, restart: i32) -> String {
    format!(
        "containerd://{}",
        hex_digest(&format!("{uid}/{name}/{restart}"))
    )
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
    if image.contains('@') {
        name
    } else {
        format!("{name}:{tag}")
    }
}

fn image_id(image: &str) -> String {
    let reference = image_ref(image);
    let repo = reference
        .rsplit_once(':')
        .map(|(r, _)| r.to_string())
        .unwrap_or(reference.clone());
    let repo = repo.split('@').next().unwrap_or(&repo).to_string();
    format!("{repo}@sha256:{}", hex_digest(&reference))
}

/// A plausible, stable size for an image: 5 MB to 200 MB.
fn image_size(image: &str) -> u64 {
    let digest = hex_digest(&image_ref(image));
    5_000_000 + u64::from_str_radix(&digest[..8], 16).unwrap_or(0) % 195_000_000
}

/// Upstream's default `imagePullPolicy`: `Always` for `:latest` or no tag, else `IfNotPresent`.
fn pulls_always(c: &Container) -> bool {
    match c.image_pull_policy.as_deref() {
        Some(policy) => policy == "Always",
        None => {
            let image = c.image.as_deref().unwrap_or("");
            !image.contains('@')
                && image
                    .rsplit_once(':')
                    .filter(|(_, t)| !t.contains('/'))
                    .is_none_or(|(_, t)| t == "latest")
        }
    }
}

/// A duration as Go prints it: `10s`, `1m20s`, `5m0s`, `1.5s`, `250ms`, `0s`.
pub fn go_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        let ms = d.as_millis();
        return if ms == 0 {
            "0s".into()
        } else {
            format!("{ms}ms")
        };
    }
    let secs = d.as_secs();
    let frac = d.subsec_millis();
    let s = secs % 60;
    let seconds = if frac == 0 {
        format!("{s}s")
    } else {
        format!("{s}.{}s", format!("{frac:03}").trim_end_matches('0'))
    };
    if secs < 60 {
        seconds
    } else if secs < 3600 {
        format!("{}m{seconds}", secs / 60)
    } else {
        format!("{}h{}m{seconds}", secs / 3600, (secs % 3600) / 60)
    }
}

impl ContainerSim {
    pub fn new(pod: &Pod, uid: &str, c: &Container, init: bool) -> ContainerSim {
        let limit = c
            .resources
            .as_ref()
            .and_then(|r| r.limits.as_ref())
            .and_then(|l| l.get("memory"))
            .and_then(|q| behaviour::parse_quantity(&q.0))
            .map(|m| m as u64);
        let (behaviour, config_error) = match behaviour::compile(pod, c, init) {
            Ok(b) => (b, None),
            Err(e) => (behaviour::Behaviour::idle(), Some(e.to_string())),
        };
        let probe = |p: &Option<ApiProbe>| {
            if init {
                None
            } else {
                p.as_ref().map(|p| Probe::from_api(p, c))
            }
        };
        ContainerSim {
            name: c.name.clone(),
            field_path: format!(
                "spec.{}{{{}}}",
                if init { "initContainers" } else { "containers" },
                c.name
            ),
            uid: uid.to_string(),
            image: c.image.clone().unwrap_or_default(),
            pod_ip: String::new(),
            pull_always: pulls_always(c),
            behaviour,
            config_error,
            readiness: probe(&c.readiness_probe),
            liveness: probe(&c.liveness_probe),
            startup: probe(&c.startup_probe),
            memory_limit: limit,
            state: State::waiting(
                if init {
                    "PodInitializing"
                } else {
                    "ContainerCreating"
                },
                None,
            ),
            restart_count: 0,
            last: None,
            before_last: None,
            container_id: container_id(uid, &c.name, 0),
            backoff: None,
            stopping: false,
            noted_unready: false,
        }
    }

    fn event(
        &self,
        at: Duration,
        warning: bool,
        reason: &'static str,
        message: String,
    ) -> SimEvent {
        SimEvent {
            field_path: Some(self.field_path.clone()),
            at,
            warning,
            reason,
            message,
            count: 1,
        }
    }

    fn line(&self, at: Duration, text: String) -> LogEvent {
        LogEvent {
            container: self.name.clone(),
            container_id: self.container_id.clone(),
            at,
            text,
            ends: false,
        }
    }

    /// Begin creating the container at `at` (`reason`: `ContainerCreating` or
    /// `PodInitializing`): its image is pulled, if it must be, during its start-up delay.
    pub fn create(
        &mut self,
        at: Duration,
        reason: &'static str,
        images: &HashSet<String>,
        events: &mut Vec<SimEvent>,
    ) {
        let pulling = (self.pull_always || !images.contains(&self.image)).then_some(at);
        if pulling.is_some() {
            events.push(self.event(
                at,
                false,
                "Pulling",
                format!("Pulling image {:?}", self.image),
            ));
        }
        let until = at.saturating_add(self.behaviour.startup_delay);
        self.state = State::Waiting {
            reason,
            message: None,
            until: Some(until),
            pulling,
        };
    }

    /// Work out a started container's future.
    fn plan(&self, t0: Duration) -> Plan {
        let b = &self.behaviour;
        let mut exits: Vec<(Duration, i32, Stop)> = Vec::new();
        if let Some((after, code)) = b.exit {
            exits.push((t0.saturating_add(after), code, Stop::Exit));
        }
        if let Some(limit) = self.memory_limit {
            if b.memory_bytes >= limit {
                exits.push((t0, 137, Stop::OomKilled));
            } else if b.memory_growth_per_second > 0 {
                let secs = (limit - b.memory_bytes) as f64 / b.memory_growth_per_second as f64;
                let after = Duration::try_from_secs_f64(secs)
                    .unwrap_or(behaviour::MAX_DELAY)
                    .min(behaviour::MAX_DELAY);
                exits.push((t0.saturating_add(after), 137, Stop::OomKilled));
            }
        }
        // Startup probe: readiness and liveness wait for it.
        let mut started = Some(t0);
        if let Some(p) = &self.startup {
            let kill_tick = p.failure_threshold - 1;
            match b.startup_after.at() {
                Some(after) if p.first_tick(t0, t0, after) <= kill_tick => {
                    started = Some(p.tick(t0, p.first_tick(t0, t0, after)))
                }
                _ => {
                    started = None;
                    exits.push((p.tick(t0, kill_tick), 137, Stop::StartupProbe));
                }
            }
        }
        let mut ready = started;
        if let Some(p) = &self.readiness {
            ready = match (started, b.ready_after.at()) {
                (Some(s), Some(after)) => Some(
                    p.tick(
                        t0,
                        p.first_tick(t0, s, after)
                            .saturating_add(p.success_threshold - 1),
                    ),
                ),
                _ => None,
            };
        }
        if let (Some(p), Some(s), Some(after)) =
            (&self.liveness, started, b.liveness_fail_after.at())
        {
            exits.push((
                p.tick(
                    t0,
                    p.first_tick(t0, s, after)
                        .saturating_add(p.failure_threshold - 1),
                ),
                137,
                Stop::Liveness,
            ));
        }
        let exit = exits.into_iter().min_by_key(|e| e.0);
        if let Some((at, _, _)) = exit {
            started = started.filter(|s| *s <= at);
            ready = ready.filter(|r| *r < at);
        }
        Plan {
            exit,
            started,
            ready,
        }
    }

    /// Start the container at `at` (its image pulled, or found present): the Events
    /// upstream's kubelet records — Pulled, Created, Started — and its first log line.
    /// A container whose configuration is bad stops at `CreateContainerConfigError`.
    pub fn run(
        &mut self,
        at: Duration,
        images: &mut HashSet<String>,
        logs: &mut Vec<LogEvent>,
        events: &mut Vec<SimEvent>,
    ) {
        let pulling = match &self.state {
            State::Waiting { pulling, .. } => *pulling,
            _ => None,
        };
        let pulling = pulling.or_else(|| {
            // A restart pulls again under `Always`, at once.
            (self.pull_always || !images.contains(&self.image)).then(|| {
                events.push(self.event(
                    at,
                    false,
                    "Pulling",
                    format!("Pulling image {:?}", self.image),
                ));
                at
            })
        });
        let pulled = match pulling {
            Some(since) => {
                images.insert(self.image.clone());
                let took = go_duration(at.saturating_sub(since));
                format!(
                    "Successfully pulled image {:?} in {took} ({took} including waiting). Image size: {} bytes.",
                    self.image,
                    image_size(&self.image)
                )
            }
            None => format!(
                "Container image {:?} already present on machine and can be accessed by the pod",
                self.image
            ),
        };
        events.push(self.event(at, false, "Pulled", pulled));
        if let Some(error) = self.config_error.clone() {
            events.push(self.event(at, true, "Failed", format!("Error: {error}")));
            self.state = State::Waiting {
                reason: "CreateContainerConfigError",
                message: Some(error),
                until: None,
                pulling: None,
            };
            return;
        }
        if self.last.is_some() {
            self.restart_count = self.restart_count.saturating_add(1);
        }
        self.container_id = container_id(&self.uid, &self.name, self.restart_count);
        self.noted_unready = false;
        events.push(self.event(
            at,
            false,
            "Created",
            format!("Created container: {}", self.name),
        ));
        events.push(self.event(
            at,
            false,
            "Started",
            format!("Started container {}", self.name),
        ));
        let plan = self.plan(at);
        self.state = State::Running {
            since: at,
            plan,
            printed: 0,
            unreported: at,
        };
        logs.push(self.line(
            at,
            format!(
                "Started container {} (image {})",
                self.name,
                image_ref(&self.image)
            ),
        ));
    }

    pub fn is_running(&self) -> bool {
        matches!(self.state, State::Running { .. })
    }

    pub fn succeeded(&self) -> bool {
        matches!(&self.state, State::Terminated(t) if t.exit_code == 0)
    }

    /// Running and ready at `now`.
    pub fn ready(&self, now: Duration) -> bool {
        matches!(&self.state, State::Running { plan, .. } if plan.ready.is_some_and(|r| r <= now))
    }

    fn started(&self, now: Duration) -> bool {
        matches!(&self.state, State::Running { plan, .. } if plan.started.is_some_and(|s| s <= now))
    }

    /// Memory in use at `now`, bytes (0 unless running).
    pub fn memory(&self, now: Duration) -> u64 {
        match &self.state {
            State::Running { since, .. } => {
                let grown = self.behaviour.memory_growth_per_second as f64
                    * now.saturating_sub(*since).as_secs_f64();
                let grown = self.behaviour.memory_bytes.saturating_add(grown as u64);
                self.memory_limit.map_or(grown, |l| grown.min(l))
            }
            _ => 0,
        }
    }

    /// CPU in use, millicores (0 unless running).
    pub fn cpu_millis(&self) -> u64 {
        if self.is_running() {
            self.behaviour.cpu_millis
        } else {
            0
        }
    }

    /// Stop a running container at `at`.
    pub fn terminate(
        &mut self,
        at: Duration,
        exit_code: i32,
        reason: &str,
        message: Option<String>,
        logs: &mut Vec<LogEvent>,
    ) {
        let since = match &self.state {
            State::Running { since, .. } => *since,
            _ => at,
        };
        let text = match reason {
            "OOMKilled" => "Out of memory: Killed process 1".to_string(),
            _ => format!("Exited with code {exit_code}"),
        };
        logs.push(LogEvent {
            ends: true,
            ..self.line(at, text)
        });
        self.state = State::Terminated(Terminated {
            exit_code,
            reason: reason.to_string(),
            message,
            started: Some(since),
            finished: Some(at),
            container_id: self.container_id.clone(),
        });
    }

    /// Advance a running container to `now`: printed lines, failed probes (Events, and
    /// the first one in the log), and its exit when `may_exit`. Returns whether it
    /// stopped.
    pub fn advance_running(
        &mut self,
        now: Duration,
        logs: &mut Vec<LogEvent>,
        events: &mut Vec<SimEvent>,
        may_exit: bool,
        restarts: bool,
    ) -> bool {
        let State::Running {
            since,
            plan,
            printed,
            unreported,
        } = &mut self.state
        else {
            return false;
        };
        let (since, plan_now, from) = (*since, plan.clone(), *unreported);
        let limit = plan_now.exit.map_or(now, |(at, _, _)| at.min(now));
        let mut lines = Vec::new();
        while let Some(line) = self.behaviour.output.get(*printed) {
            let at = since.saturating_add(line.at);
            if at > limit {
                break;
            }
            lines.push((at, line.text.clone()));
            *printed += 1;
        }
        if limit >= from {
            *unreported = limit.saturating_add(Duration::from_nanos(1));
        }
        for (at, text) in lines {
            logs.push(self.line(at, text));
        }
        if limit >= from {
            self.report_probes(since, &plan_now, from, limit, logs, events);
        }
        match plan_now.exit {
            Some((at, code, why)) if at <= now && may_exit => {
                let (reason, message) = match why {
                    Stop::OomKilled => ("OOMKilled", None),
                    _ if code == 0 => ("Completed", None),
                    _ => ("Error", None),
                };
                let restart = if restarts { ", will be restarted" } else { "" };
                match why {
                    Stop::Liveness => {
                        logs.push(self.line(
                            at,
                            "Liveness probe failed; the kubelet is restarting the container".into(),
                        ));
                        events.push(self.event(
                            at,
                            false,
                            "Killing",
                            format!("Container {} failed liveness probe{restart}", self.name),
                        ));
                    }
                    Stop::StartupProbe => {
                        logs.push(self.line(
                            at,
                            "Startup probe failed; the kubelet is restarting the container".into(),
                        ));
                        events.push(self.event(
                            at,
                            false,
                            "Killing",
                            format!("Container {} failed startup probe{restart}", self.name),
                        ));
                    }
                    _ => {}
                }
                self.terminate(at, code, reason, message, logs);
                true
            }
            _ => false,
        }
    }

    /// The failing probes between `from` and `to` as `Unhealthy` Events (counted, as
    /// upstream's event correlator counts repeats); readiness also in the log, once
    /// when it first fails and once when it succeeds.
    fn report_probes(
        &mut self,
        since: Duration,
        plan: &Plan,
        from: Duration,
        to: Duration,
        logs: &mut Vec<LogEvent>,
        events: &mut Vec<SimEvent>,
    ) {
        for (kind, probe, lo, hi) in self.failing(since, plan) {
            if let Some((at, count)) = probe.failures(since, lo, hi, from, to) {
                let message = format!(
                    "{kind} probe failed: {}",
                    probe.output.replace("{pod-ip}", &self.pod_ip)
                );
                if kind == "Readiness" && !self.noted_unready {
                    self.noted_unready = true;
                    logs.push(self.line(at, message.clone()));
                }
                events.push(SimEvent {
                    count,
                    ..self.event(at, true, "Unhealthy", message)
                });
            }
        }
        if let Some(ready) = plan
            .ready
            .filter(|r| self.readiness.is_some() && *r >= from && *r <= to)
        {
            logs.push(self.line(ready, "Readiness probe succeeded".into()));
        }
    }

    /// Each probe with the window of its failing ticks: from `lo`, before `hi`.
    /// Liveness and startup probes stop when the pod is being deleted (upstream sets
    /// them to success, "to ensure quiet shutdown"); readiness goes on.
    fn failing(
        &self,
        since: Duration,
        plan: &Plan,
    ) -> Vec<(&'static str, Probe, Duration, Option<Duration>)> {
        let mut out = Vec::new();
        if let (Some(p), false) = (&self.startup, self.stopping) {
            out.push(("Startup", p.clone(), since, plan.started));
        }
        if let (Some(p), Some(started)) = (&self.readiness, plan.started) {
            let hi = self
                .behaviour
                .ready_after
                .at()
                .map(|a| since.saturating_add(a));
            out.push(("Readiness", p.clone(), started, hi));
        }
        if let (Some(p), Some(started), Some(after), false) = (
            &self.liveness,
            plan.started,
            self.behaviour.liveness_fail_after.at(),
            self.stopping,
        ) {
            out.push((
                "Liveness",
                p.clone(),
                started.max(since.saturating_add(after)),
                None,
            ));
        }
        out
    }

    /// When something next happens to this container, if ever.
    pub fn next_event(&self) -> Option<Duration> {
        match &self.state {
            State::Waiting { until, .. } => *until,
            State::Running {
                since,
                plan,
                printed,
                unreported,
            } => {
                let line = self
                    .behaviour
                    .output
                    .get(*printed)
                    .map(|l| since.saturating_add(l.at));
                let probes = self
                    .failing(*since, plan)
                    .into_iter()
                    .filter_map(|(_, p, lo, hi)| p.next_failure(*since, lo, hi, *unreported));
                let exit = plan.exit.map(|e| e.0);
                [exit, plan.started, plan.ready, line]
                    .into_iter()
                    .flatten()
                    .chain(probes.filter(|t| exit.is_none_or(|e| *t <= e)))
                    .filter(|t| t >= unreported)
                    .min()
            }
            State::Terminated(_) => None,
        }
    }

    /// After an exit: restart now, wait out the back-off (`CrashLoopBackOff`), or stay
    /// terminated. Upstream's `doBackOff`: within the back-off window of the last
    /// restart the container waits; otherwise it restarts at once and the window
    /// doubles (10 s up to 5 min). A container that ran longer than twice the maximum
    /// since its last restart starts over at 10 s.
    pub fn restart(
        &mut self,
        pod: &str,
        namespace: &str,
        uid: &str,
        images: &mut HashSet<String>,
        logs: &mut Vec<LogEvent>,
        events: &mut Vec<SimEvent>,
    ) {
        let State::Terminated(t) = &self.state else {
            return;
        };
        let t = t.clone();
        let finished = t.finished.unwrap_or_default();
        self.before_last = self.last.replace(t);
        let expired = |b: &Backoff| finished.saturating_sub(b.last_update) > BACKOFF_MAX * 2;
        match self.backoff.filter(|b| !expired(b)) {
            Some(b) => {
                self.state = State::Waiting {
                    reason: "CrashLoopBackOff",
                    message: Some(format!(
                        "back-off {} restarting failed container={} pod={pod}_{namespace}({uid})",
                        go_duration(b.delay),
                        self.name
                    )),
                    until: Some(finished.saturating_add(b.delay)),
                    pulling: None,
                };
                events.push(self.event(
                    finished,
                    true,
                    "BackOff",
                    format!(
                        "Back-off restarting failed container {} in pod {pod}_{namespace}({uid})",
                        self.name
                    ),
                ));
            }
            None => {
                self.backoff = Some(Backoff {
                    delay: BACKOFF_INITIAL,
                    last_update: finished,
                });
                self.run(finished, images, logs, events);
            }
        }
    }

    /// Forget the back-off (the kubelet that kept it restarted).
    pub fn forget_backoff(&mut self) {
        self.backoff = None;
    }

    /// The back-off is over at `at`: the window doubles (upstream's `Backoff.Next`).
    pub fn backoff_passed(&mut self, at: Duration) {
        if let Some(b) = &mut self.backoff {
            b.delay = b.delay.saturating_mul(2).min(BACKOFF_MAX);
            b.last_update = at;
        }
    }

    /// The pod was terminated and this container will not run again: a container in
    /// back-off reports its last exit as its state; one never started, when
    /// `unknown_if_never_ran`, is `ContainerStatusUnknown` (upstream's `TerminatePod`).
    pub fn settle(&mut self, unknown_if_never_ran: bool) {
        let State::Waiting { .. } = self.state else {
            return;
        };
        if let Some(last) = self.last.take() {
            self.state = State::Terminated(last);
            self.last = self.before_last.take();
        } else if unknown_if_never_ran {
            self.state = State::Terminated(Terminated {
                exit_code: 137,
                reason: STATUS_UNKNOWN.into(),
                message: Some(STATUS_UNKNOWN_MESSAGE.into()),
                started: None,
                finished: None,
                container_id: String::new(),
            });
        }
    }

    /// Take over the state a previous kubelet-sim process reported (as a restarted
    /// kubelet finds its containers still running): restart count, last termination,
    /// and a running, terminated or backing-off state. Nothing before `now` is replayed
    /// (no log lines, no Events).
    pub fn adopt(&mut self, status: &ContainerStatus, clock: &Clock, now: Duration) {
        let at = |t: &Option<Time>| t.as_ref().map(|t| clock.at_wall(t.0));
        let terminated = |t: &ContainerStateTerminated| Terminated {
            exit_code: t.exit_code,
            reason: t.reason.clone().unwrap_or_default(),
            message: t.message.clone(),
            started: at(&t.started_at),
            finished: at(&t.finished_at),
            container_id: t.container_id.clone().unwrap_or_default(),
        };
        self.restart_count = status.restart_count.max(0);
        self.last = status
            .last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .map(terminated);
        if let Some(id) = status.container_id.clone() {
            self.container_id = id;
        }
        let Some(state) = status.state.as_ref() else {
            return;
        };
        if let Some(running) = &state.running {
            let since = at(&running.started_at).unwrap_or(now).min(now);
            let plan = self.plan(since);
            let printed = self
                .behaviour
                .output
                .iter()
                .take_while(|l| since.saturating_add(l.at) <= now)
                .count();
            self.noted_unready = true;
            self.state = State::Running {
                since,
                plan,
                printed,
                unreported: now.saturating_add(Duration::from_nanos(1)),
            };
        } else if let Some(t) = &state.terminated {
            self.state = State::Terminated(terminated(t));
        } else if self.last.is_some() {
            // Back-off is kept in memory upstream: a restarted kubelet restarts at once.
            self.state = State::waiting("ContainerCreating", Some(now));
        }
    }

    fn api_state(&self, clock: &Clock) -> ContainerState {
        match &self.state {
            State::Waiting {
                reason, message, ..
            } => ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some(reason.to_string()),
                    message: message.clone(),
                }),
                ..Default::default()
            },
            State::Running { since, .. } => ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: Some(Time(clock.wall(*since))),
                }),
                ..Default::default()
            },
            State::Terminated(t) => terminated_state(clock, t),
        }
    }

    /// The container's status as the kubelet reports it.
    pub fn api_status(&self, clock: &Clock, now: Duration, init: bool) -> ContainerStatus {
        let created = match &self.state {
            State::Waiting { reason, .. } => {
                !matches!(
                    *reason,
                    "ContainerCreating" | "PodInitializing" | "CreateContainerConfigError"
                ) || self.last.is_some()
            }
            State::Terminated(t) => t.started.is_some(),
            State::Running { .. } => true,
        };
        let ready = if init {
            self.succeeded()
        } else {
            self.ready(now)
        };
        ContainerStatus {
            name: self.name.clone(),
            image: image_ref(&self.image),
            image_id: if created {
                image_id(&self.image)
            } else {
                String::new()
            },
            container_id: match &self.state {
                State::Terminated(t) => Some(t.container_id.clone()).filter(|id| !id.is_empty()),
                State::Running { .. } => Some(self.container_id.clone()),
                State::Waiting { .. } => self.last.as_ref().map(|l| l.container_id.clone()),
            },
            ready,
            started: Some(if init {
                self.is_running()
            } else {
                self.started(now)
            }),
            restart_count: self.restart_count,
            state: Some(self.api_state(clock)),
            last_state: Some(
                self.last
                    .as_ref()
                    .map(|t| terminated_state(clock, t))
                    .unwrap_or_default(),
            ),
            ..Default::default()
        }
    }

    /// Which instance's log a request means, as upstream's `validateContainerLogStatus`:
    /// the running one, else the last terminated; `previous`: the one before. The error
    /// is upstream's message.
    pub fn log_instance(&self, pod: &str, previous: bool) -> Result<String, String> {
        let last = self
            .last
            .as_ref()
            .map(|t| t.container_id.clone())
            .filter(|id| !id.is_empty());
        if previous {
            return last.ok_or_else(|| {
                format!(
                    "previous terminated container {:?} in pod {pod:?} not found",
                    self.name
                )
            });
        }
        match &self.state {
            State::Running { .. } => Ok(self.container_id.clone()),
            State::Terminated(t) if !t.container_id.is_empty() => Ok(t.container_id.clone()),
            State::Terminated(_) => last
                .ok_or_else(|| format!("container {:?} in pod {pod:?} is terminated", self.name)),
            State::Waiting { reason, .. } => last.ok_or_else(|| {
                format!(
                    "container {:?} in pod {pod:?} is waiting to start: {reason}",
                    self.name
                )
            }),
        }
    }
}

fn terminated_state(clock: &Clock, t: &Terminated) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: t.exit_code,
            reason: Some(t.reason.clone()),
            message: t.message.clone(),
            started_at: t.started.map(|s| Time(clock.wall(s))),
            finished_at: t.finished.map(|f| Time(clock.wall(f))),
            container_id: Some(t.container_id.clone()).filter(|id| !id.is_empty()),
            signal: None,
        }),
        ..Default::default()
    }
}
