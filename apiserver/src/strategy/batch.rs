//! batch/v1 Job and CronJob: `pkg/apis/batch/v1/defaults.go`, `pkg/apis/batch/validation`,
//! and the Job strategy's generated selector (`generateSelector` in `pkg/registry/batch/job`).

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job, JobSpec, JobStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kubesim_apimachinery::FieldError;
use kubesim_apimachinery::validation::is_dns1123_label;
use serde_json::Value;

use super::Strategy;
use super::cron;
use super::field::{Errors, IMMUTABLE, Path, json, non_negative};
use super::meta::{Scope, selector_matches, validate_label_selector};
use super::podspec;

pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
pub const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";
pub const LEGACY_JOB_NAME_LABEL: &str = "job-name";

/// CronJob names leave room for the scheduled Job's 11-character suffix.
const CRONJOB_NAME_MAX: usize = 52;

impl Strategy for Job {
    const SCOPE: Scope = Scope::Namespaced;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn normalize(&mut self) -> Result<(), String> {
        match self.spec.as_mut().and_then(|s| s.template.spec.as_mut()) {
            Some(s) => podspec::normalize(s),
            None => Ok(()),
        }
    }

    /// `SetDefaults_Job`.
    fn default(&mut self, _create: bool) {
        let spec = self.spec.get_or_insert_with(Default::default);
        if spec.completions.is_none() && spec.parallelism.is_none() {
            spec.completions = Some(1);
            spec.parallelism = Some(1);
        }
        spec.parallelism.get_or_insert(1);
        if spec.backoff_limit.is_none() {
            spec.backoff_limit = Some(if spec.backoff_limit_per_index.is_some() {
                i32::MAX
            } else {
                6
            });
        }
        spec.completion_mode
            .get_or_insert_with(|| "NonIndexed".into());
        spec.suspend.get_or_insert(false);
        spec.manual_selector.get_or_insert(false);
        if spec.pod_replacement_policy.is_none() {
            let p = if spec.pod_failure_policy.is_some() {
                "Failed"
            } else {
                "TerminatingOrFailed"
            };
            spec.pod_replacement_policy = Some(p.into());
        }
        podspec::default_template(&mut spec.template);
        copy_template_labels(self);
    }

    /// `PrepareForCreate`: empty status and, unless the selector is manual, the generated
    /// selector and pod labels tying the pods to this Job's uid.
    fn prepare_for_create(&mut self) {
        self.status = Some(JobStatus::default());
        generate_selector(self);
        // Reading the Job back defaults it again: the now-labelled template lends its labels.
        copy_template_labels(self);
    }

    fn validate(&self, raw: &Value) -> Errors {
        let mut errs = validate_generated_selector(self);
        let spec = self.spec.clone().unwrap_or_default();
        errs.extend(validate_job_spec(&spec, raw, &Path::new("spec")));
        if spec.completion_mode.as_deref() == Some("Indexed")
            && let Some(c) = spec.completions.filter(|c| *c > 0)
        {
            let name = self.metadata.name.clone().unwrap_or_default();
            let max_host = format!("{name}-{}", c - 1);
            if !is_dns1123_label(&max_host).is_empty() {
                errs.push(FieldError::invalid(
                    Path::new("metadata").child("name"),
                    name.as_str(),
                    format!("will not able to create pod with invalid DNS label: {max_host}"),
                ));
            }
        }
        errs
    }

