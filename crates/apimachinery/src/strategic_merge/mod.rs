//! Strategic merge patch (`application/strategic-merge-patch+json`), applied as upstream's
//! `k8s.io/apimachinery/pkg/util/strategicpatch.StrategicMergePatch` applies it.
//!
//! A strategic merge patch is a JSON merge patch (RFC 7386) that knows the object's
//! schema. Maps merge key by key and `null` deletes a key, as in a merge patch; what
//! differs is lists. A list field tagged `patchStrategy:"merge"` upstream is merged
//! rather than replaced:
//!
//! - lists of objects by their `patchMergeKey`: an item of the patch whose key matches an
//!   item of the object is merged into it (recursively, by the same rules), other items
//!   are appended (containers, env and volumes by `name`, container ports by
//!   `containerPort`, volume mounts by `mountPath`, service ports by `port`, ...);
//! - lists of scalars as a set union (`metadata.finalizers`).
//!
//! Lists without that tag (tolerations, args, taints) are replaced whole. The patch can
//! steer the merge with directives:
//!
//! - `{"$patch": "delete", "name": "x"}` in a merged list removes the item keyed `x`;
//!   `{"$patch": "replace"}` in a list replaces the list by the patch's other items;
//!   `"$patch": "replace"` in a map replaces the map, `"$patch": "delete"` empties it.
//! - `"$deleteFromPrimitiveList/<field>": [..]` removes those scalars from a merged
//!   scalar list.
//! - `"$setElementOrder/<field>": [..]` gives the order of the merged list: the listed
//!   items (all of the patch's, by merge key or value) in that order, with the items only
//!   the server has placed where they were relative to them.
//! - `"$retainKeys": [..]`, for fields tagged `retainKeys` (a volume's source, a
//!   Deployment's `strategy`), clears every key of the object's map not listed, so that
//!   switching a volume from `emptyDir` to `hostPath` leaves no `emptyDir` behind.
//!
//! kubectl's client-side `apply` computes a three-way patch (last applied, manifest, live
//! object) in this format; `kubectl patch`, `edit`, `set image`, `rollout restart` and
//! `taint` send two-way ones.
//!
//! # Worked example
//!
//! The live Deployment's pod template has containers `[{name: app, image: app:1, env:
//! [{name: A, value: "1"}, {name: B, value: "2"}]}, {name: sidecar, image: proxy}]`. The
//! manifest drops env `B`, changes the image and adds a port; `kubectl apply` sends:
//!
//! ```json
//! {"spec": {"template": {"spec": {
//!   "$setElementOrder/containers": [{"name": "app"}],
//!   "containers": [{"name": "app", "image": "app:2",
//!     "$setElementOrder/env": [{"name": "A"}],
//!     "env": [{"name": "B", "$patch": "delete"}],
//!     "ports": [{"containerPort": 80}]}]}}}}
//! ```
//!
//! `containers` is merged by `name`: `app` is merged with the patch's item (image
//! replaced; `env` merged by `name`, `B` deleted, order `[A]`; `ports` absent on the live
//! side, so taken as is) and `sidecar`, which only the server has (another client added
//! it), stays, after `app` as it was. The result: `[{name: app, image: app:2, env: [{name:
//! A, value: "1"}], ports: [{containerPort: 80}]}, {name: sidecar, image: proxy}]`.
//!
//! # Fidelity
//!
//! The steps, their order and their error messages are upstream's. Where upstream depends
//! on Go's random map order (two keys of one patch touching the same list) this applies
//! plain keys before `$deleteFromPrimitiveList` ones. Upstream's typed decoding after the
//! patch drops directive keys left in places the live object lacked; [`apply`] removes
//! them from struct-typed objects for the same result.

pub mod schema;

use std::collections::BTreeSet;

use serde_json::{Map, Value};

pub use schema::{SchemaRef, root};

use crate::ApiError;

const DIRECTIVE_MARKER: &str = "$patch";
const DELETE_DIRECTIVE: &str = "delete";
const REPLACE_DIRECTIVE: &str = "replace";
const MERGE_DIRECTIVE: &str = "merge";
const RETAIN_KEYS_STRATEGY: &str = "retainKeys";
const RETAIN_KEYS_DIRECTIVE: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST_PREFIX: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER_PREFIX: &str = "$setElementOrder";

