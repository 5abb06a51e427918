//! Table-driven tests of the patch algorithm, after the behaviour upstream's
//! `strategicpatch/patch_test.go` pins down, on built-in kinds and on a small schema with
//! one field of each kind.

use serde_json::{Value, json};

use super::*;

/// One field of each patch strategy, as upstream's tests use.
const ITEM_SCHEMA: &str = "\
K test v1 Item test.Item
T test.Item
  name string
  value string
  other string
  mergingList []test.Item patchStrategy=merge patchMergeKey=name
  nonMergingList []test.Item
  mergingIntList []integer patchStrategy=merge
  nonMergingIntList []integer
  simpleMap map[]string
  replacingItem test.Item patchStrategy=replace
  retainKeysMap test.Item patchStrategy=retainKeys
  retainKeysMergingList []test.Item patchStrategy=merge,retainKeys patchMergeKey=name
  listOfLists []untyped patchStrategy=merge
";

fn item_schema() -> SchemaRef<'static> {
    let schema = Box::leak(Box::new(
        schema::Schema::parse(ITEM_SCHEMA).expect("test schema"),
    ));
    schema.root("test", "v1", "Item").expect("root")
}

struct Case {
    name: &'static str,
    original: Value,
    patch: Value,
    expected: Value,
}

fn run(schema: SchemaRef<'_>, cases: Vec<Case>) {
    for case in cases {
        let got = apply(&case.original, &case.patch, schema)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(got, case.expected, "{}", case.name);
    }
}

#[test]
fn maps_merge_and_null_deletes() {
    run(
        item_schema(),
        vec![
            Case {
                name: "add and replace fields",
                original: json!({"name": "a", "value": "1"}),
                patch: json!({"value": "2", "other": "x"}),
                expected: json!({"name": "a", "value": "2", "other": "x"}),
            },
            Case {
                name: "null deletes a key; a null for a missing key is ignored",
                original: json!({"name": "a", "simpleMap": {"k": "v", "gone": "x"}}),
                patch: json!({"simpleMap": {"gone": null, "never": null}, "value": null}),
                expected: json!({"name": "a", "simpleMap": {"k": "v"}}),
            },
            Case {
                name: "a new map is taken without its nulls and directives",
                original: json!({}),
                patch: json!({"simpleMap": {"k": "v", "drop": null}, "mergingList": [{"name": "x", "$patch": "delete"}, {"name": "y"}]}),
                expected: json!({"simpleMap": {"k": "v"}, "mergingList": [{"name": "y"}]}),
            },
            Case {
                name: "$patch: replace replaces a map",
                original: json!({"simpleMap": {"a": "1"}}),
                patch: json!({"simpleMap": {"$patch": "replace", "b": "2"}}),
                expected: json!({"simpleMap": {"b": "2"}}),
            },
            Case {
                name: "$patch: delete empties a map",
                original: json!({"simpleMap": {"a": "1"}, "name": "n"}),
                patch: json!({"simpleMap": {"$patch": "delete"}}),
                expected: json!({"simpleMap": {}, "name": "n"}),
            },
            Case {
                name: "a field with strategy replace is replaced",
                original: json!({"replacingItem": {"name": "a", "value": "1"}}),
                patch: json!({"replacingItem": {"other": "2"}}),
                expected: json!({"replacingItem": {"other": "2"}}),
            },
            Case {
                name: "a value of another type replaces",
                original: json!({"value": {"x": 1}}),
                patch: json!({"value": "plain"}),
                expected: json!({"value": "plain"}),
            },
        ],
    );
}