    /// `ValidateJobUpdate`: selector, completion mode and (unless suspended) template fixed.
    fn validate_update(&self, old: &Self, raw: &Value) -> Errors {
        let mut errs = self.validate(raw);
        let (n, o) = (
            self.spec.clone().unwrap_or_default(),
            old.spec.clone().unwrap_or_default(),
        );
        let p = Path::new("spec");
        let elastic =
            n.completion_mode.as_deref() == Some("Indexed") && n.completions == n.parallelism;
        if n.completions != o.completions && !elastic {
            errs.push(FieldError::invalid(
                p.child("completions"),
                json(&n.completions),
                IMMUTABLE,
            ));
        }
        if n.selector != o.selector {
            errs.push(FieldError::invalid(
                p.child("selector"),
                json(&n.selector),
                IMMUTABLE,
            ));
        }
        if n.completion_mode != o.completion_mode {
            errs.push(FieldError::invalid(
                p.child("completionMode"),
                json(&n.completion_mode),
                IMMUTABLE,
            ));
        }
        if n.pod_failure_policy != o.pod_failure_policy {
            errs.push(FieldError::invalid(
                p.child("podFailurePolicy"),
                json(&n.pod_failure_policy),
                IMMUTABLE,
            ));
        }
        let mut template = n.template.clone();
        // A suspended Job that never started may still change where its pods will run.
        if o.suspend == Some(true) {
            let (ts, os) = (
                template.spec.get_or_insert_with(Default::default),
                o.template.spec.clone().unwrap_or_default(),
            );
            ts.node_selector.clone_from(&os.node_selector);
            ts.affinity.clone_from(&os.affinity);
            ts.tolerations.clone_from(&os.tolerations);
            ts.scheduling_gates.clone_from(&os.scheduling_gates);
            let (tm, om) = (
                template.metadata.get_or_insert_with(Default::default),
                o.template.metadata.clone().unwrap_or_default(),
            );
            tm.labels.clone_from(&om.labels);
            tm.annotations.clone_from(&om.annotations);
        }
        if template != o.template {
            errs.push(FieldError::invalid(
                p.child("template"),
                json(&n.template),
                IMMUTABLE,
            ));
        }
        errs
    }
}

fn copy_template_labels(job: &mut Job) {
    let template_labels = job
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.clone());
    if let Some(l) = template_labels.filter(|l| !l.is_empty())
        && job.metadata.labels.as_ref().is_none_or(|m| m.is_empty())
    {
        job.metadata.labels = Some(l);
    }
}

/// `generateSelector`: label the pod template with the job's name and uid (both the
/// `batch.kubernetes.io/` and the legacy keys) and select on the uid.
fn generate_selector(job: &mut Job) {
    let name = job.metadata.name.clone().unwrap_or_default();
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let Some(spec) = job.spec.as_mut() else {
        return;
    };
    if spec.manual_selector == Some(true) {
        return;
    }
    let labels = spec
        .template
        .metadata
        .get_or_insert_with(Default::default)
        .labels
        .get_or_insert_with(BTreeMap::new);
    for key in [LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL] {
        labels.entry(key.into()).or_insert_with(|| name.clone());
    }
    for key in [LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL] {
        labels.entry(key.into()).or_insert_with(|| uid.clone());
    }
    let sel = spec.selector.get_or_insert_with(LabelSelector::default);
    sel.match_labels
        .get_or_insert_with(BTreeMap::new)
        .entry(CONTROLLER_UID_LABEL.into())
        .or_insert(uid);
}

/// `validateGeneratedSelector`: the generated labels are present and the selector is ours.
fn validate_generated_selector(job: &Job) -> Errors {
    let mut errs = Errors::new();
    let spec = job.spec.clone().unwrap_or_default();
    if spec.manual_selector == Some(true) {
        return errs;
    }
    let Some(sel) = &spec.selector else {
        return errs;
    };
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let name = job.metadata.name.clone().unwrap_or_default();
    if uid.is_empty() {
        errs.push(FieldError::required(Path::new("metadata").child("uid"), ""));
    }
    let tm = spec.template.metadata.clone().unwrap_or_default();
    let mp = Path::new("spec").children(&["template", "metadata"]);
    for (key, want) in [
        (LEGACY_CONTROLLER_UID_LABEL, &uid),
        (LEGACY_JOB_NAME_LABEL, &name),
        (CONTROLLER_UID_LABEL, &uid),
        (JOB_NAME_LABEL, &name),
    ] {
        errs.extend(has_label(&tm, &mp, key, want));
    }
    let expected = LabelSelector {
        match_labels: Some([(CONTROLLER_UID_LABEL.to_string(), uid.clone())].into()),
        match_expressions: None,
    };
    if *sel != expected {
        errs.push(FieldError::invalid(
            Path::new("spec").child("selector"),
            json(sel),
            "`selector` not auto-generated",
        ));
    }
    errs
}