/// Why a patch could not be applied; messages are upstream's (`mergepatch` errors and
/// `strategicpatch` ones).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The patch is not a JSON object.
    #[error("json: cannot unmarshal {0} into Go value of type map[string]interface {{}}")]
    NotAnObject(&'static str),
    #[error("invalid patch format of primitive list")]
    BadPatchFormatForPrimitiveList,
    #[error("invalid patch format of retainKeys")]
    BadPatchFormatForRetainKeys,
    #[error("invalid patch format of setElementOrder list")]
    BadPatchFormatForSetElementOrderList,
    #[error("lists of lists are not supported")]
    NoListOfLists,
    #[error("unknown patch type: {directive} in map: {map}")]
    BadPatchType { directive: String, map: String },
    #[error("map: {map} does not contain declared merge key: {key}")]
    NoMergeKey { map: String, key: String },
    #[error("expected a {expected}, but received a {actual}")]
    BadArgType {
        expected: &'static str,
        actual: &'static str,
    },
    #[error("merging lists cannot yet be specified in the patch")]
    MergeDirectiveInList,
    #[error("The order in patch list:\n{patch}\n doesn't match $setElementOrder list:\n{order}\n")]
    SetElementOrderMismatch { patch: String, order: String },
    #[error("list element types are not identical: {0}")]
    ElementTypesDiffer(String),
    #[error("no elements in any of the given slices")]
    NoElements,
    #[error("cannot merge lists without merge key for {0}")]
    NoMergeKeyDeclared(&'static str),
    #[error("value for key {0} is not a map")]
    NotAMap(usize),
    #[error("unexpected patch strategy: [{0}]")]
    UnexpectedPatchStrategy(String),
}

impl PatchError {
    /// The HTTP status upstream answers with (`interpretStrategicMergePatchError`): 400
    /// for malformed directives, 422 for lists of lists, and 500 for the errors it passes
    /// on without a Status.
    pub fn code(&self) -> u16 {
        match self {
            PatchError::NotAnObject(_)
            | PatchError::BadPatchFormatForPrimitiveList
            | PatchError::BadPatchFormatForRetainKeys
            | PatchError::BadPatchFormatForSetElementOrderList => 400,
            PatchError::NoListOfLists => 422,
            _ => 500,
        }
    }
}

impl From<PatchError> for ApiError {
    fn from(err: PatchError) -> Self {
        match err.code() {
            400 => ApiError::bad_request(err.to_string()),
            422 => ApiError::patch_failed(err.to_string()),
            _ => ApiError::unknown(err.to_string()),
        }
    }
}

type Result<T, E = PatchError> = std::result::Result<T, E>;

/// Apply a strategic merge `patch` to `original`, an object of the type `schema` (see
/// [`root`]). Neither input is changed.
pub fn apply(original: &Value, patch: &Value, schema: SchemaRef<'_>) -> Result<Value> {
    let patch = match patch {
        Value::Object(map) => map.clone(),
        // Decoding `null` into a Go map leaves it empty.
        Value::Null => Map::new(),
        other => return Err(PatchError::NotAnObject(json_kind(other))),
    };
    let original = original.as_object().cloned().unwrap_or_default();
    let mut merged = merge_map(original, patch, schema)?;
    drop_directives(&mut merged, schema);
    Ok(Value::Object(merged))
}

/// `mergeMap`: merge a patch map into an original map.
fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    schema: SchemaRef<'_>,
) -> Result<Map<String, Value>> {
    if let Some(directive) = patch.get(DIRECTIVE_MARKER) {
        return map_directive(directive.clone(), patch);
    }
    apply_retain_keys(&mut original, &mut patch)?;
    merge_set_element_order_lists(&mut original, &mut patch, schema)?;

    // Go visits a map's keys in random order; only a list patched both ways at once could
    // tell, and for it deletions come last here.
    let (deletions, plain): (Vec<_>, Vec<_>) = patch
        .into_iter()
        .partition(|(k, _)| k.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX));
    for (key, patch_value) in plain.into_iter().chain(deletions) {
        let (key, is_delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX) {
            (
                field_of_directive(&key, DELETE_FROM_PRIMITIVE_LIST_PREFIX)?,
                true,
            )
        } else {
            (key, false)
        };
        // `null` deletes the key (and a null that matches nothing is ignored).
        if patch_value.is_null() {
            original.remove(&key);
            continue;
        }
        let Some(original_value) = original.remove(&key) else {
            if !is_delete_list {
                insert_patch_value(&mut original, key, patch_value);
            }
            continue;
        };
        let merged = match (original_value, patch_value) {
            (Value::Object(o), Value::Object(p)) => {
                let (subschema, strategies, _) = lookup(schema, &key);
                let (_, strategy) = retain_keys_strategy(strategies)?;
                if strategy == REPLACE_DIRECTIVE {
                    Value::Object(p)
                } else {
                    Value::Object(merge_map(o, p, subschema)?)
                }
            }
            (Value::Array(o), Value::Array(p)) => {
                let (field, strategies, merge_key) = lookup(schema, &key);
                let (_, strategy) = retain_keys_strategy(strategies)?;
                Value::Array(merge_list_field(
                    o,
                    p,
                    element_of(field),
                    strategy,
                    merge_key,
                    is_delete_list,
                )?)
            }
            (o, p) if go_type(&o) == go_type(&p) => match remove_directives(p) {
                Some(v) => v,
                None => continue,
            },
            // Values of different types: the patch's wins, unless it is a deletion list.
            (o, p) => {
                if is_delete_list {
                    o
                } else {
                    insert_patch_value(&mut original, key, p);
                    continue;
                }
            }
        };
        original.insert(key, merged);
    }
    Ok(original)
}

