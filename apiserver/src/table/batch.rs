//! Printers for `batch/v1`: jobs and cron jobs.

use jiff::Timestamp;
use serde_json::Value;

use super::print::{self, CONTAINERS_DOC, IMAGES_DOC, age, array_at, int_at, str_at, timestamp};
use super::{Column, Printer, docs};

pub fn printer(plural: &str) -> Option<Printer> {
    Some(match plural {
        "jobs" => JOBS,
        "cronjobs" => CRON_JOBS,
        _ => return None,
    })
}

const JOBS: Printer = Printer::new(
    &[
        Column::NAME,
        Column::new("Status", "string", "Status of the job."),
        Column::new("Completions", "string", docs::JOB_SUCCEEDED_DOC),
        Column::new("Duration", "string", "Time required to complete the job."),
        Column::AGE,
        Column::wide("Containers", "string", CONTAINERS_DOC),
        Column::wide("Images", "string", IMAGES_DOC),
        Column::wide("Selector", "string", docs::JOB_SELECTOR_DOC),
    ],
    job_row,
);

fn job_row(job: &Value, now: Timestamp) -> Vec<Value> {
    let succeeded = int_at(job, "/status/succeeded");
    // `1/1`, `2/5`; a work queue without completions shows its parallelism.
    let completions = match job.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(completions) => format!("{succeeded}/{completions}"),
        None => match int_at(job, "/spec/parallelism") {
            parallelism if parallelism > 1 => format!("{succeeded}/1 of {parallelism}"),
            _ => format!("{succeeded}/1"),
        },
    };
    // How long it ran, or has been running.
    let duration = match (
        timestamp(job.pointer("/status/startTime")),
        timestamp(job.pointer("/status/completionTime")),
    ) {
        (None, _) => String::new(),
        (Some(start), None) => print::human_duration(now.duration_since(start).as_secs()),
        (Some(start), Some(end)) => print::human_duration(end.duration_since(start).as_secs()),
    };
    let (containers, images) =
        print::containers_and_images(array_at(job, "/spec/template/spec/containers"));
    vec![
        print::name(job).into(),
        job_status(job).into(),
        completions.into(),
        duration.into(),
        age(job, now).into(),
        containers.into(),
        images.into(),
        print::format_label_selector(job.pointer("/spec/selector")).into(),
    ]
}

/// The job's state, the first that holds of: `Complete`, `Failed`, `Terminating`,
/// `Suspended`, `FailureTarget`, else `Running`.
fn job_status(job: &Value) -> &'static str {
    let conditions = array_at(job, "/status/conditions");
    let holds = |kind: &str| print::condition_true(conditions, kind);
    if holds("Complete") {
        "Complete"
    } else if holds("Failed") {
        "Failed"
    } else if job
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        "Terminating"
    } else if holds("Suspended") {
        "Suspended"
    } else if holds("FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    }
}

const CRON_JOBS: Printer = Printer::new(
    &[
        Column::NAME,
        Column::new("Schedule", "string", docs::SCHEDULE_DOC),
        Column::new("Timezone", "string", docs::TIME_ZONE_DOC),
        Column::new("Suspend", "boolean", docs::SUSPEND_DOC),
        Column::new("Active", "integer", docs::ACTIVE_DOC),
        Column::new("Last Schedule", "string", docs::LAST_SCHEDULE_DOC),
        Column::AGE,
        Column::wide("Containers", "string", CONTAINERS_DOC),
        Column::wide("Images", "string", IMAGES_DOC),
        Column::wide("Selector", "string", docs::JOB_SELECTOR_DOC),
    ],
    cron_job_row,
);

