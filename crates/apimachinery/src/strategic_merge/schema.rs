//! The patch schema of the built-in types: each field's JSON name, type, patch strategy,
//! merge key and list/map/struct markers, loaded once from `schema.txt`.
//!
//! Upstream reads the same facts from the Go struct tags (`patchStrategy:"merge"
//! patchMergeKey:"name"`) and comment markers (`+listType=map`, `+listMapKey=name`) of
//! k8s.io/api; `scripts/gen-patch-schema` extracts them into `schema.txt`, whose format it
//! describes.

use std::collections::HashMap;
use std::sync::OnceLock;

/// The table every built-in kind's patches are applied with.
static BUILTIN: OnceLock<Result<Schema, String>> = OnceLock::new();

/// Stands in for a field the table does not know.
static UNTYPED: Type = Type::Untyped;

/// The built-in table, parsed on first use.
pub fn builtin() -> Result<&'static Schema, &'static str> {
    BUILTIN
        .get_or_init(|| Schema::parse(include_str!("schema.txt")))
        .as_ref()
        .map_err(String::as_str)
}

/// The root type of a built-in kind at `group`/`version` (`""` for core), as
/// `root("apps", "v1", "Deployment")`; `None` for kinds the table does not have (custom
/// resources).
pub fn root(group: &str, version: &str, kind: &str) -> Option<SchemaRef<'static>> {
    builtin().ok()?.root(group, version, kind)
}

/// A field's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    Scalar(Scalar),
    /// A struct, by its index in the table.
    Struct(usize),
    List(Box<Type>),
    /// A map with string keys.
    Map(Box<Type>),
    /// JSON of any shape (`runtime.RawExtension`, `FieldsV1`), or a field the table lacks.
    Untyped,
}

/// What a scalar looks like on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    String,
    Integer,
    Number,
    Boolean,
    /// `[]byte`: a base64 string.
    Bytes,
    IntOrString,
    Quantity,
    Time,
    Duration,
}

/// `+listType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListType {
    Atomic,
    Set,
    Map,
}

/// `+mapType` and `+structType`: whether the value is owned and replaced as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementRelationship {
    Atomic,
    Granular,
}

/// One field of a struct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The JSON name.
    pub name: String,
    pub ty: Type,
    /// `patchStrategy`: `merge`, `replace`, `retainKeys`, or `merge` with `retainKeys`.
    pub patch_strategies: Vec<String>,
    /// `patchMergeKey`: the key list items are matched by.
    pub patch_merge_key: Option<String>,
    pub list_type: Option<ListType>,
    pub list_map_keys: Vec<String>,
    pub map_type: Option<ElementRelationship>,
    pub struct_type: Option<ElementRelationship>,
}

/// A struct type: `corev1.PodSpec`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Struct {
    pub name: String,
    pub struct_type: Option<ElementRelationship>,
    pub fields: Vec<Field>,
}

/// A parsed table.
#[derive(Debug, Default)]
pub struct Schema {
    structs: Vec<Struct>,
    /// Root types by kind, then (group, version): looked up by `&str`, without building
    /// an owned key on every write.
    kinds: HashMap<String, Vec<(String, String, Type)>>,
    names: HashMap<String, usize>,
}

/// A type inside a schema, from which fields and elements are looked up.
#[derive(Debug, Clone, Copy)]
pub struct SchemaRef<'a> {
    schema: &'a Schema,
    ty: &'a Type,
}

impl Schema {
    /// Parse a table in `schema.txt`'s format.
    pub fn parse(text: &str) -> Result<Schema, String> {
        // Struct names first, so that fields can refer to structs defined further down.
        let mut ids = HashMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("T ") {
                let name = rest.split_whitespace().next().unwrap_or_default();
                ids.insert(name.to_string(), ids.len());
            }
        }
        let mut schema = Schema {
            structs: Vec::with_capacity(ids.len()),
            kinds: HashMap::new(),
            names: ids.clone(),
        };
        for (number, line) in text.lines().enumerate() {
            let at = |e: String| format!("schema line {}: {e}", number + 1);
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            if let Some(rest) = line.strip_prefix("K ") {
                let parts: Vec<&str> = rest.split_whitespace().collect();
                let [group, version, kind, ty] = parts[..] else {
                    return Err(at(format!("expected `K group version kind type`: {line}")));
                };
                let group = if group == "-" { "" } else { group };
                let ty = parse_type(ty, &ids).map_err(at)?;
                schema.kinds.entry(kind.into()).or_default().push((
                    group.into(),
                    version.into(),
                    ty,
                ));
            } else if line.starts_with("T ") {
                words.next();
                let name = words.next().unwrap_or_default().to_string();
                let mut struct_type = None;
                for attr in words {
                    match attr.split_once('=') {
                        Some(("structType", v)) => {
                            struct_type = Some(parse_relationship(v).map_err(at)?)
                        }
                        _ => return Err(at(format!("unknown struct attribute {attr}"))),
                    }
                }
                schema.structs.push(Struct {
                    name,
                    struct_type,
                    fields: Vec::new(),
                });
            } else if line.starts_with("  ") {
                let field = parse_field(words, &ids).map_err(at)?;
                let current = schema
                    .structs
                    .last_mut()
                    .ok_or_else(|| at("field before any struct".into()))?;
                current.fields.push(field);
            } else {
                return Err(at(format!("unrecognised line: {line}")));
            }
        }
        Ok(schema)
    }

    /// The root type of a kind, as [`root`].
    pub fn root(&self, group: &str, version: &str, kind: &str) -> Option<SchemaRef<'_>> {
        let (_, _, ty) = self
            .kinds
            .get(kind)?
            .iter()
            .find(|(g, v, _)| g == group && v == version)?;
        Some(SchemaRef { schema: self, ty })
    }

    /// A struct by its name in the table (`corev1.PodSpec`).
    pub fn struct_named(&self, name: &str) -> Option<&Struct> {
        self.structs.get(*self.names.get(name)?)
    }

    /// A struct by its index, as [`Type::Struct`] holds it.
    pub fn struct_at(&self, index: usize) -> Option<&Struct> {
        self.structs.get(index)
    }

    /// How many structs and fields the table has.
    pub fn size(&self) -> (usize, usize) {
        (
            self.structs.len(),
            self.structs.iter().map(|s| s.fields.len()).sum(),
        )
    }
}