/// A patch value where the original has none (or one of another type): taken as is,
/// without its nulls and directives.
fn insert_patch_value(original: &mut Map<String, Value>, key: String, mut value: Value) {
    discard_null_values(&mut value);
    if let Some(value) = remove_directives(value) {
        original.insert(key, value);
    }
}

/// `handleDirectiveInMergeMap`: `$patch` in a map.
fn map_directive(directive: Value, mut patch: Map<String, Value>) -> Result<Map<String, Value>> {
    match directive.as_str() {
        Some(REPLACE_DIRECTIVE) => {
            patch.remove(DIRECTIVE_MARKER);
            Ok(patch)
        }
        Some(DELETE_DIRECTIVE) => Ok(Map::new()),
        _ => Err(PatchError::BadPatchType {
            directive: go_fmt_s(&directive),
            map: go_fmt(&Value::Object(patch)),
        }),
    }
}

/// `applyRetainKeysDirective`: clear the keys of the original the patch does not retain.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<()> {
    let Some(retain) = patch.remove(RETAIN_KEYS_DIRECTIVE) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(PatchError::BadPatchFormatForRetainKeys);
    };
    let retained: BTreeSet<&str> = retain.iter().filter_map(Value::as_str).collect();
    // Every key the patch sets must be retained, or the patch contradicts itself.
    for (key, value) in patch.iter() {
        if value.is_null()
            || key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX)
            || key.starts_with(SET_ELEMENT_ORDER_PREFIX)
        {
            continue;
        }
        if !retained.contains(key.as_str()) {
            return Err(PatchError::BadPatchFormatForRetainKeys);
        }
    }
    original.retain(|key, _| retained.contains(key.as_str()));
    Ok(())
}