fn cron_job_row(cj: &Value, now: Timestamp) -> Vec<Value> {
    let last_schedule = match timestamp(cj.pointer("/status/lastScheduleTime")) {
        Some(at) => print::since(Some(at), now),
        None => "<none>".into(),
    };
    let time_zone = cj
        .pointer("/spec/timeZone")
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    // Upstream prints the pointer as a word: True, False, or <unset>.
    let suspend = match cj.pointer("/spec/suspend").and_then(Value::as_bool) {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    };
    let (containers, images) = print::containers_and_images(array_at(
        cj,
        "/spec/jobTemplate/spec/template/spec/containers",
    ));
    vec![
        print::name(cj).into(),
        str_at(cj, "/spec/schedule").into(),
        time_zone.into(),
        suspend.into(),
        array_at(cj, "/status/active").len().into(),
        last_schedule.into(),
        age(cj, now).into(),
        containers.into(),
        images.into(),
        print::format_label_selector(cj.pointer("/spec/jobTemplate/spec/selector")).into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2026-03-01T12:00:00Z".parse().expect("time")
    }

    fn job(spec: Value, status: Value) -> Value {
        json!({"metadata": {"name": "pi", "creationTimestamp": "2026-03-01T11:50:00Z"}, "spec": spec, "status": status})
    }

    #[test]
    fn job_status_completions_duration() {
        let complete = job(
            json!({"completions": 1, "parallelism": 1, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}},
                "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}}}),
            json!({"succeeded": 1, "startTime": "2026-03-01T11:50:00Z", "completionTime": "2026-03-01T11:50:34Z",
                "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}),
        );
        assert_eq!(
            job_row(&complete, now()),
            vec![
                json!("pi"),
                json!("Complete"),
                json!("1/1"),
                json!("34s"),
                json!("10m"),
                json!("pi"),
                json!("perl"),
                json!("batch.kubernetes.io/controller-uid=u")
            ]
        );
        let running = job(
            json!({"completions": 5}),
            json!({"succeeded": 2, "startTime": "2026-03-01T11:55:00Z"}),
        );
        assert_eq!(
            &job_row(&running, now())[1..4],
            &[json!("Running"), json!("2/5"), json!("5m")]
        );
        let queue = job(json!({"parallelism": 3}), json!({}));
        assert_eq!(
            &job_row(&queue, now())[1..4],
            &[json!("Running"), json!("0/1 of 3"), json!("")]
        );
        let single = job(json!({}), json!({}));
        assert_eq!(job_row(&single, now())[2], "0/1");
        let cases = [
            (json!([{"type": "Failed", "status": "True"}]), "Failed"),
            (
                json!([{"type": "Suspended", "status": "True"}]),
                "Suspended",
            ),
            (
                json!([{"type": "FailureTarget", "status": "True"}]),
                "FailureTarget",
            ),
            (json!([{"type": "Complete", "status": "False"}]), "Running"),
        ];
        for (conditions, want) in cases {
            assert_eq!(
                job_status(&job(json!({}), json!({"conditions": conditions}))),
                want
            );
        }
        let mut deleting = job(
            json!({}),
            json!({"conditions": [{"type": "Suspended", "status": "True"}]}),
        );
        deleting["metadata"]["deletionTimestamp"] = json!("2026-03-01T11:59:00Z");
        assert_eq!(job_status(&deleting), "Terminating");
    }

    #[test]
    fn cron_jobs() {
        let cj = json!({
            "metadata": {"name": "hello", "creationTimestamp": "2026-03-01T10:00:00Z"},
            "spec": {"schedule": "*/5 * * * *", "suspend": false,
                "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "hello", "image": "busybox"}]}}}}},
            "status": {"active": [{"name": "hello-1"}], "lastScheduleTime": "2026-03-01T11:55:00Z"},
        });
        assert_eq!(
            cron_job_row(&cj, now()),
            vec![
                json!("hello"),
                json!("*/5 * * * *"),
                json!("<none>"),
                json!("False"),
                json!(1),
                json!("5m"),
                json!("120m"),
                json!("hello"),
                json!("busybox"),
                json!("<none>")
            ]
        );
        let bare = cron_job_row(
            &json!({"metadata": {"name": "x"}, "spec": {"timeZone": "Etc/UTC"}}),
            now(),
        );
        assert_eq!(
            &bare[2..6],
            &[
                json!("Etc/UTC"),
                json!("<unset>"),
                json!(0),
                json!("<none>")
            ]
        );
    }
}