#[test]
fn lists_merge_by_key_or_are_replaced() {
    run(
        item_schema(),
        vec![
            Case {
                name: "merge by key: matched items merge, new ones follow, server-only ones stay",
                original: json!({"mergingList": [{"name": "a", "value": "1"}, {"name": "b", "value": "2"}]}),
                patch: json!({"mergingList": [{"name": "b", "other": "x"}, {"name": "c"}]}),
                expected: json!({"mergingList": [{"name": "a", "value": "1"}, {"name": "b", "value": "2", "other": "x"}, {"name": "c"}]}),
            },
            Case {
                name: "$patch: delete removes by key",
                original: json!({"mergingList": [{"name": "a"}, {"name": "b"}]}),
                patch: json!({"mergingList": [{"name": "a", "$patch": "delete"}]}),
                expected: json!({"mergingList": [{"name": "b"}]}),
            },
            Case {
                name: "$patch: replace in a list replaces it with the other items",
                original: json!({"mergingList": [{"name": "a"}, {"name": "b"}]}),
                patch: json!({"mergingList": [{"name": "c"}, {"$patch": "replace"}]}),
                expected: json!({"mergingList": [{"name": "c"}]}),
            },
            Case {
                name: "a list without strategy is replaced",
                original: json!({"nonMergingList": [{"name": "a"}], "nonMergingIntList": [1, 2]}),
                patch: json!({"nonMergingList": [{"name": "b"}], "nonMergingIntList": [3]}),
                expected: json!({"nonMergingList": [{"name": "b"}], "nonMergingIntList": [3]}),
            },
            Case {
                // Patch items in patch order; a server item goes before a patch item only if
                // both are in the live list and it is earlier there, so the new 3 leads.
                name: "scalars merge as a set",
                original: json!({"mergingIntList": [1, 2]}),
                patch: json!({"mergingIntList": [3, 2]}),
                expected: json!({"mergingIntList": [3, 1, 2]}),
            },
            Case {
                name: "$deleteFromPrimitiveList removes scalars",
                original: json!({"mergingIntList": [1, 2, 3]}),
                patch: json!({"$deleteFromPrimitiveList/mergingIntList": [2, 9]}),
                expected: json!({"mergingIntList": [1, 3]}),
            },
            Case {
                name: "nested lists merge inside merged items",
                original: json!({"mergingList": [{"name": "a", "mergingList": [{"name": "x", "value": "1"}, {"name": "y"}]}]}),
                patch: json!({"mergingList": [{"name": "a", "mergingList": [{"name": "x", "value": "2"}]}]}),
                expected: json!({"mergingList": [{"name": "a", "mergingList": [{"name": "x", "value": "2"}, {"name": "y"}]}]}),
            },
        ],
    );
}

#[test]
fn set_element_order_orders_the_merged_list() {
    run(
        item_schema(),
        vec![
            Case {
                name: "reorder without changing items",
                original: json!({"mergingList": [{"name": "a", "value": "1"}, {"name": "b"}]}),
                patch: json!({"$setElementOrder/mergingList": [{"name": "b"}, {"name": "a"}]}),
                expected: json!({"mergingList": [{"name": "b"}, {"name": "a", "value": "1"}]}),
            },
            Case {
                // The server-only s is compared with the next listed item only: it was before
                // b in the live list, so it leads.
                name: "server-only items are placed by their live position",
                original: json!({"mergingList": [{"name": "a"}, {"name": "s"}, {"name": "b"}]}),
                patch: json!({"$setElementOrder/mergingList": [{"name": "b"}, {"name": "a"}, {"name": "c"}], "mergingList": [{"name": "c"}]}),
                expected: json!({"mergingList": [{"name": "s"}, {"name": "b"}, {"name": "a"}, {"name": "c"}]}),
            },
            Case {
                // The live list as the ordering sees it after the merge is [2, 4, 3] (see
                // `order_seen_after_merge`), so the server's 4 stays before the new 3.
                name: "delete and add with a server-only item",
                original: json!({"mergingList": [{"name": 1}, {"name": 2, "other": "b"}, {"name": 4, "other": "c"}]}),
                patch: json!({"$setElementOrder/mergingList": [{"name": 2}, {"name": 3}], "mergingList": [{"name": 3}, {"name": 1, "$patch": "delete"}]}),
                expected: json!({"mergingList": [{"name": 2, "other": "b"}, {"name": 4, "other": "c"}, {"name": 3}]}),
            },
            Case {
                name: "scalars with deletions, as kubectl sends finalizer changes",
                original: json!({"mergingIntList": [1, 2, 3]}),
                patch: json!({"$setElementOrder/mergingIntList": [3, 1, 4], "mergingIntList": [4], "$deleteFromPrimitiveList/mergingIntList": [2]}),
                expected: json!({"mergingIntList": [3, 1, 4]}),
            },
        ],
    );
}