/// `mergePatchIntoOriginal`: merge each list that has a `$setElementOrder/<field>`, and
/// put it in that order. The merged lists leave the patch.
fn merge_set_element_order_lists(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    schema: SchemaRef<'_>,
) -> Result<()> {
    let directives: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER_PREFIX))
        .cloned()
        .collect();
    for directive in directives {
        let Some(order) = patch.remove(&directive) else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(PatchError::BadArgType {
                expected: "[]interface {}",
                actual: go_type_name(&order),
            });
        };
        let key = field_of_directive(&directive, SET_ELEMENT_ORDER_PREFIX)?;
        let original_list = list_at(original, &key)?;
        let patch_list = list_at(patch, &key)?;
        let (field, strategies, merge_key) = lookup(schema, &key);
        let (_, strategy) = retain_keys_strategy(strategies)?;
        validate_patch_with_set_order_list(
            patch_list.as_deref().unwrap_or_default(),
            &order,
            merge_key,
        )?;

        let merged = match (&original_list, patch_list.clone()) {
            (Some(o), None) => o.clone(),
            (None, Some(p)) => match remove_directives(Value::Array(p)) {
                Some(Value::Array(v)) => v,
                _ => continue,
            },
            (Some(o), Some(p)) => {
                merge_list_field(o.clone(), p, element_of(field), strategy, merge_key, false)?
            }
            (None, None) => continue,
        };
        let patch_items = patch_list.unwrap_or_default();
        let server_order = match original_list {
            Some(o)
                if strategy == MERGE_DIRECTIVE
                    && !merge_key.is_empty()
                    && !patch_items.is_empty() =>
            {
                order_seen_after_merge(o, &patch_items, merge_key)
            }
            o => o.unwrap_or_default(),
        };
        // An empty list is a value upstream's original never holds (its encoder omits
        // it), so upstream has no answer for ordering one; with nothing on either side
        // there is nothing to order.
        if original
            .get(&key)
            .is_some_and(|v| v.as_array().is_some_and(Vec::is_empty))
            && patch_items.is_empty()
        {
            original.insert(key.clone(), Value::Array(merged));
            patch.remove(&key);
            continue;
        }
        let (in_order, server_only) = partition(merged, &order, merge_key)?;
        let kind = element_type(&[&server_order, &patch_items])?;
        let ordered = normalize_element_order(
            in_order,
            server_only,
            &order,
            &server_order,
            merge_key,
            kind,
        )?;
        original.insert(key.clone(), Value::Array(ordered));
        patch.remove(&key);
    }
    Ok(())
}

/// The live list as upstream's ordering step sees it after merging `patch` into it.
///
/// Upstream orders the merged list by the live list's positions, but holds that list in
/// a Go slice that the merge has changed in place: each deleted item shifted the ones
/// after it forward (leaving the last slot stale), and appended items were written into
/// the slots that freed, up to the slice's length. Upstream's own tests expect the order
/// this gives (a server-only item placed before items the patch appends), so it is
/// reproduced here. Example: live `[1, 2, 4]`, patch deleting `1` and adding `3` →
/// `[2, 4, 3]` as seen, so `4` stays before `3`.
fn order_seen_after_merge(original: Vec<Value>, patch: &[Value], merge_key: &str) -> Vec<Value> {
    let key_of = |v: &Value| v.get(merge_key).cloned();
    let mut seen = original;
    let mut current: Vec<Option<Value>> = seen.iter().map(key_of).collect();
    let mut replace = false;
    for item in patch {
        match item.get(DIRECTIVE_MARKER).and_then(Value::as_str) {
            Some(DELETE_DIRECTIVE) => {
                let key = key_of(item);
                while let Some(k) = current.iter().position(|c| c.is_some() && *c == key) {
                    current.remove(k);
                    // `append(s[:k], s[k+1:]...)` shifts the rest forward in place.
                    for i in k..current.len() {
                        if let Some(next) = seen.get(i + 1).cloned() {
                            seen[i] = next;
                        }
                    }
                }
            }
            Some(REPLACE_DIRECTIVE) => replace = true,
            _ => {}
        }
    }
    // A replaced list is a new slice: appends to it are not seen.
    if replace {
        return seen;
    }
    for item in patch {
        if item.get(DIRECTIVE_MARKER).is_some() {
            continue;
        }
        let key = key_of(item);
        if key.is_none() || current.contains(&key) {
            continue;
        }
        if let Some(slot) = seen.get_mut(current.len()) {
            *slot = item.clone();
        }
        current.push(key);
    }
    seen
}

/// The list at `key`, if there is one; another value there is an error.
fn list_at(map: &Map<String, Value>, key: &str) -> Result<Option<Vec<Value>>> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::Array(list)) => Ok(Some(list.clone())),
        Some(other) => Err(PatchError::BadArgType {
            expected: "[]interface {}",
            actual: go_type_name(other),
        }),
    }
}

