//! Sets of field paths, and their `FieldsV1` JSON form in `metadata.managedFields`.
//!
//! A path steps through an object by field name (`f:spec`), by the keys of an item of a
//! keyed list (`k:{"name":"web"}`), by the value of an item of a set-like list
//! (`v:"example.com/f"`), or by index (`i:0`). A set is a tree: a node may be a member
//! itself (written `".": {}` when it also has children, `{}` when it has none).
//!
//! ```text
//! {"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:replicas":{}}}
//!   = { .metadata.labels, .metadata.labels.app, .spec.replicas }
//! ```

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A field of an object: `f:name`.
    Field(String),
    /// An item of a keyed list, by its keys as canonical JSON: `k:{"name":"web"}`.
    Key(String),
    /// An item of a set-like list, by its value as JSON: `v:"a"`.
    Value(String),
    /// An item of a list by position: `i:0`.
    Index(usize),
}

impl PathElement {
    fn encode(&self) -> String {
        let (prefix, rest) = match self {
            PathElement::Field(name) => ("f:", name.as_str()),
            PathElement::Key(keys) => ("k:", keys.as_str()),
            PathElement::Value(value) => ("v:", value.as_str()),
            PathElement::Index(i) => return format!("i:{i}"),
        };
        let mut out = String::with_capacity(prefix.len() + rest.len());
        out.push_str(prefix);
        out.push_str(rest);
        out
    }

    /// [`Self::encode`] as a JSON string; without a copy when nothing needs escaping.
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let (prefix, rest) = match self {
            PathElement::Field(name) => ("f:", name.as_str()),
            PathElement::Key(keys) => ("k:", keys.as_str()),
            PathElement::Value(value) => ("v:", value.as_str()),
            PathElement::Index(_) => return serde_json::to_writer(out, &self.encode()),
        };
        if rest.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
            return serde_json::to_writer(out, &self.encode());
        }
        out.push(b'"');
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(rest.as_bytes());
        out.push(b'"');
        Ok(())
    }

    fn decode(text: &str) -> Option<Self> {
        let (prefix, rest) = text.split_at_checked(2)?;
        Some(match prefix {
            "f:" => PathElement::Field(rest.to_string()),
            "k:" => PathElement::Key(rest.to_string()),
            "v:" => PathElement::Value(rest.to_string()),
            "i:" => PathElement::Index(rest.parse().ok()?),
            _ => return None,
        })
    }

    /// `.spec.containers[name="web"].image`, as upstream prints paths in conflicts.
    fn display(&self) -> String {
        match self {
            PathElement::Field(name) => format!(".{name}"),
            PathElement::Key(keys) => {
                let parsed: Map<String, Value> = serde_json::from_str(keys).unwrap_or_default();
                let parts: Vec<String> = parsed.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("[{}]", parts.join(","))
            }
            PathElement::Value(value) => format!("[={value}]"),
            PathElement::Index(i) => format!("[{i}]"),
        }
    }
}

/// A path from the object's root.
pub type Path = Vec<PathElement>;

/// `.spec.replicas`.
pub fn display_path(path: &[PathElement]) -> String {
    path.iter().map(PathElement::display).collect()
}