/// `ValidateHasLabel`.
fn has_label(meta: &ObjectMeta, p: &Path, key: &str, want: &str) -> Errors {
    match meta.labels.as_ref().and_then(|l| l.get(key)) {
        None => vec![FieldError::required(
            p.child("labels").key(key),
            format!("must be '{want}'"),
        )],
        Some(v) if v != want => vec![FieldError::invalid(
            p.child("labels").key(key),
            json(&meta.labels),
            format!("must be '{want}'"),
        )],
        _ => Vec::new(),
    }
}

/// `ValidateJobSpec`: `validateJobSpec` plus the selector checks of a Job.
fn validate_job_spec(spec: &JobSpec, _raw: &Value, p: &Path) -> Errors {
    let mut errs = validate_job_spec_common(spec, p);
    match &spec.selector {
        None => errs.push(FieldError::required(p.child("selector"), "")),
        Some(sel) => {
            errs.extend(validate_label_selector(sel, &p.child("selector")));
            let labels = spec
                .template
                .metadata
                .as_ref()
                .and_then(|m| m.labels.clone())
                .unwrap_or_default();
            if selector_matches(sel, &labels) == Some(false) {
                errs.push(FieldError::invalid(
                    p.children(&["template", "metadata", "labels"]),
                    json(&labels),
                    "`selector` does not match template `labels`",
                ));
            }
        }
    }
    errs
}