impl<'a> SchemaRef<'a> {
    /// A type standing for anything: merged as plain JSON, without strategies.
    pub fn untyped(schema: &'a Schema) -> Self {
        SchemaRef {
            schema,
            ty: &UNTYPED,
        }
    }

    pub fn ty(&self) -> &'a Type {
        self.ty
    }

    /// The struct this type is, if it is one.
    pub fn as_struct(&self) -> Option<&'a Struct> {
        match self.ty {
            Type::Struct(index) => self.schema.structs.get(*index),
            _ => None,
        }
    }

    /// A struct's field by JSON name: an exact match, else one equal ignoring case, as
    /// `encoding/json` (and so upstream's patch metadata lookup) resolves field names.
    pub fn field(&self, name: &str) -> Option<(SchemaRef<'a>, &'a Field)> {
        let fields = &self.as_struct()?.fields;
        let field = fields
            .iter()
            .find(|f| f.name == name)
            .or_else(|| fields.iter().find(|f| f.name.eq_ignore_ascii_case(name)))?;
        Some((
            SchemaRef {
                schema: self.schema,
                ty: &field.ty,
            },
            field,
        ))
    }

    /// A list's element type or a map's value type.
    pub fn element(&self) -> Option<SchemaRef<'a>> {
        match self.ty {
            Type::List(inner) | Type::Map(inner) => Some(SchemaRef {
                schema: self.schema,
                ty: inner,
            }),
            _ => None,
        }
    }

    /// The schema this type belongs to.
    pub fn schema(&self) -> &'a Schema {
        self.schema
    }

    /// The Go kind of the type, as upstream names it in errors (`struct`, `slice`, ...).
    pub fn go_kind(&self) -> &'static str {
        match self.ty {
            Type::Struct(_) => "struct",
            Type::List(_) => "slice",
            Type::Map(_) => "map",
            Type::Untyped => "interface",
            Type::Scalar(Scalar::Boolean) => "bool",
            Type::Scalar(Scalar::Integer) => "int64",
            Type::Scalar(Scalar::Number) => "float64",
            Type::Scalar(_) => "string",
        }
    }
}

fn parse_type(expr: &str, ids: &HashMap<String, usize>) -> Result<Type, String> {
    if let Some(inner) = expr.strip_prefix("[]") {
        return Ok(Type::List(Box::new(parse_type(inner, ids)?)));
    }
    if let Some(inner) = expr.strip_prefix("map[]") {
        return Ok(Type::Map(Box::new(parse_type(inner, ids)?)));
    }
    let scalar = match expr {
        "string" => Scalar::String,
        "integer" => Scalar::Integer,
        "number" => Scalar::Number,
        "boolean" => Scalar::Boolean,
        "bytes" => Scalar::Bytes,
        "int-or-string" => Scalar::IntOrString,
        "quantity" => Scalar::Quantity,
        "time" => Scalar::Time,
        "duration" => Scalar::Duration,
        "untyped" => return Ok(Type::Untyped),
        name => {
            return ids
                .get(name)
                .map(|&i| Type::Struct(i))
                .ok_or_else(|| format!("unknown type {name}"));
        }
    };
    Ok(Type::Scalar(scalar))
}