/// `validatePatchWithSetOrderList`: the patch's items (deletions aside) must appear in the
/// `$setElementOrder` list, in the same relative order.
fn validate_patch_with_set_order_list(
    patch_list: &[Value],
    order: &[Value],
    merge_key: &str,
) -> Result<()> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let kept: Vec<&Value> = if merge_key.is_empty() {
        patch_list.iter().collect()
    } else {
        let mut kept = Vec::new();
        for item in patch_list {
            let map = item.as_object().ok_or(PatchError::BadArgType {
                expected: "map[string]interface {}",
                actual: go_type_name(item),
            })?;
            if map.get(DIRECTIVE_MARKER).and_then(Value::as_str) != Some(DELETE_DIRECTIVE) {
                kept.push(item);
            }
        }
        kept
    };
    let (mut p, mut o) = (0, 0);
    while p < kept.len() && o < order.len() {
        if kept[p]
            .as_object()
            .is_some_and(|m| m.contains_key(DIRECTIVE_MARKER))
        {
            p += 1;
            continue;
        }
        if merge_key_value_equal(kept[p], &order[o], merge_key)? {
            p += 1;
        }
        o += 1;
    }
    if p < kept.len() && o >= order.len() {
        return Err(PatchError::SetElementOrderMismatch {
            patch: go_fmt(&Value::Array(patch_list.to_vec())),
            order: go_fmt(&Value::Array(order.to_vec())),
        });
    }
    Ok(())
}

fn merge_key_value_equal(left: &Value, right: &Value, merge_key: &str) -> Result<bool> {
    if merge_key.is_empty() {
        return Ok(left == right);
    }
    let expect_map = |v: &Value| {
        v.as_object()
            .ok_or(PatchError::BadArgType {
                expected: "map[string]interface {}",
                actual: go_type_name(v),
            })
            .cloned()
    };
    let (l, r) = (expect_map(left)?, expect_map(right)?);
    let key = |m: &Map<String, Value>| {
        m.get(merge_key)
            .cloned()
            .ok_or_else(|| no_merge_key(m, merge_key))
    };
    Ok(key(&l)? == key(&r)?)
}

/// `mergeSliceHandler`: a list merged if its field is tagged `merge` (or if the patch
/// deletes from it), replaced otherwise.
fn merge_list_field(
    original: Vec<Value>,
    patch: Vec<Value>,
    element: SchemaRef<'_>,
    strategy: &str,
    merge_key: &str,
    is_delete_list: bool,
) -> Result<Vec<Value>> {
    if strategy == MERGE_DIRECTIVE || is_delete_list {
        merge_list(original, patch, element, merge_key, is_delete_list)
    } else {
        Ok(patch)
    }
}

/// `mergeSlice`: merge two lists, objects by merge key and scalars as a set, then order
/// the result: the patch's items in the patch's order, the others where they were.
fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    element: SchemaRef<'_>,
    merge_key: &str,
    is_delete_list: bool,
) -> Result<Vec<Value>> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let kind = element_type(&[&original, &patch])?;
    let (original, patch, merged) = if kind != GoType::Map {
        if is_delete_list {
            return Ok(original
                .into_iter()
                .filter(|v| !patch.contains(v))
                .collect());
        }
        let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
        for value in original.iter().chain(&patch) {
            if !merged.contains(value) {
                merged.push(value.clone());
            }
        }
        (original, patch, merged)
    } else {
        if merge_key.is_empty() {
            return Err(PatchError::NoMergeKeyDeclared(element.go_kind()));
        }
        let (original, patch) = apply_list_directives(original, patch, merge_key)?;
        let merged = merge_items_by_key(original.clone(), &patch, merge_key, element)?;
        (original, patch, merged)
    };
    let (in_patch, server_only) = partition(merged, &patch, merge_key)?;
    normalize_element_order(in_patch, server_only, &patch, &original, merge_key, kind)
}

/// `mergeSliceWithSpecialElements`: carry out the `$patch` items of a list of objects.
/// Returns the original (less deleted items, or the patch's items if it replaces the
/// list) and the patch's remaining items.
fn apply_list_directives(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut rest = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Some(map) = item.as_object() else {
            continue;
        };
        let Some(directive) = map.get(DIRECTIVE_MARKER) else {
            rest.push(item);
            continue;
        };
        match directive.as_str() {
            Some(DELETE_DIRECTIVE) => {
                let key = map
                    .get(merge_key)
                    .ok_or_else(|| no_merge_key(map, merge_key))?;
                original.retain(|o| o.get(merge_key) != Some(key));
            }
            // The remaining items replace the list; other `$patch` items are still pruned.
            Some(REPLACE_DIRECTIVE) => replace = true,
            Some(MERGE_DIRECTIVE) => return Err(PatchError::MergeDirectiveInList),
            _ => {
                return Err(PatchError::BadPatchType {
                    directive: go_fmt_s(directive),
                    map: go_fmt(&item),
                });
            }
        }
    }
    Ok(if replace {
        (rest, Vec::new())
    } else {
        (original, rest)
    })
}