#[test]
fn retain_keys_clears_what_is_not_retained() {
    run(
        item_schema(),
        vec![
            Case {
                name: "keys not retained are cleared before the merge",
                original: json!({"retainKeysMap": {"name": "a", "value": "1", "other": "x"}}),
                patch: json!({"retainKeysMap": {"$retainKeys": ["name", "other"], "other": "y"}}),
                expected: json!({"retainKeysMap": {"name": "a", "other": "y"}}),
            },
            Case {
                name: "inside items of a merge,retainKeys list",
                original: json!({"retainKeysMergingList": [{"name": "a", "value": "1"}, {"name": "b", "value": "2"}]}),
                patch: json!({"retainKeysMergingList": [{"name": "a", "$retainKeys": ["name", "other"], "other": "o"}]}),
                expected: json!({"retainKeysMergingList": [{"name": "a", "other": "o"}, {"name": "b", "value": "2"}]}),
            },
        ],
    );
}

fn deployment(containers: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "finalizers": ["a", "b"]},
        "spec": {"replicas": 1, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "template": {"spec": {"containers": containers,
                "tolerations": [{"key": "k1", "operator": "Exists"}],
                "volumes": [{"name": "data", "emptyDir": {}}]}}}})
}

fn pod_spec_patch(spec: Value) -> Value {
    json!({"spec": {"template": {"spec": spec}}})
}

