"""Optimistic concurrency with the official Python client.

Eight threads each do 200 read-modify-write increments of one ConfigMap counter,
retrying on 409 Conflict; the final value must be exactly 1,600. A watch started at a
resourceVersion from the middle of the run must then see every later change exactly
once, in order.
"""

import json
import sys
import threading

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

THREADS = 8
INCREMENTS = 200
NAME = "counter"
NAMESPACE = "default"


def main():
    config.load_kube_config()
    api = client.CoreV1Api()
    api.create_namespaced_config_map(
        NAMESPACE, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=NAME), data={"n": "0"})
    )

    conflicts = [0] * THREADS
    midpoint = {}
    failures = []

    def worker(index):
        try:
            done = 0
            while done < INCREMENTS:
                cm = api.read_namespaced_config_map(NAME, NAMESPACE)
                value = int(cm.data["n"]) + 1
                cm.data["n"] = str(value)
                try:
                    written = api.replace_namespaced_config_map(NAME, NAMESPACE, cm)
                except ApiException as err:
                    if err.status == 409:
                        conflicts[index] += 1
                        continue
                    raise
                done += 1
                if value == THREADS * INCREMENTS // 2:
                    midpoint["rv"] = written.metadata.resource_version
        except Exception as err:  # reported below, so the test fails with the cause
            failures.append(repr(err))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures

    final = api.read_namespaced_config_map(NAME, NAMESPACE)
    assert final.data["n"] == str(THREADS * INCREMENTS), final.data

    # Every change after the midpoint: values midpoint+1 .. 1600, once each, in order.
    seen = []
    w = watch.Watch()
    for event in w.stream(
        api.list_namespaced_config_map,
        NAMESPACE,
        field_selector=f"metadata.name={NAME}",
        resource_version=midpoint["rv"],
        timeout_seconds=10,
    ):
        assert event["type"] == "MODIFIED", event["type"]
        seen.append((int(event["object"].metadata.resource_version), int(event["object"].data["n"])))
        if seen[-1][1] == THREADS * INCREMENTS:
            w.stop()
    values = [v for _, v in seen]
    expected = list(range(THREADS * INCREMENTS // 2 + 1, THREADS * INCREMENTS + 1))
    assert values == expected, (values[:5], values[-5:], len(values))
    revisions = [rv for rv, _ in seen]
    assert revisions == sorted(set(revisions)), "revisions strictly increase"

    print(json.dumps({"final": final.data["n"], "conflicts": sum(conflicts), "watched": len(seen)}))


if __name__ == "__main__":
    try:
        main()
    except AssertionError as err:
        print(f"assertion failed: {err}", file=sys.stderr)
        sys.exit(1)