/// `mergeSliceWithoutSpecialElements`: merge each patch item into the original item with
/// the same merge key, or append it.
fn merge_items_by_key(
    mut original: Vec<Value>,
    patch: &[Value],
    merge_key: &str,
    element: SchemaRef<'_>,
) -> Result<Vec<Value>> {
    for item in patch {
        let Some(map) = item.as_object() else {
            continue;
        };
        let key = map
            .get(merge_key)
            .ok_or_else(|| no_merge_key(map, merge_key))?;
        match find_by_key(&original, merge_key, key)? {
            Some(index) => {
                let current = std::mem::take(&mut original[index]);
                let current = match current {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                original[index] = Value::Object(merge_map(current, map.clone(), element)?);
            }
            None => original.push(item.clone()),
        }
    }
    Ok(original)
}

/// `findMapInSliceBasedOnKeyValue`: the first item whose merge key has this value.
fn find_by_key(list: &[Value], merge_key: &str, value: &Value) -> Result<Option<usize>> {
    for (index, item) in list.iter().enumerate() {
        let map = item.as_object().ok_or(PatchError::NotAMap(index))?;
        if map.get(merge_key) == Some(value) {
            return Ok(Some(index));
        }
    }
    Ok(None)
}

/// Split `merged` into the items that `by` has (by merge key, or by value for scalars)
/// and the others.
fn partition(
    merged: Vec<Value>,
    by: &[Value],
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let (mut found, mut rest) = (Vec::new(), Vec::new());
    for item in merged {
        let present = if merge_key.is_empty() {
            by.contains(&item)
        } else {
            let map = item.as_object().ok_or(PatchError::BadArgType {
                expected: "map[string]interface {}",
                actual: go_type_name(&item),
            })?;
            let key = map
                .get(merge_key)
                .ok_or_else(|| no_merge_key(map, merge_key))?;
            find_by_key(by, merge_key, key)?.is_some()
        };
        if present {
            found.push(item)
        } else {
            rest.push(item)
        }
    }
    Ok((found, rest))
}

/// `normalizeElementOrder`: sort the patch's items by `patch_order` and the server's by
/// `server_order`, then interleave them.
fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    kind: GoType,
) -> Result<Vec<Value>> {
    let patch = sort_by_order(patch, patch_order, merge_key, kind)?;
    let server_only = sort_by_order(server_only, server_order, merge_key, kind)?;
    Ok(merge_sorted(
        server_only,
        patch,
        server_order,
        merge_key,
        kind,
    ))
}

/// `normalizeSliceOrder`: order items by their position in `order`, deletion items last.
///
/// Upstream sorts with a comparison that calls an item found nowhere "less" than any
/// other; Go's stable sort is an insertion sort for short lists, so this is one too, with
/// the same comparison, to put such items where upstream does.
fn sort_by_order(
    items: Vec<Value>,
    order: &[Value],
    merge_key: &str,
    kind: GoType,
) -> Result<Vec<Value>> {
    let (items, deletions) = if kind == GoType::Map {
        for item in items.iter().chain(order) {
            let map = item.as_object().ok_or(PatchError::BadArgType {
                expected: "map[string]interface {}",
                actual: go_type_name(item),
            })?;
            if !map.contains_key(merge_key) {
                return Err(no_merge_key(map, merge_key));
            }
        }
        items.into_iter().partition(|item| {
            item.get(DIRECTIVE_MARKER).and_then(Value::as_str) != Some(DELETE_DIRECTIVE)
        })
    } else {
        (items, Vec::new())
    };
    let mut keyed: Vec<(Option<usize>, Value)> = items
        .into_iter()
        .map(|item| (index_of(order, &item, merge_key, kind), item))
        .collect();
    let less = |a: Option<usize>, b: Option<usize>| match (a, b) {
        (Some(a), Some(b)) => a < b,
        _ => true,
    };
    for i in 1..keyed.len() {
        let mut j = i;
        while j > 0 && less(keyed[j].0, keyed[j - 1].0) {
            keyed.swap(j, j - 1);
            j -= 1;
        }
    }
    Ok(keyed
        .into_iter()
        .map(|(_, item)| item)
        .chain(deletions)
        .collect())
}

