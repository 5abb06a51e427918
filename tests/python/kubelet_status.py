"""Statuses and Events written by kubelet-sim, read through the official Python client's models.

The client deserializes every object into its typed models, which reject a missing
required field (e.g. ContainerStatus.imageID, NodeCondition.type). Prints a JSON summary
of what it read: pod phases and container states, node conditions, leases.
"""

import json

from kubernetes import client, config


def state_of(cs):
    if cs.state.running is not None:
        return "running"
    if cs.state.terminated is not None:
        t = cs.state.terminated
        if t.reason in ("OOMKilled", "ContainerStatusUnknown"):
            return "terminated:%d:%s" % (t.exit_code, t.reason)
        return "terminated:%d" % t.exit_code
    return "waiting:%s" % cs.state.waiting.reason


def main():
    config.load_kube_config()
    core = client.CoreV1Api()
    pods = {}
    for pod in core.list_namespaced_pod("default").items:
        statuses = (pod.status.init_container_statuses or []) + (pod.status.container_statuses or [])
        pods[pod.metadata.name] = {
            "phase": pod.status.phase,
            "reason": pod.status.reason,
            "conditions": {c.type: c.status for c in pod.status.conditions or []},
            "containers": {cs.name: state_of(cs) for cs in statuses},
            "imageIDs": all(cs.image_id is not None for cs in statuses),
            "podIP": pod.status.pod_ip,
        }
    nodes = {}
    for node in core.list_node().items:
        nodes[node.metadata.name] = {c.type: c.status for c in node.status.conditions}
    leases = [l.metadata.name for l in client.CoordinationV1Api().list_namespaced_lease("kube-node-lease").items]
    events = sorted({e.reason for e in core.list_namespaced_event("default").items})
    print(json.dumps({"pods": pods, "nodes": nodes, "leases": sorted(leases), "events": events}))


if __name__ == "__main__":
    main()