fn parse_field<'l>(
    mut words: impl Iterator<Item = &'l str>,
    ids: &HashMap<String, usize>,
) -> Result<Field, String> {
    let name = words.next().ok_or("field without a name")?.to_string();
    let ty = parse_type(
        words
            .next()
            .ok_or_else(|| format!("field {name} without a type"))?,
        ids,
    )?;
    let mut field = Field {
        name,
        ty,
        patch_strategies: Vec::new(),
        patch_merge_key: None,
        list_type: None,
        list_map_keys: Vec::new(),
        map_type: None,
        struct_type: None,
    };
    let list = |v: &str| v.split(',').map(str::to_string).collect::<Vec<_>>();
    for attr in words {
        match attr.split_once('=') {
            Some(("patchStrategy", v)) => field.patch_strategies = list(v),
            Some(("patchMergeKey", v)) => field.patch_merge_key = Some(v.to_string()),
            Some(("listType", v)) => {
                field.list_type = Some(match v {
                    "atomic" => ListType::Atomic,
                    "set" => ListType::Set,
                    "map" => ListType::Map,
                    other => return Err(format!("unknown listType {other}")),
                })
            }
            Some(("listMapKey", v)) => field.list_map_keys = list(v),
            Some(("mapType", v)) => field.map_type = Some(parse_relationship(v)?),
            Some(("structType", v)) => field.struct_type = Some(parse_relationship(v)?),
            _ => return Err(format!("unknown field attribute {attr}")),
        }
    }
    Ok(field)
}

fn parse_relationship(value: &str) -> Result<ElementRelationship, String> {
    match value {
        "atomic" => Ok(ElementRelationship::Atomic),
        "granular" => Ok(ElementRelationship::Granular),
        other => Err(format!("unknown element relationship {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field<'a>(ty: SchemaRef<'a>, path: &[&str]) -> &'a Field {
        let (mut current, mut found) = (ty, None);
        for name in path {
            let (next, f) = current
                .field(name)
                .unwrap_or_else(|| panic!("no field {name}"));
            found = Some(f);
            current = next
                .element()
                .filter(|_| matches!(next.ty(), Type::List(_)))
                .unwrap_or(next);
        }
        found.expect("a path")
    }

    #[test]
    fn the_builtin_table_parses_and_has_every_served_kind() {
        let schema = builtin().expect("schema.txt parses");
        let (structs, fields) = schema.size();
        assert!(
            structs > 200 && fields > 1000,
            "{structs} structs, {fields} fields"
        );
        for info in crate::registry::builtins() {
            assert!(
                root(&info.group, &info.version, &info.kind).is_some(),
                "{}/{} {}",
                info.group,
                info.version,
                info.kind
            );
        }
        assert!(root("autoscaling", "v1", "Scale").is_some());
        assert!(root("example.com", "v1", "Widget").is_none());
    }

    #[test]
    fn merge_keys_and_strategies_are_upstreams() {
        let deployment = root("apps", "v1", "Deployment").expect("Deployment");
        let containers = field(deployment, &["spec", "template", "spec", "containers"]);
        assert_eq!(containers.patch_strategies, ["merge"]);
        assert_eq!(containers.patch_merge_key.as_deref(), Some("name"));
        assert_eq!(containers.list_type, Some(ListType::Map));
        let volumes = field(deployment, &["spec", "template", "spec", "volumes"]);
        assert_eq!(volumes.patch_strategies, ["merge", "retainKeys"]);
        let ports = field(
            deployment,
            &["spec", "template", "spec", "containers", "ports"],
        );
        assert_eq!(ports.patch_merge_key.as_deref(), Some("containerPort"));
        assert_eq!(ports.list_map_keys, ["containerPort", "protocol"]);
        let mounts = field(
            deployment,
            &["spec", "template", "spec", "containers", "volumeMounts"],
        );
        assert_eq!(mounts.patch_merge_key.as_deref(), Some("mountPath"));
        let tolerations = field(deployment, &["spec", "template", "spec", "tolerations"]);
        assert!(
            tolerations.patch_strategies.is_empty(),
            "tolerations are replaced"
        );
        let strategy = field(deployment, &["spec", "strategy"]);
        assert_eq!(strategy.patch_strategies, ["retainKeys"]);
        let finalizers = field(deployment, &["metadata", "finalizers"]);
        assert_eq!(
            (finalizers.patch_strategies.as_slice(), finalizers.list_type),
            (&["merge".to_string()][..], Some(ListType::Set))
        );
        let service = root("", "v1", "Service").expect("Service");
        assert_eq!(
            field(service, &["spec", "ports"])
                .patch_merge_key
                .as_deref(),
            Some("port")
        );
    }

    #[test]
    fn inline_structs_are_flattened_and_names_match_case_insensitively() {
        let pod = root("", "v1", "Pod").expect("Pod");
        let (volume, _) = pod
            .field("spec")
            .and_then(|(s, _)| s.field("volumes"))
            .expect("volumes");
        let volume = volume.element().expect("a list");
        assert!(
            volume.field("hostPath").is_some(),
            "VolumeSource is inline in Volume"
        );
        assert!(pod.field("apiVersion").is_some(), "TypeMeta is inline");
        assert_eq!(
            pod.field("SPEC").map(|(_, f)| f.name.as_str()),
            Some("spec")
        );
    }

    #[test]
    fn malformed_tables_are_errors_not_panics() {
        assert!(Schema::parse("T a.B\n  x nosuch.Type\n").is_err());
        assert!(Schema::parse("  x string\n").is_err());
        assert!(Schema::parse("K - v1 Pod\n").is_err());
        assert!(Schema::parse("T a.B\n  x string listType=weird\n").is_err());
    }
}