/// `mergeSortedSlice`: interleave two sorted lists, keeping each one's order; an item of
/// `left` goes first only when both are in `server_order` and it is earlier there.
fn merge_sorted(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    merge_key: &str,
    kind: GoType,
) -> Vec<Value> {
    let position = |item: &Value| index_of(server_order, item, merge_key, kind);
    let left: Vec<(Option<usize>, Value)> = left.into_iter().map(|v| (position(&v), v)).collect();
    let right: Vec<(Option<usize>, Value)> = right.into_iter().map(|v| (position(&v), v)).collect();
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut left, mut right) = (left.into_iter().peekable(), right.into_iter().peekable());
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
            (Some((l, _)), Some((r, _))) => matches!((l, r), (Some(l), Some(r)) if l < r),
        };
        let next = if take_left { left.next() } else { right.next() };
        if let Some((_, item)) = next {
            out.push(item);
        }
    }
    out
}

/// `index`: where `item` is in `list`, by merge key for objects, by value otherwise.
fn index_of(list: &[Value], item: &Value, merge_key: &str, kind: GoType) -> Option<usize> {
    if kind == GoType::Map {
        let key = item.get(merge_key);
        list.iter().position(|v| v.get(merge_key) == key)
    } else {
        list.iter().position(|v| v == item)
    }
}

/// The patch metadata of `key` in `schema`: its type, patch strategies and merge key.
/// Keys the schema lacks (a map's keys, fields of untyped JSON) have none.
fn lookup<'a>(schema: SchemaRef<'a>, key: &str) -> (SchemaRef<'a>, &'a [String], &'a str) {
    match schema.field(key) {
        Some((ty, field)) => (
            ty,
            &field.patch_strategies,
            field.patch_merge_key.as_deref().unwrap_or(""),
        ),
        None => (
            schema
                .element()
                .unwrap_or_else(|| SchemaRef::untyped(schema.schema())),
            &[],
            "",
        ),
    }
}

