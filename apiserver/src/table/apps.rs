//! Printers for `apps/v1`: deployments, replica sets, stateful sets, daemon sets and
//! controller revisions.

use jiff::Timestamp;
use serde_json::Value;

use super::print::{self, CONTAINERS_DOC, IMAGES_DOC, age, array_at, int_at, str_at};
use super::{Column, Printer, docs};

pub fn printer(plural: &str) -> Option<Printer> {
    Some(match plural {
        "deployments" => DEPLOYMENTS,
        "replicasets" => REPLICA_SETS,
        "statefulsets" => STATEFUL_SETS,
        "daemonsets" => DAEMON_SETS,
        "controllerrevisions" => CONTROLLER_REVISIONS,
        _ => return None,
    })
}

/// `spec.replicas`, which defaulting sets to 1 when a client leaves it out.
fn desired_replicas(obj: &Value) -> i64 {
    obj.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// The template's container names and images.
fn template_containers(obj: &Value) -> (String, String) {
    print::containers_and_images(array_at(obj, "/spec/template/spec/containers"))
}

const DEPLOYMENTS: Printer = Printer::new(
    &[
        Column::NAME,
        Column::new("Ready", "string", "Number of the pod with ready state"),
        Column::new("Up-to-date", "string", docs::DEPLOY_UPDATED_DOC),
        Column::new("Available", "string", docs::DEPLOY_AVAILABLE_DOC),
        Column::AGE,
        Column::wide("Containers", "string", CONTAINERS_DOC),
        Column::wide("Images", "string", IMAGES_DOC),
        Column::wide("Selector", "string", docs::DEPLOY_SELECTOR_DOC),
    ],
    deployment_row,
);

fn deployment_row(deploy: &Value, now: Timestamp) -> Vec<Value> {
    let (containers, images) = template_containers(deploy);
    // Unlike the other workloads', a deployment's selector prints as is: empty when it
    // selects everything, `<invalid>` when it is not a selector.
    let selector = print::label_selector(deploy.pointer("/spec/selector"))
        .unwrap_or_else(|()| "<invalid>".into());
    vec![
        print::name(deploy).into(),
        format!(
            "{}/{}",
            int_at(deploy, "/status/readyReplicas"),
            desired_replicas(deploy)
        )
        .into(),
        int_at(deploy, "/status/updatedReplicas").into(),
        int_at(deploy, "/status/availableReplicas").into(),
        age(deploy, now).into(),
        containers.into(),
        images.into(),
        selector.into(),
    ]
}

const REPLICA_SETS: Printer = Printer::new(
    &[
        Column::NAME,
        Column::new("Desired", "integer", docs::RS_REPLICAS_DOC),
        Column::new("Current", "integer", docs::RS_STATUS_REPLICAS_DOC),
        Column::new("Ready", "integer", docs::RS_READY_DOC),
        Column::AGE,
        Column::wide("Containers", "string", CONTAINERS_DOC),
        Column::wide("Images", "string", IMAGES_DOC),
        Column::wide("Selector", "string", docs::RS_SELECTOR_DOC),
    ],
    replica_set_row,
);

fn replica_set_row(rs: &Value, now: Timestamp) -> Vec<Value> {
    let (containers, images) = template_containers(rs);
    vec![
        print::name(rs).into(),
        desired_replicas(rs).into(),
        int_at(rs, "/status/replicas").into(),
        int_at(rs, "/status/readyReplicas").into(),
        age(rs, now).into(),
        containers.into(),
        images.into(),
        print::format_label_selector(rs.pointer("/spec/selector")).into(),
    ]
}

const STATEFUL_SETS: Printer = Printer::new(
    &[
        Column::NAME,
        Column::new("Ready", "string", "Number of the pod with ready state"),
        Column::AGE,
        Column::wide("Containers", "string", CONTAINERS_DOC),
        Column::wide("Images", "string", IMAGES_DOC),
    ],
    |sts, now| {
        let (containers, images) = template_containers(sts);
        vec![
            print::name(sts).into(),
            format!(
                "{}/{}",
                int_at(sts, "/status/readyReplicas"),
                desired_replicas(sts)
            )
            .into(),
            age(sts, now).into(),
            containers.into(),
            images.into(),
        ]
    },
);

const DAEMON_SETS: Printer = Printer::new(
    &[
        Column::NAME,
        Column::new("Desired", "integer", docs::DS_DESIRED_DOC),
        Column::new("Current", "integer", docs::DS_CURRENT_DOC),
        Column::new("Ready", "integer", docs::DS_READY_DOC),
        Column::new("Up-to-date", "integer", docs::DS_UPDATED_DOC),
        Column::new("Available", "integer", docs::DS_AVAILABLE_DOC),
        Column::new("Node Selector", "string", docs::NODE_SELECTOR_DOC),
        Column::AGE,
        Column::wide("Containers", "string", CONTAINERS_DOC),
        Column::wide("Images", "string", IMAGES_DOC),
        Column::wide("Selector", "string", docs::DS_SELECTOR_DOC),
    ],
    |ds, now| {
        let (containers, images) = template_containers(ds);
        vec![
            print::name(ds).into(),
            int_at(ds, "/status/desiredNumberScheduled").into(),
            int_at(ds, "/status/currentNumberScheduled").into(),
            int_at(ds, "/status/numberReady").into(),
            int_at(ds, "/status/updatedNumberScheduled").into(),
            int_at(ds, "/status/numberAvailable").into(),
            print::format_labels(ds.pointer("/spec/template/spec/nodeSelector")).into(),
            age(ds, now).into(),
            containers.into(),
            images.into(),
            print::format_label_selector(ds.pointer("/spec/selector")).into(),
        ]
    },
);

const CONTROLLER_REVISIONS: Printer = Printer::new(
    &[
        Column::NAME,
        Column::new("Controller", "string", "Controller of the object"),
        Column::new("Revision", "string", docs::REVISION_DOC),
        Column::AGE,
    ],
    |rev, now| {
        vec![
            print::name(rev).into(),
            controller_of(rev).into(),
            int_at(rev, "/revision").into(),
            age(rev, now).into(),
        ]
    },
);

/// The owner that controls an object, as `kind.group/name` in lower case
/// (`statefulset.apps/web`), or `<none>`.
fn controller_of(obj: &Value) -> String {
    let owner = array_at(obj, "/metadata/ownerReferences")
        .iter()
        .find(|o| o.pointer("/controller").and_then(Value::as_bool) == Some(true));
    let Some(owner) = owner else {
        return "<none>".into();
    };
    let group = match str_at(owner, "/apiVersion").split_once('/') {
        Some((group, _)) => group,
        None => "",
    };
    let kind = str_at(owner, "/kind");
    let name = str_at(owner, "/name");
    match (kind, group) {
        ("", "") => name.to_string(),
        (kind, "") => format!("{}/{name}", kind.to_lowercase()),
        (kind, group) => format!("{}.{}/{name}", kind.to_lowercase(), group.to_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2026-03-01T12:00:00Z".parse().expect("time")
    }

    fn workload(spec: Value, status: Value) -> Value {
        json!({"metadata": {"name": "web", "creationTimestamp": "2026-03-01T11:59:00Z"}, "spec": spec, "status": status})
    }

    fn template() -> Value {
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}, {"name": "log", "image": "busybox"}]}})
    }

    #[test]
    fn deployments() {
        let deploy = workload(
            json!({"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template()}),
            json!({"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}),
        );
        assert_eq!(
            deployment_row(&deploy, now()),
            vec![
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("60s"),
                json!("nginx,log"),
                json!("nginx:1.27,busybox"),
                json!("app=web")
            ]
        );
        // A new deployment, before any controller wrote its status.
        let fresh = deployment_row(
            &workload(json!({"replicas": 1, "selector": {}}), json!({})),
            now(),
        );
        assert_eq!(&fresh[1..4], &[json!("0/1"), json!(0), json!(0)]);
        assert_eq!(fresh[7], "");
    }

    #[test]
    fn replica_sets_stateful_sets_daemon_sets() {
        let rs = workload(
            json!({"replicas": 2, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "abc"}}, "template": template()}),
            json!({"replicas": 2, "readyReplicas": 1}),
        );
        assert_eq!(
            replica_set_row(&rs, now()),
            vec![
                json!("web"),
                json!(2),
                json!(2),
                json!(1),
                json!("60s"),
                json!("nginx,log"),
                json!("nginx:1.27,busybox"),
                json!("app=web,pod-template-hash=abc")
            ]
        );
        let sts = workload(
            json!({"replicas": 3, "template": template()}),
            json!({"readyReplicas": 3}),
        );
        assert_eq!(
            (STATEFUL_SETS.row)(&sts, now()),
            vec![
                json!("web"),
                json!("3/3"),
                json!("60s"),
                json!("nginx,log"),
                json!("nginx:1.27,busybox")
            ]
        );
        let mut ds_template = template();
        ds_template["spec"]["nodeSelector"] = json!({"kubernetes.io/os": "linux"});
        let ds = workload(
            json!({"selector": {"matchLabels": {"app": "web"}}, "template": ds_template}),
            json!({"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2, "updatedNumberScheduled": 3, "numberAvailable": 2}),
        );
        let row = (DAEMON_SETS.row)(&ds, now());
        assert_eq!(
            &row[1..8],
            &[
                json!(3),
                json!(3),
                json!(2),
                json!(3),
                json!(2),
                json!("kubernetes.io/os=linux"),
                json!("60s")
            ]
        );
        assert_eq!(row[10], "app=web");
    }

    #[test]
    fn controller_revisions() {
        let rev = json!({"metadata": {"name": "web-7d9", "creationTimestamp": "2026-03-01T11:00:00Z",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "u", "controller": true}]}, "revision": 2});
        assert_eq!(
            (CONTROLLER_REVISIONS.row)(&rev, now()),
            vec![
                json!("web-7d9"),
                json!("statefulset.apps/web"),
                json!(2),
                json!("60m")
            ]
        );
        let orphan = json!({"metadata": {"name": "x"}, "revision": 1});
        assert_eq!((CONTROLLER_REVISIONS.row)(&orphan, now())[1], "<none>");
    }
}
