//! The events the kubelet records about its node, as `kubectl describe node` lists them:
//! its start, its conditions' changes, cordon / uncordon, and a restart.

use k8s_openapi::api::core::v1::{Event, Node};
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use crate::common::{eventually, start};

const NODE: &str = "kubesim-node-0";

/// The reasons of the kubelet's events about `NODE`, in the order they were recorded,
/// once there are `count` of them.
async fn reasons(api: &Api<Event>, count: usize) -> Vec<String> {
    eventually(&format!("{count} events about {NODE}"), || async {
        let mut events: Vec<Event> = api
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| {
                e.involved_object.kind.as_deref() == Some("Node")
                    && e.involved_object.name.as_deref() == Some(NODE)
            })
            .collect();
        events.sort_by_key(|e| e.metadata.name.clone());
        (events.len() >= count).then(|| {
            let e = &events[0];
            assert_eq!(e.involved_object.uid.as_deref(), Some(NODE), "{e:?}");
            assert_eq!(
                e.source.as_ref().and_then(|s| s.host.as_deref()),
                Some(NODE)
            );
            events
                .iter()
                .map(|e| e.reason.clone().unwrap_or_default())
                .collect()
        })
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubelet_records_its_nodes_start_conditions_and_cordon() {
    let sim = start(1, 1.0).await;
    let events: Api<Event> = Api::namespaced(sim.client.clone(), "default");
    assert_eq!(
        reasons(&events, 5).await,
        [
            "Starting",
            "NodeHasSufficientMemory",
            "NodeHasNoDiskPressure",
            "NodeHasSufficientPID",
            "NodeAllocatableEnforced",
        ]
    );
    let message = |reason: &str| format!("Node {NODE} status is now: {reason}");
    let starting = events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("NodeHasSufficientPID"))
        .and_then(|e| e.message);
    assert_eq!(starting, Some(message("NodeHasSufficientPID")));

    sim.annotate_node(NODE, "kubesim.io/pressure", Some("memory"))
        .await;
    assert_eq!(reasons(&events, 6).await[5], "NodeHasInsufficientMemory");

    let nodes: Api<Node> = Api::all(sim.client.clone());
    for (unschedulable, count, reason) in [
        (true, 7, "NodeNotSchedulable"),
        (false, 8, "NodeSchedulable"),
    ] {
        nodes
            .patch(
                NODE,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"unschedulable": unschedulable}})),
            )
            .await
            .unwrap();
        assert_eq!(reasons(&events, count).await[count - 1], reason);
    }

    // A restart: the kubelet starts again on a new boot id, with a new correlator, so
    // its `Starting` and `NodeAllocatableEnforced` are new Events, not counts on the
    // first ones.
    sim.annotate_node(NODE, "kubesim.io/restart", Some("1"))
        .await;
    assert_eq!(
        reasons(&events, 11).await[8..],
        ["Starting", "Rebooted", "NodeAllocatableEnforced"]
    );
    let boot_id = nodes
        .get(NODE)
        .await
        .unwrap()
        .status
        .and_then(|s| s.node_info)
        .map(|i| i.boot_id)
        .unwrap_or_default();
    let rebooted = events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("Rebooted"))
        .unwrap();
    assert_eq!(rebooted.type_.as_deref(), Some("Warning"));
    assert_eq!(
        rebooted.message,
        Some(format!("Node {NODE} has been rebooted, boot id: {boot_id}"))
    );
}