/// The element type of a list field. A struct field holding a list is taken as a list
/// of that struct, as upstream's lookup does for pointers to structs.
fn element_of(field: SchemaRef<'_>) -> SchemaRef<'_> {
    match field.ty() {
        schema::Type::List(_) => field.element().unwrap_or(field),
        schema::Type::Struct(_) => field,
        _ => SchemaRef::untyped(field.schema()),
    }
}

/// `extractRetainKeysPatchStrategy`: whether `retainKeys` is among the strategies, and the
/// other one.
fn retain_keys_strategy(strategies: &[String]) -> Result<(bool, &str)> {
    match strategies {
        [] => Ok((false, "")),
        [one] if one == RETAIN_KEYS_STRATEGY => Ok((true, "")),
        [one] => Ok((false, one)),
        [a, b] if a == RETAIN_KEYS_STRATEGY => Ok((true, b)),
        [a, b] if b == RETAIN_KEYS_STRATEGY => Ok((true, a)),
        other => Err(PatchError::UnexpectedPatchStrategy(other.join(" "))),
    }
}

/// `extractKey`: the field a `$prefix/<field>` directive names.
fn field_of_directive(key: &str, prefix: &str) -> Result<String> {
    match key.split_once('/') {
        Some((head, field)) if head == prefix => Ok(field.to_string()),
        _ if prefix == DELETE_FROM_PRIMITIVE_LIST_PREFIX => {
            Err(PatchError::BadPatchFormatForPrimitiveList)
        }
        _ => Err(PatchError::BadPatchFormatForSetElementOrderList),
    }
}

/// `removeDirectives`: a patch value without its `$patch` maps; `None` if it is one.
fn remove_directives(value: Value) -> Option<Value> {
    match value {
        Value::Object(map) => {
            if map.contains_key(DIRECTIVE_MARKER) {
                return None;
            }
            Some(Value::Object(
                map.into_iter()
                    .filter_map(|(k, v)| remove_directives(v).map(|v| (k, v)))
                    .collect(),
            ))
        }
        Value::Array(items) => Some(Value::Array(
            items.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

/// `discardNullValuesFromPatch`: drop `null` members of maps, at any depth.
fn discard_null_values(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(discard_null_values);
        }
        Value::Array(items) => items.iter_mut().for_each(discard_null_values),
        _ => {}
    }
}

/// Remove directive keys left in struct-typed objects (items appended whole, maps the
/// original lacked): no Go struct has such a field, so upstream's decoding drops them.
fn drop_directives(map: &mut Map<String, Value>, schema: SchemaRef<'_>) {
    if schema.as_struct().is_none() {
        return;
    }
    map.retain(|key, _| {
        !(key == DIRECTIVE_MARKER
            || key == RETAIN_KEYS_DIRECTIVE
            || key.starts_with(&format!("{SET_ELEMENT_ORDER_PREFIX}/"))
            || key.starts_with(&format!("{DELETE_FROM_PRIMITIVE_LIST_PREFIX}/")))
    });
    for (key, value) in map.iter_mut() {
        let Some((field, _)) = schema.field(key) else {
            continue;
        };
        match value {
            Value::Object(inner) => drop_directives(inner, field),
            Value::Array(items) => {
                if let Some(element) = field.element() {
                    for item in items.iter_mut() {
                        if let Value::Object(inner) = item {
                            drop_directives(inner, element);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

fn no_merge_key(map: &Map<String, Value>, key: &str) -> PatchError {
    PatchError::NoMergeKey {
        map: go_fmt(&Value::Object(map.clone())),
        key: key.to_string(),
    }
}

/// The dynamic Go type a decoded JSON value has upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GoType {
    Nil,
    Bool,
    Int64,
    Float64,
    String,
    Slice,
    Map,
}

fn go_type(value: &Value) -> GoType {
    match value {
        Value::Null => GoType::Nil,
        Value::Bool(_) => GoType::Bool,
        // Upstream decodes patches and objects keeping integers as int64.
        Value::Number(n) if n.is_i64() || n.is_u64() => GoType::Int64,
        Value::Number(_) => GoType::Float64,
        Value::String(_) => GoType::String,
        Value::Array(_) => GoType::Slice,
        Value::Object(_) => GoType::Map,
    }
}

fn go_type_name(value: &Value) -> &'static str {
    match go_type(value) {
        GoType::Nil => "<nil>",
        GoType::Bool => "bool",
        GoType::Int64 => "int64",
        GoType::Float64 => "float64",
        GoType::String => "string",
        GoType::Slice => "[]interface {}",
        GoType::Map => "map[string]interface {}",
    }
}

/// `sliceElementType`: the one type of every element of the lists.
fn element_type(lists: &[&[Value]]) -> Result<GoType> {
    let mut found = None;
    for value in lists.iter().flat_map(|l| l.iter()) {
        let ty = go_type(value);
        match found {
            None if ty == GoType::Slice => return Err(PatchError::NoListOfLists),
            None => found = Some(ty),
            Some(previous) if previous != ty => {
                let printed: Vec<String> = lists
                    .iter()
                    .map(|l| go_fmt(&Value::Array(l.to_vec())))
                    .collect();
                return Err(PatchError::ElementTypesDiffer(format!(
                    "[{}]",
                    printed.join(" ")
                )));
            }
            Some(_) => {}
        }
    }
    // A null element has no Go type at all; upstream fails on it.
    match found {
        None => Err(PatchError::NoElements),
        Some(GoType::Nil) => Err(PatchError::ElementTypesDiffer(String::from("[<nil>]"))),
        Some(ty) => Ok(ty),
    }
}

/// The JSON kind named in a decoding error.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Object(_) => "object",
        Value::Null => "null",
    }
}

/// A value as Go's `%v` prints it, for error messages: `map[name:c]`, `[a b]`.
fn go_fmt(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(go_fmt).collect::<Vec<_>>().join(" ")
        ),
        // Go prints a map's keys sorted, as serde_json's map keeps them.
        Value::Object(map) => format!(
            "map[{}]",
            map.iter()
                .map(|(k, v)| format!("{k}:{}", go_fmt(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// A value as Go's `%s` prints it: strings as they are, others flagged.
fn go_fmt_s(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => format!("%!s({}={})", go_type_name(other), go_fmt(other)),
    }
}

#[cfg(test)]
mod tests;