/// `validateJobSpec`: counts, modes, the pod template, and a restart policy a Job can use.
fn validate_job_spec_common(spec: &JobSpec, p: &Path) -> Errors {
    let mut errs = Errors::new();
    for (v, f) in [
        (spec.parallelism.map(i64::from), "parallelism"),
        (spec.completions.map(i64::from), "completions"),
        (spec.active_deadline_seconds, "activeDeadlineSeconds"),
        (spec.backoff_limit.map(i64::from), "backoffLimit"),
        (
            spec.ttl_seconds_after_finished.map(i64::from),
            "ttlSecondsAfterFinished",
        ),
    ] {
        if let Some(v) = v {
            errs.extend(non_negative(v, &p.child(f)));
        }
    }
    if let Some(mode) = spec.completion_mode.as_deref() {
        match mode {
            "NonIndexed" => {}
            "Indexed" => {
                if spec.completions.is_none() {
                    errs.push(FieldError::required(
                        p.child("completions"),
                        "when completion mode is Indexed",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                p.child("completionMode"),
                other,
                &["NonIndexed", "Indexed"],
            )),
        }
    }
    if let Some(prp) = spec.pod_replacement_policy.as_deref()
        && prp != "TerminatingOrFailed"
        && prp != "Failed"
    {
        errs.push(FieldError::not_supported(
            p.child("podReplacementPolicy"),
            prp,
            &["Failed", "TerminatingOrFailed"],
        ));
    }
    let tp = p.child("template");
    errs.extend(podspec::validate_template(&spec.template, &tp));
    let restart = spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.clone())
        .unwrap_or_default();
    let rp = tp.children(&["spec", "restartPolicy"]);
    match restart.as_str() {
        "Always" | "" => errs.push(FieldError::required(
            rp,
            "valid values: \"OnFailure\", \"Never\"",
        )),
        "OnFailure" => {
            if spec.pod_failure_policy.is_some() {
                errs.push(FieldError::invalid(
                    rp,
                    "OnFailure",
                    "only \"Never\" is supported when podFailurePolicy is specified",
                ));
            }
        }
        "Never" => {}
        other => errs.push(FieldError::not_supported(
            rp,
            other,
            &["OnFailure", "Never"],
        )),
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// CronJob

impl Strategy for CronJob {
    const SCOPE: Scope = Scope::Namespaced;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn normalize(&mut self) -> Result<(), String> {
        match self
            .spec
            .as_mut()
            .and_then(|s| s.job_template.spec.as_mut())
            .and_then(|j| j.template.spec.as_mut())
        {
            Some(s) => podspec::normalize(s),
            None => Ok(()),
        }
    }

    /// `SetDefaults_CronJob`; the job template gets only pod-template defaults.
    fn default(&mut self, _create: bool) {
        let spec = self.spec.get_or_insert_with(Default::default);
        if spec.concurrency_policy.as_deref().unwrap_or("").is_empty() {
            spec.concurrency_policy = Some("Allow".into());
        }
        spec.suspend.get_or_insert(false);
        spec.successful_jobs_history_limit.get_or_insert(3);
        spec.failed_jobs_history_limit.get_or_insert(1);
        let job = spec.job_template.spec.get_or_insert_with(Default::default);
        podspec::default_template(&mut job.template);
    }

    fn prepare_for_create(&mut self) {
        self.status = Some(CronJobStatus::default());
    }

    fn validate(&self, _raw: &Value) -> Errors {
        let mut errs = Errors::new();
        let name = self.metadata.name.clone().unwrap_or_default();
        if name.len() > CRONJOB_NAME_MAX {
            errs.push(FieldError::invalid(
                Path::new("metadata").child("name"),
                name.as_str(),
                "must be no more than 52 characters",
            ));
        }
        errs.extend(validate_cron_job_spec(
            &self.spec.clone().unwrap_or_default(),
            None,
        ));
        errs
    }

    fn validate_update(&self, old: &Self, _raw: &Value) -> Errors {
        validate_cron_job_spec(&self.spec.clone().unwrap_or_default(), old.spec.as_ref())
    }
}

fn validate_cron_job_spec(
    spec: &k8s_openapi::api::batch::v1::CronJobSpec,
    old: Option<&k8s_openapi::api::batch::v1::CronJobSpec>,
) -> Errors {
    let p = Path::new("spec");
    let mut errs = Errors::new();
    let sp = p.child("schedule");
    if spec.schedule.is_empty() {
        errs.push(FieldError::required(&sp, ""));
    } else {
        if let Err(e) = cron::parse_standard(&spec.schedule) {
            errs.push(FieldError::invalid(&sp, spec.schedule.as_str(), e));
        }
        let allow_tz = old.is_some_and(|o| o.schedule.contains("TZ"));
        if allow_tz && spec.schedule.contains("TZ") && spec.time_zone.is_some() {
            errs.push(FieldError::invalid(
                &sp,
                spec.schedule.as_str(),
                "cannot use both timeZone field and TZ or CRON_TZ in schedule",
            ));
        } else if !allow_tz && spec.schedule.contains("TZ") {
            errs.push(FieldError::invalid(
                &sp,
                spec.schedule.as_str(),
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ));
        }
    }
    if let Some(s) = spec.starting_deadline_seconds {
        errs.extend(non_negative(s, &p.child("startingDeadlineSeconds")));
    }
    if old.is_none_or(|o| o.time_zone != spec.time_zone)
        && let Some(tz) = spec.time_zone.as_deref()
    {
        errs.extend(validate_time_zone(tz, &p.child("timeZone")));
    }
    match spec.concurrency_policy.as_deref().unwrap_or("") {
        "" => errs.push(FieldError::required(p.child("concurrencyPolicy"), "")),
        "Allow" | "Forbid" | "Replace" => {}
        other => errs.push(FieldError::not_supported(
            p.child("concurrencyPolicy"),
            other,
            &["Allow", "Forbid", "Replace"],
        )),
    }
    let jp = p.child("jobTemplate");
    let job = spec.job_template.spec.clone().unwrap_or_default();
    errs.extend(validate_job_spec_common(&job, &jp.child("spec")));
    if let Some(sel) = &job.selector {
        errs.push(FieldError::invalid(
            jp.children(&["spec", "selector"]),
            json(sel),
            "`selector` will be auto-generated",
        ));
    }
    if job.manual_selector == Some(true) {
        errs.push(FieldError::not_supported(
            jp.children(&["spec", "manualSelector"]),
            true,
            &["nil", "false"],
        ));
    }
    for (v, f) in [
        (
            spec.successful_jobs_history_limit,
            "successfulJobsHistoryLimit",
        ),
        (spec.failed_jobs_history_limit, "failedJobsHistoryLimit"),
    ] {
        if let Some(v) = v {
            errs.extend(non_negative(i64::from(v), &p.child(f)));
        }
    }
    errs
}

/// `validateTimeZone`: an explicit IANA zone. Known when the host's zoneinfo has it (Go
/// embeds the database; a host without one accepts any well-formed name).
fn validate_time_zone(tz: &str, p: &Path) -> Errors {
    if tz.eq_ignore_ascii_case("local") {
        return vec![FieldError::invalid(
            p,
            tz,
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        )];
    }
    let well_formed = !tz.is_empty()
        && !tz.starts_with('/')
        && !tz.split('/').any(|s| s == "..")
        && tz
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_-+".contains(c));
    let zoneinfo = std::path::Path::new("/usr/share/zoneinfo");
    let known = tz == "UTC" || (well_formed && (!zoneinfo.is_dir() || zoneinfo.join(tz).is_file()));
    if known {
        Vec::new()
    } else {
        vec![FieldError::invalid(
            p,
            tz,
            format!("unknown time zone {tz}"),
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{create, update};
    use serde_json::{Value, json};

    fn job(spec: Value) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi", "namespace": "default", "uid": "uid-1"}, "spec": spec})
    }

    fn pi_template() -> Value {
        json!({"spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl:5.34"}]}})
    }

    #[test]
    fn job_defaults_and_generated_selector() {
        let out = create("batch", "Job", job(json!({"template": pi_template()})));
        assert!(out.is_ok(), "{out:?}");
        let out = out.unwrap_or_default();
        let s = &out["spec"];
        assert_eq!(s["completions"], 1);
        assert_eq!(s["parallelism"], 1);
        assert_eq!(s["backoffLimit"], 6);
        assert_eq!(s["completionMode"], "NonIndexed");
        assert_eq!(s["suspend"], false);
        assert_eq!(s["manualSelector"], false);
        assert_eq!(s["podReplacementPolicy"], "TerminatingOrFailed");
        assert_eq!(
            s["selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "uid-1"}})
        );
        let labels = json!({"batch.kubernetes.io/controller-uid": "uid-1", "batch.kubernetes.io/job-name": "pi", "controller-uid": "uid-1", "job-name": "pi"});
        assert_eq!(s["template"]["metadata"]["labels"], labels);
        assert_eq!(out["metadata"]["labels"], labels);
        assert_eq!(out["status"], json!({}));
    }

    #[test]
    fn job_restart_policy_must_be_on_failure_or_never() {
        let mut t = pi_template();
        t["spec"].as_object_mut().map(|m| m.remove("restartPolicy"));
        assert_eq!(
            create("batch", "Job", job(json!({"template": t}))),
            Err(vec!["spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"".to_string()])
        );
    }

    #[test]
    fn job_manual_selector_must_match() {
        let mut t = pi_template();
        t["metadata"] = json!({"labels": {"app": "pi"}});
        let spec = json!({"manualSelector": true, "selector": {"matchLabels": {"app": "other"}}, "template": t});
        assert_eq!(
            create("batch", "Job", job(spec)),
            Err(vec!["spec.template.metadata.labels: Invalid value: {\"app\":\"pi\"}: `selector` does not match template `labels`".to_string()])
        );
        let spec = json!({"selector": {"matchLabels": {"app": "pi"}}, "template": pi_template()});
        let e = create("batch", "Job", job(spec)).err().unwrap_or_default();
        assert_eq!(e.len(), 2);
        assert_eq!(
            e[0],
            "spec.selector: Invalid value: {\"matchLabels\":{\"app\":\"pi\",\"batch.kubernetes.io/controller-uid\":\"uid-1\"}}: `selector` not auto-generated"
        );
        assert!(e[1].ends_with("`selector` does not match template `labels`"));
    }

    #[test]
    fn job_update_keeps_template_and_completions() {
        let old = job(json!({"template": pi_template()}));
        let stored = create("batch", "Job", old.clone()).unwrap_or_default();
        let mut new = stored.clone();
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("perl:5.36");
        new["spec"]["completions"] = json!(2);
        let e = update("batch", "Job", old, new).err().unwrap_or_default();
        assert_eq!(e.len(), 2);
        assert_eq!(
            e[0],
            "spec.completions: Invalid value: 2: field is immutable"
        );
        assert!(e[1].starts_with("spec.template: Invalid value: {"));
        assert!(e[1].ends_with(": field is immutable"));
    }

    fn cronjob(spec: Value) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "hello", "namespace": "default"}, "spec": spec})
    }

    #[test]
    fn cronjob_defaults() {
        let out = create(
            "batch",
            "CronJob",
            cronjob(
                json!({"schedule": "*/1 * * * *", "jobTemplate": {"spec": {"template": pi_template()}}}),
            ),
        );
        assert!(out.is_ok(), "{out:?}");
        let out = out.unwrap_or_default();
        let s = &out["spec"];
        assert_eq!(s["concurrencyPolicy"], "Allow");
        assert_eq!(s["suspend"], false);
        assert_eq!(s["successfulJobsHistoryLimit"], 3);
        assert_eq!(s["failedJobsHistoryLimit"], 1);
        // Job defaults are for Jobs; the template only gets pod defaults.
        assert!(s["jobTemplate"]["spec"].get("backoffLimit").is_none());
        assert_eq!(
            s["jobTemplate"]["spec"]["template"]["spec"]["dnsPolicy"],
            "ClusterFirst"
        );
    }

    #[test]
    fn cronjob_validation() {
        let bad = cronjob(
            json!({"schedule": "every minute", "concurrencyPolicy": "Sometimes", "jobTemplate": {"spec": {"selector": {"matchLabels": {"a": "b"}}, "template": pi_template()}}}),
        );
        assert_eq!(
            create("batch", "CronJob", bad),
            Err(vec![
                "spec.schedule: Invalid value: \"every minute\": expected exactly 5 fields, found 2: [every minute]".to_string(),
                "spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\"".to_string(),
                "spec.jobTemplate.spec.selector: Invalid value: {\"matchLabels\":{\"a\":\"b\"}}: `selector` will be auto-generated".to_string(),
            ])
        );
        let tz = cronjob(
            json!({"schedule": "TZ=UTC 0 * * * *", "jobTemplate": {"spec": {"template": pi_template()}}}),
        );
        assert_eq!(
            create("batch", "CronJob", tz),
            Err(vec!["spec.schedule: Invalid value: \"TZ=UTC 0 * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead".to_string()])
        );
        let mut long = cronjob(
            json!({"schedule": "@daily", "jobTemplate": {"spec": {"template": pi_template()}}}),
        );
        long["metadata"]["name"] = json!("a".repeat(53));
        assert_eq!(
            create("batch", "CronJob", long),
            Err(vec![format!(
                "metadata.name: Invalid value: \"{}\": must be no more than 52 characters",
                "a".repeat(53)
            )])
        );
        let empty = cronjob(json!({"jobTemplate": {"spec": {"template": pi_template()}}}));
        assert_eq!(
            create("batch", "CronJob", empty),
            Err(vec!["spec.schedule: Required value".to_string()])
        );
    }
}