#[test]
fn built_in_kinds_use_upstreams_merge_keys() {
    let Some(schema) = root("apps", "v1", "Deployment") else {
        panic!("Deployment schema")
    };
    let containers = json!([
        {"name": "app", "image": "app:1", "args": ["--a"], "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
         "ports": [{"containerPort": 80}], "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
        {"name": "sidecar", "image": "proxy:1"},
    ]);
    let original = deployment(containers);
    let with = |path: &[&str], value: Value| {
        let mut doc = original.clone();
        let mut target = &mut doc;
        for key in path {
            target = if let Ok(i) = key.parse::<usize>() {
                &mut target[i]
            } else {
                &mut target[*key]
            };
        }
        *target = value;
        doc
    };
    let pod = ["spec", "template", "spec"];
    let app = ["spec", "template", "spec", "containers", "0"];
    run(
        schema,
        vec![
            Case {
                name: "kubectl patch: a container by name keeps the others",
                original: original.clone(),
                patch: pod_spec_patch(json!({"containers": [{"name": "app", "image": "app:2"}]})),
                expected: with(&[&app[..], &["image"]].concat(), json!("app:2")),
            },
            Case {
                name: "env merges by name inside the container; args are replaced",
                original: original.clone(),
                patch: pod_spec_patch(
                    json!({"containers": [{"name": "app", "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}], "args": ["--b"]}]}),
                ),
                expected: {
                    let doc = with(
                        &[&app[..], &["env"]].concat(),
                        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}]),
                    );
                    let mut doc = doc;
                    doc["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["--b"]);
                    doc
                },
            },
            Case {
                name: "ports merge by containerPort, volume mounts by mountPath",
                original: original.clone(),
                patch: pod_spec_patch(
                    json!({"containers": [{"name": "app", "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443}],
                "volumeMounts": [{"mountPath": "/data", "readOnly": true}]}]}),
                ),
                expected: {
                    let mut doc = with(
                        &[&app[..], &["ports"]].concat(),
                        json!([{"containerPort": 80, "name": "http"}, {"containerPort": 443}]),
                    );
                    doc["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] =
                        json!([{"name": "data", "mountPath": "/data", "readOnly": true}]);
                    doc
                },
            },
            Case {
                name: "$patch: delete removes a container",
                original: original.clone(),
                patch: pod_spec_patch(
                    json!({"containers": [{"name": "sidecar", "$patch": "delete"}]}),
                ),
                expected: with(
                    &[&pod[..], &["containers"]].concat(),
                    json!([original["spec"]["template"]["spec"]["containers"][0].clone()]),
                ),
            },
            Case {
                name: "tolerations have no merge strategy: replaced",
                original: original.clone(),
                patch: pod_spec_patch(
                    json!({"tolerations": [{"key": "k2", "operator": "Exists"}]}),
                ),
                expected: with(
                    &[&pod[..], &["tolerations"]].concat(),
                    json!([{"key": "k2", "operator": "Exists"}]),
                ),
            },
            Case {
                name: "a volume switching source with $retainKeys leaves no emptyDir behind",
                original: original.clone(),
                patch: pod_spec_patch(
                    json!({"volumes": [{"name": "data", "$retainKeys": ["hostPath", "name"], "hostPath": {"path": "/srv"}}]}),
                ),
                expected: with(
                    &[&pod[..], &["volumes"]].concat(),
                    json!([{"name": "data", "hostPath": {"path": "/srv"}}]),
                ),
            },
            Case {
                name: "strategy Recreate with $retainKeys drops rollingUpdate",
                original: original.clone(),
                patch: json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
                expected: with(&["spec", "strategy"], json!({"type": "Recreate"})),
            },
            Case {
                name: "finalizers merge as a set (new ones first); $deleteFromPrimitiveList removes",
                original: original.clone(),
                patch: json!({"metadata": {"finalizers": ["c"], "$deleteFromPrimitiveList/finalizers": ["a"]}}),
                expected: with(&["metadata", "finalizers"], json!(["c", "b"])),
            },
            Case {
                name: "kubectl rollout restart adds an annotation to the template",
                original: original.clone(),
                patch: json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}}}}}),
                expected: with(
                    &["spec", "template", "metadata"],
                    json!({"annotations": {"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}}),
                ),
            },
        ],
    );
}

#[test]
fn kubectl_apply_three_way_patch() {
    // Live: what the last apply created, plus a container another client added. The new
    // manifest drops env B, changes the image and adds a port.
    let Some(schema) = root("apps", "v1", "Deployment") else {
        panic!("Deployment schema")
    };
    let original = deployment(json!([
        {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
        {"name": "injected", "image": "proxy"},
    ]));
    let patch = pod_spec_patch(json!({
        "$setElementOrder/containers": [{"name": "app"}],
        "containers": [{"name": "app", "image": "app:2",
            "$setElementOrder/env": [{"name": "A"}],
            "env": [{"name": "B", "$patch": "delete"}],
            "ports": [{"containerPort": 80}]}],
    }));
    let mut expected = original.clone();
    expected["spec"]["template"]["spec"]["containers"] = json!([
        {"name": "app", "image": "app:2", "env": [{"name": "A", "value": "1"}], "ports": [{"containerPort": 80}]},
        {"name": "injected", "image": "proxy"},
    ]);
    run(
        schema,
        vec![Case {
            name: "three-way apply",
            original,
            patch,
            expected,
        }],
    );
}

#[test]
fn directives_left_where_the_live_object_lacked_the_list_are_dropped() {
    let Some(schema) = root("", "v1", "Pod") else {
        panic!("Pod schema")
    };
    let original = json!({"spec": {"containers": [{"name": "a", "image": "x"}]}});
    // Container b is gone from the live object; the patch still orders its env.
    let patch = json!({"spec": {"containers": [{"name": "b", "image": "y", "$setElementOrder/env": [{"name": "E"}], "env": [{"name": "E", "value": "1"}]}]}});
    let got = apply(&original, &patch, schema).expect("applies");
    assert_eq!(
        got["spec"]["containers"][0],
        json!({"name": "b", "image": "y", "env": [{"name": "E", "value": "1"}]})
    );
}

#[test]
fn errors_are_upstreams() {
    let schema = item_schema();
    let cases: Vec<(&str, Value, Value, u16, &str)> = vec![
        (
            "patch not an object",
            json!({}),
            json!([1]),
            400,
            "json: cannot unmarshal array into Go value of type map[string]interface {}",
        ),
        (
            "unknown $patch in a map",
            json!({"simpleMap": {"a": "1"}}),
            json!({"simpleMap": {"$patch": "bogus"}}),
            500,
            "unknown patch type: bogus in map: map[$patch:bogus]",
        ),
        (
            "unknown $patch in a list",
            json!({"mergingList": [{"name": "a"}]}),
            json!({"mergingList": [{"name": "a", "$patch": "bogus"}]}),
            500,
            "unknown patch type: bogus in map: map[$patch:bogus name:a]",
        ),
        (
            "$patch: merge in a list",
            json!({"mergingList": [{"name": "a"}]}),
            json!({"mergingList": [{"$patch": "merge"}]}),
            500,
            "merging lists cannot yet be specified in the patch",
        ),
        (
            "item without its merge key",
            json!({"mergingList": [{"name": "a"}]}),
            json!({"mergingList": [{"value": "x"}]}),
            500,
            "map: map[value:x] does not contain declared merge key: name",
        ),
        (
            "$retainKeys not listing a patched key",
            json!({"retainKeysMap": {}}),
            json!({"retainKeysMap": {"$retainKeys": ["name"], "value": "v"}}),
            400,
            "invalid patch format of retainKeys",
        ),
        (
            "$retainKeys not a list",
            json!({"retainKeysMap": {}}),
            json!({"retainKeysMap": {"$retainKeys": "name"}}),
            400,
            "invalid patch format of retainKeys",
        ),
        (
            "$setElementOrder without a field",
            json!({}),
            json!({"$setElementOrder": [1]}),
            400,
            "invalid patch format of setElementOrder list",
        ),
        (
            "$deleteFromPrimitiveList without a field",
            json!({"mergingIntList": [1]}),
            json!({"$deleteFromPrimitiveList": [1]}),
            400,
            "invalid patch format of primitive list",
        ),
        (
            "$setElementOrder missing a patched item",
            json!({"mergingList": [{"name": "a"}]}),
            json!({"$setElementOrder/mergingList": [{"name": "a"}], "mergingList": [{"name": "b"}]}),
            500,
            "doesn't match $setElementOrder list",
        ),
        (
            "lists of lists",
            json!({"listOfLists": [[1]]}),
            json!({"listOfLists": [[2]]}),
            422,
            "lists of lists are not supported",
        ),
        (
            "mixed element types",
            json!({"mergingIntList": [1]}),
            json!({"mergingIntList": ["x"]}),
            500,
            "list element types are not identical: [[1] [x]]",
        ),
    ];
    for (name, original, patch, code, message) in cases {
        let err = apply(&original, &patch, schema).expect_err(name);
        assert_eq!(err.code(), code, "{name}: {err}");
        assert!(err.to_string().contains(message), "{name}: {err}");
        let status = ApiError::from(err);
        assert_eq!(status.code(), code, "{name}");
    }
}

#[test]
fn server_errors_carry_no_reason_as_upstreams_unconverted_errors() {
    let err = ApiError::from(PatchError::MergeDirectiveInList);
    assert_eq!(
        (err.code(), err.reason(), err.message()),
        (
            500,
            "",
            "merging lists cannot yet be specified in the patch"
        )
    );
    let err = ApiError::from(PatchError::BadPatchFormatForRetainKeys);
    assert_eq!((err.code(), err.reason()), (400, "BadRequest"));
}

#[test]
fn inputs_are_not_changed_and_null_patch_is_a_no_op() {
    let schema = item_schema();
    let original = json!({"mergingList": [{"name": "a"}]});
    let patch = json!({"mergingList": [{"name": "a", "$patch": "delete"}]});
    let before = (original.clone(), patch.clone());
    apply(&original, &patch, schema).expect("applies");
    assert_eq!((original.clone(), patch), before);
    assert_eq!(apply(&original, &Value::Null, schema), Ok(original));
}
