//! The shape of an object, as far as the fields a create owns depend on it.
//!
//! A create owns every field it sets (see `created_fields`), and which fields those are
//! depends on the object's keys, on whether each value is null, an object, a list or a
//! scalar, and on the items of its lists (keyed lists are owned by their keys, set-like
//! ones by their values, the rest by position) — never on a scalar value outside a list,
//! and on `apiVersion` and `kind` only through the kind's empty object it is compared
//! with. So objects of one shape own the same fields: a ReplicaSet's pods differ in their
//! names and uids, not in their shape, and neither do a benchmark's ConfigMaps. The API
//! server keeps the fields of the shapes it has seen ([`shape_hash`] as the key) rather
//! than walking each create into a field set again.

use std::hash::{BuildHasher, Hash, Hasher};

use serde_json::Value;

/// Deeper than any real object: an object this deep has no hash (it is walked).
const MAX_DEPTH: usize = 64;

/// A hash of what [`super::created_fields`] reads of `obj`: its keys, the type of each
/// value, every value inside a list, and `apiVersion` and `kind`. Two objects with the
/// same hash own the same fields on create (unless the 64-bit hashes collide: `hashes`
/// should be seeded at random, so that no one can aim at a collision). `None` for an
/// object nested deeper than [`MAX_DEPTH`].
pub fn shape_hash(obj: &Value, hashes: &impl BuildHasher) -> Option<u64> {
    let mut hasher = hashes.build_hasher();
    for identity in ["apiVersion", "kind"] {
        obj.get(identity).and_then(Value::as_str).hash(&mut hasher);
    }
    shape(obj, &mut hasher, 0).then(|| hasher.finish())
}

/// Keys and value types, recursively; lists whole. False past [`MAX_DEPTH`].
fn shape(value: &Value, hasher: &mut impl Hasher, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    match value {
        Value::Object(map) => {
            kind(value, hasher);
            hasher.write_usize(map.len());
            map.iter().all(|(key, value)| {
                key.hash(hasher);
                shape(value, hasher, depth + 1)
            })
        }
        Value::Array(_) => whole(value, hasher, depth),
        _ => {
            kind(value, hasher);
            true
        }
    }
}

/// Keys, types and scalar values, recursively. False past [`MAX_DEPTH`].
fn whole(value: &Value, hasher: &mut impl Hasher, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    kind(value, hasher);
    match value {
        Value::Null => true,
        Value::Bool(b) => {
            b.hash(hasher);
            true
        }
        Value::Number(n) => {
            number(n, hasher);
            true
        }
        Value::String(s) => {
            s.hash(hasher);
            true
        }
        Value::Array(items) => {
            hasher.write_usize(items.len());
            items.iter().all(|item| whole(item, hasher, depth + 1))
        }
        Value::Object(map) => {
            hasher.write_usize(map.len());
            map.iter().all(|(key, value)| {
                key.hash(hasher);
                whole(value, hasher, depth + 1)
            })
        }
    }
}

/// A number as exactly as its text in a field path (`k:{"port":80}`, `v:1.5`): `Number`'s
/// own hash takes `1`, `1.0` and `-0.0`, `0.0` for the same.
fn number(n: &serde_json::Number, hasher: &mut impl Hasher) {
    if let Some(u) = n.as_u64() {
        hasher.write_u8(0);
        hasher.write_u64(u);
    } else if let Some(i) = n.as_i64() {
        hasher.write_u8(1);
        hasher.write_i64(i);
    } else {
        hasher.write_u8(2);
        hasher.write_u64(n.as_f64().map_or(0, f64::to_bits));
    }
}

/// Which of JSON's types a value is.
fn kind(value: &Value, hasher: &mut impl Hasher) {
    hasher.write_u8(match value {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    });
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn shape_hash(obj: &Value) -> Option<u64> {
        super::shape_hash(obj, &foldhash::quality::FixedState::with_seed(1))
    }

    #[test]
    fn values_outside_lists_do_not_count_and_everything_else_does() {
        let pod = |name: &str, image: &str, label: &str| {
            json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "labels": {label: "x"}},
                "spec": {"containers": [{"name": "c", "image": image}], "nodeName": name}})
        };
        let base = shape_hash(&pod("a", "nginx", "app"));
        // Names, uids, a node: the same fields.
        assert_eq!(base, shape_hash(&pod("b", "nginx", "app")));
        // A list's items, a key, a kind: other fields.
        assert_ne!(base, shape_hash(&pod("a", "redis", "app")));
        assert_ne!(base, shape_hash(&pod("a", "nginx", "tier")));
        let mut other_kind = pod("a", "nginx", "app");
        other_kind["kind"] = json!("Other");
        assert_ne!(base, shape_hash(&other_kind));
        // Null, empty object, scalar: each its own.
        let with = |v: Value| shape_hash(&json!({"kind": "ConfigMap", "data": {"k": v}}));
        let types = [
            json!(null),
            json!({}),
            json!("s"),
            json!(1),
            json!(true),
            json!([]),
        ];
        let hashes: std::collections::BTreeSet<Option<u64>> = types.into_iter().map(with).collect();
        assert_eq!(hashes.len(), 6);
        // Numbers in a list as their text: `1` is not `1.0`, `0.0` is not `-0.0`.
        let ports = |port: Value| shape_hash(&json!({"ports": [{"containerPort": port}]}));
        assert_ne!(ports(json!(1)), ports(json!(1.0)));
        assert_ne!(ports(json!(0.0)), ports(json!(-0.0)));
        assert_ne!(ports(json!(-1)), ports(json!(u64::MAX)));
        assert_ne!(ports(json!(1.0)), ports(json!(1.0f64.to_bits())));
        // Too deep to hash: walked instead.
        let mut deep = json!("leaf");
        for _ in 0..=MAX_DEPTH {
            deep = json!({ "a": deep });
        }
        assert_eq!(shape_hash(&deep), None);
    }
}
