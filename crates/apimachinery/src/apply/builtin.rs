//! The built-in kinds' merge schema for server-side apply, read from the same table as
//! strategic merge patch (`strategic_merge/schema.txt`).
//!
//! Lists merge as their `+listType` says; a list without one merges as upstream's
//! schema conversion makes it: keyed by its `patchMergeKey` when its patch strategy is
//! `merge`, a set when it merges without a key, atomic otherwise.

use super::{FieldShape, ListKind, Schema};
use crate::strategic_merge::schema::{self, ElementRelationship, ListType, Type};

/// The schema of every built-in kind.
pub struct Builtin;

impl Builtin {
    /// The name of the struct a kind's objects are (`appsv1.Deployment`).
    pub fn root(group: &str, version: &str, kind: &str) -> Option<&'static str> {
        let root = schema::root(group, version, kind)?;
        root.as_struct().map(|s| s.name.as_str())
    }
}

impl Schema for Builtin {
    fn field(&self, ty: &str, name: &str) -> Option<FieldShape> {
        let table = schema::builtin().ok()?;
        let field = table
            .struct_named(ty)?
            .fields
            .iter()
            .find(|f| f.name == name)?;
        let struct_name = |t: &Type| match t {
            Type::Struct(index) => table.struct_at(*index).map(|s| s.name.as_str()),
            _ => None,
        };
        let (list, ty, struct_atomic) = match &field.ty {
            Type::List(element) => {
                let merges = field.patch_strategies.iter().any(|s| s == "merge");
                let list = match (field.list_type, &field.patch_merge_key) {
                    (Some(ListType::Map), _) => ListKind::Map(field.list_map_keys.clone()),
                    (Some(ListType::Set), _) => ListKind::Set,
                    (Some(ListType::Atomic), _) => ListKind::Atomic,
                    (None, Some(key)) if merges => ListKind::Map(vec![key.clone()]),
                    (None, None) if merges => ListKind::Set,
                    _ => ListKind::Atomic,
                };
                (list, struct_name(element), false)
            }
            Type::Struct(index) => {
                let atomic = table
                    .struct_at(*index)
                    .is_some_and(|s| s.struct_type == Some(ElementRelationship::Atomic));
                (ListKind::Atomic, struct_name(&field.ty), atomic)
            }
            _ => (ListKind::Atomic, None, false),
        };
        let atomic = struct_atomic
            || field.map_type == Some(ElementRelationship::Atomic)
            || field.struct_type == Some(ElementRelationship::Atomic)
            || matches!(field.ty, Type::Untyped);
        Some(FieldShape { list, atomic, ty })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_are_keyed_by_name_and_finalizers_are_a_set() {
        let deployment = Builtin::root("apps", "v1", "Deployment").expect("deployment");
        let spec = Builtin
            .field(&deployment, "spec")
            .and_then(|f| f.ty)
            .expect("spec");
        let template = Builtin
            .field(&spec, "template")
            .and_then(|f| f.ty)
            .expect("template");
        let pod_spec = Builtin
            .field(&template, "spec")
            .and_then(|f| f.ty)
            .expect("pod spec");
        let containers = Builtin.field(&pod_spec, "containers").expect("containers");
        assert_eq!(containers.list, ListKind::Map(vec!["name".into()]));
        let meta = Builtin
            .field(&deployment, "metadata")
            .and_then(|f| f.ty)
            .expect("metadata");
        assert_eq!(
            Builtin.field(&meta, "finalizers").map(|f| f.list),
            Some(ListKind::Set)
        );
        assert!(
            Builtin
                .field(&meta, "labels")
                .is_some_and(|f| f.ty.is_none())
        );
        assert!(Builtin.field(&deployment, "nope").is_none());
    }
}