/// A set of paths, as a tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    /// Whether the path leading here is itself in the set.
    pub member: bool,
    pub children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    /// Add a path.
    pub fn insert(&mut self, path: &[PathElement]) {
        match path.split_first() {
            None => self.member = true,
            Some((first, rest)) => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub fn contains(&self, path: &[PathElement]) -> bool {
        match path.split_first() {
            None => self.member,
            Some((first, rest)) => self.children.get(first).is_some_and(|c| c.contains(rest)),
        }
    }

    /// Every path in the set, depth first.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        if self.member {
            out.push(prefix.clone());
        }
        for (element, child) in &self.children {
            prefix.push(element.clone());
            child.collect(prefix, out);
            prefix.pop();
        }
    }

    /// Paths in both.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        for (element, child) in &self.children {
            if let Some(theirs) = other.children.get(element) {
                let both = child.intersection(theirs);
                if !both.is_empty() {
                    out.children.insert(element.clone(), both);
                }
            }
        }
        out
    }

    /// Paths in `self` but not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && !other.member,
            children: BTreeMap::new(),
        };
        for (element, child) in &self.children {
            let rest = match other.children.get(element) {
                Some(theirs) => child.difference(theirs),
                None => child.clone(),
            };
            if !rest.is_empty() {
                out.children.insert(element.clone(), rest);
            }
        }
        out
    }

    /// Paths in either.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.member |= other.member;
        for (element, child) in &other.children {
            let merged = match out.children.get(element) {
                Some(mine) => mine.union(child),
                None => child.clone(),
            };
            out.children.insert(element.clone(), merged);
        }
        out
    }

    /// The `FieldsV1` JSON.
    pub fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        if self.member && !self.children.is_empty() {
            map.insert(".".into(), Value::Object(Map::new()));
        }
        for (element, child) in &self.children {
            if !child.is_empty() {
                map.insert(element.encode(), child.to_fields_v1());
            }
        }
        Value::Object(map)
    }

    /// The `FieldsV1` JSON as text, byte for byte what serializing [`Self::to_fields_v1`]
    /// writes (keys in the JSON map's order), without building the JSON tree.
    pub fn write_fields_v1(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        out.push(b'{');
        let mut first = true;
        if self.member && !self.children.is_empty() {
            out.extend_from_slice(br#"".":{}"#);
            first = false;
        }
        let children = self.children.iter().filter(|(_, child)| !child.is_empty());
        let mut separate = |out: &mut Vec<u8>| {
            if !std::mem::take(&mut first) {
                out.push(b',');
            }
        };
        // The tree orders fields, keys and values as their texts (`f:` < `k:` < `v:`),
        // but `i:10` before `i:9` and after every `v:`; the JSON map orders by text.
        let by_index = self
            .children
            .keys()
            .any(|element| matches!(element, PathElement::Index(_)));
        if by_index {
            let mut sorted: Vec<(String, &FieldSet)> =
                children.map(|(e, child)| (e.encode(), child)).collect();
            sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            for (text, child) in sorted {
                separate(out);
                serde_json::to_writer(&mut *out, &text)?;
                out.push(b':');
                child.write_fields_v1(out)?;
            }
        } else {
            for (element, child) in children {
                separate(out);
                element.write_json(out)?;
                out.push(b':');
                child.write_fields_v1(out)?;
            }
        }
        out.push(b'}');
        Ok(())
    }

    /// From `FieldsV1` JSON; `None` if it is not one.
    pub fn from_fields_v1(value: &Value) -> Option<FieldSet> {
        let map = value.as_object()?;
        let mut set = FieldSet {
            member: map.is_empty(),
            children: BTreeMap::new(),
        };
        for (key, child) in map {
            if key == "." {
                set.member = true;
                continue;
            }
            let element = PathElement::decode(key)?;
            let mut child_set = FieldSet::from_fields_v1(child)?;
            // `{}` is a leaf: the path is a member.
            if child.as_object().is_some_and(Map::is_empty) {
                child_set.member = true;
            }
            set.children.insert(element, child_set);
        }
        // The root of a set is never itself a member.
        Some(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(name: &str) -> PathElement {
        PathElement::Field(name.into())
    }

    #[test]
    fn fields_v1_round_trips() {
        let mut set = FieldSet::default();
        set.insert(&[f("metadata"), f("labels")]);
        set.insert(&[f("metadata"), f("labels"), f("app")]);
        set.insert(&[
            f("spec"),
            f("containers"),
            PathElement::Key(r#"{"name":"web"}"#.into()),
        ]);
        set.insert(&[
            f("spec"),
            f("containers"),
            PathElement::Key(r#"{"name":"web"}"#.into()),
            f("image"),
        ]);
        let json = set.to_fields_v1();
        assert_eq!(
            json,
            json!({
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}}}},
            })
        );
        let mut back = FieldSet::from_fields_v1(&json).expect("parse");
        back.member = false;
        assert_eq!(back, set);
    }

    #[test]
    fn fields_v1_text_is_what_the_json_tree_serializes_to() {
        let mut set = FieldSet::default();
        // Ordered differently as elements than as text: indexes past 9, keys with
        // characters JSON escapes, every kind of element under one node.
        for i in [2, 10, 9, 100] {
            set.insert(&[f("spec"), f("ports"), PathElement::Index(i)]);
        }
        set.insert(&[f("spec"), f("ports"), PathElement::Index(10), f("port")]);
        set.insert(&[f("spec"), f("list"), PathElement::Value(r#""a\"b""#.into())]);
        set.insert(&[
            f("spec"),
            f("list"),
            PathElement::Key(r#"{"name":"x\ty"}"#.into()),
        ]);
        set.insert(&[f("spec"), f("list"), f("z")]);
        set.insert(&[f("spec"), f("list")]);
        set.insert(&[f("metadata"), f("labels"), f("app.kubernetes.io/name")]);
        set.insert(&[f("data"), f("é-ключ")]);
        let mut text = Vec::new();
        set.write_fields_v1(&mut text).expect("write");
        let tree = serde_json::to_vec(&set.to_fields_v1()).expect("serialize");
        assert_eq!(
            String::from_utf8_lossy(&text),
            String::from_utf8_lossy(&tree)
        );
        let mut empty = Vec::new();
        FieldSet::default()
            .write_fields_v1(&mut empty)
            .expect("write");
        assert_eq!(empty, b"{}");
    }

    #[test]
    fn set_algebra() {
        let mut a = FieldSet::default();
        a.insert(&[f("spec"), f("replicas")]);
        a.insert(&[f("spec"), f("paused")]);
        let mut b = FieldSet::default();
        b.insert(&[f("spec"), f("replicas")]);
        assert_eq!(
            a.intersection(&b).paths(),
            vec![vec![f("spec"), f("replicas")]]
        );
        assert_eq!(a.difference(&b).paths(), vec![vec![f("spec"), f("paused")]]);
        assert_eq!(b.union(&a), a);
        assert!(b.difference(&a).is_empty());
    }

    #[test]
    fn paths_print_as_upstream() {
        let path = vec![
            f("spec"),
            f("containers"),
            PathElement::Key(r#"{"name":"web"}"#.into()),
            f("image"),
        ];
        assert_eq!(display_path(&path), r#".spec.containers[name="web"].image"#);
    }
}
