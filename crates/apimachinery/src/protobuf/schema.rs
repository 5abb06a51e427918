//! The message table: for each Kubernetes protobuf message, its fields by tag.
//!
//! Protobuf bytes carry tags and wire types only; names, kinds and the Go facts that
//! decide which empty values upstream's JSON keeps come from `schema.txt`, written by
//! `scripts/gen-protobuf-schema` (which documents the format) and parsed once, on the
//! first decode.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::DecodeError;

const TABLE: &str = include_str!("schema.txt");

/// A scalar field's protobuf type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scalar {
    String,
    Bool,
    Int32,
    Int64,
    Double,
    Bytes,
}

/// What a field holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    Scalar(Scalar),
    /// Index into [`Schema::messages`].
    Message(usize),
    /// A map is a repeated entry message with key at tag 1 and value at tag 2.
    Map(Scalar, Box<Kind>),
}

#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub json: String,
    pub kind: Kind,
    pub repeated: bool,
    /// The Go field is a pointer: a zero value on the wire was set on purpose.
    pub pointer: bool,
    /// The Go field has no `omitempty`: upstream's JSON always carries it.
    pub required: bool,
    /// The Go field is embedded with `json:",inline"`: its fields belong to the parent.
    pub inline: bool,
}

/// Messages whose JSON form is not an object of their fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Special {
    /// `meta/v1.Time`: RFC 3339, seconds precision.
    Time,
    /// `meta/v1.MicroTime`: RFC 3339 with six fractional digits.
    MicroTime,
    /// `meta/v1.Duration`: Go's `time.Duration.String()`.
    Duration,
    /// `resource.Quantity`: its string.
    Quantity,
    /// `intstr.IntOrString`: a number or a string.
    IntOrString,
    /// `runtime.RawExtension`, `meta/v1.FieldsV1`: embedded JSON bytes.
    RawJson,
    /// `meta/v1.Verbs`, `ExtraValue`: Go string slices wrapped in a message.
    StringList,
}

#[derive(Debug)]
pub(crate) struct Message {
    /// Fully qualified: `k8s.io.api.core.v1.Pod`.
    pub name: String,
    pub special: Option<Special>,
    pub fields: foldhash::HashMap<u32, Field>,
    /// The fields by JSON name, for walking an object already in JSON (one lookup per
    /// key, where a tag would need a second).
    pub by_json: foldhash::HashMap<String, Field>,
    /// Tags of the fields embedded with `json:",inline"`.
    pub inline: Vec<u32>,
}

#[derive(Debug)]
pub(crate) struct Schema {
    pub messages: Vec<Message>,
    by_name: foldhash::HashMap<String, usize>,
    /// Kinds arrive as upstream spells them; prost-era names may differ in case only.
    by_lower_name: HashMap<String, usize>,
}

impl Schema {
    /// The message named `name` (fully qualified), exact or ignoring ASCII case.
    pub(crate) fn find(&self, name: &str) -> Option<usize> {
        self.by_name
            .get(name)
            .or_else(|| self.by_lower_name.get(&name.to_ascii_lowercase()))
            .copied()
    }
}

/// The parsed table, or why the committed table is broken (a build defect, caught by tests).
pub(crate) fn schema() -> Result<&'static Schema, DecodeError> {
    static SCHEMA: OnceLock<Result<Schema, String>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| parse(TABLE))
        .as_ref()
        .map_err(|e| DecodeError::Schema(e.clone()))
}

fn special(name: &str) -> Option<Special> {
    Some(match name {
        "k8s.io.apimachinery.pkg.apis.meta.v1.Time" => Special::Time,
        "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime" => Special::MicroTime,
        "k8s.io.apimachinery.pkg.apis.meta.v1.Duration" => Special::Duration,
        "k8s.io.apimachinery.pkg.api.resource.Quantity" => Special::Quantity,
        "k8s.io.apimachinery.pkg.util.intstr.IntOrString" => Special::IntOrString,
        "k8s.io.apimachinery.pkg.runtime.RawExtension"
        | "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1" => Special::RawJson,
        "k8s.io.apimachinery.pkg.apis.meta.v1.Verbs"
        | "k8s.io.api.authentication.v1.ExtraValue"
        | "k8s.io.api.authorization.v1.ExtraValue" => Special::StringList,
        _ => return None,
    })
}

fn scalar(code: &str) -> Option<Scalar> {
    Some(match code {
        "s" => Scalar::String,
        "b" => Scalar::Bool,
        "i" => Scalar::Int32,
        "j" => Scalar::Int64,
        "d" => Scalar::Double,
        "y" => Scalar::Bytes,
        _ => return None,
    })
}

/// A field kind before message names are turned into indices.
enum RawKind<'a> {
    Scalar(Scalar),
    Message(&'a str),
    Map(Scalar, Box<RawKind<'a>>),
}

fn raw_kind(code: &str) -> Result<RawKind<'_>, String> {
    if let Some(inner) = code.strip_prefix('{').and_then(|c| c.strip_suffix('}')) {
        let (key, value) = inner
            .split_once(',')
            .ok_or_else(|| format!("bad map kind {code}"))?;
        let key = scalar(key).ok_or_else(|| format!("bad map key {code}"))?;
        return Ok(RawKind::Map(key, Box::new(raw_kind(value)?)));
    }
    Ok(scalar(code).map_or(RawKind::Message(code), RawKind::Scalar))
}

fn parse(table: &str) -> Result<Schema, String> {
    let mut aliases: HashMap<&str, &str> = HashMap::new();
    // (message name, [(tag, json, kind, flags)]) in table order.
    type RawField<'a> = (u32, &'a str, RawKind<'a>, &'a str);
    let mut raw: Vec<(String, Vec<RawField<'_>>)> = Vec::new();
    let full = |aliases: &HashMap<&str, &str>, short: &str| -> Result<String, String> {
        let (alias, name) = short
            .split_once('.')
            .ok_or_else(|| format!("bad message name {short}"))?;
        let package = aliases
            .get(alias)
            .ok_or_else(|| format!("unknown package alias {alias}"))?;
        Ok(format!("{package}.{name}"))
    };
    for (n, line) in table.lines().enumerate() {
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            [] | [""] => {}
            [first, ..] if first.starts_with('#') => {}
            ["P", alias, package] => {
                aliases.insert(alias, package);
            }
            ["M", name] => raw.push((full(&aliases, name)?, Vec::new())),
            [tag, json, kind, flags] => {
                let tag = tag
                    .parse()
                    .map_err(|_| format!("line {}: bad tag", n + 1))?;
                let message = raw
                    .last_mut()
                    .ok_or_else(|| format!("line {}: field before message", n + 1))?;
                message.1.push((tag, json, raw_kind(kind)?, flags));
            }
            _ => return Err(format!("line {}: unreadable", n + 1)),
        }
    }

    let by_name: foldhash::HashMap<String, usize> = raw
        .iter()
        .enumerate()
        .map(|(i, (name, _))| (name.clone(), i))
        .collect();
    let resolve = |kind: &RawKind<'_>| -> Result<Kind, String> {
        fn go(
            kind: &RawKind<'_>,
            lookup: &dyn Fn(&str) -> Result<usize, String>,
        ) -> Result<Kind, String> {
            Ok(match kind {
                RawKind::Scalar(s) => Kind::Scalar(*s),
                RawKind::Message(name) => Kind::Message(lookup(name)?),
                RawKind::Map(key, value) => Kind::Map(*key, Box::new(go(value, lookup)?)),
            })
        }
        let lookup = |short: &str| -> Result<usize, String> {
            let name = full(&aliases, short)?;
            by_name
                .get(&name)
                .copied()
                .ok_or_else(|| format!("message {name} referenced but not defined"))
        };
        go(kind, &lookup)
    };

    let mut messages = Vec::with_capacity(raw.len());
    for (name, raw_fields) in &raw {
        let mut fields =
            foldhash::HashMap::with_capacity_and_hasher(raw_fields.len(), Default::default());
        for (tag, json, kind, flags) in raw_fields {
            fields.insert(
                *tag,
                Field {
                    json: (*json).to_owned(),
                    kind: resolve(kind)?,
                    repeated: flags.contains('r'),
                    pointer: flags.contains('p'),
                    required: flags.contains('q'),
                    inline: flags.contains('i'),
                },
            );
        }
        let by_json = fields
            .values()
            .filter(|f| !f.inline)
            .map(|f| (f.json.clone(), f.clone()))
            .collect();
        let mut inline: Vec<u32> = fields
            .iter()
            .filter(|(_, f)| f.inline)
            .map(|(tag, _)| *tag)
            .collect();
        inline.sort_unstable();
        messages.push(Message {
            name: name.clone(),
            special: special(name),
            fields,
            by_json,
            inline,
        });
    }
    let by_lower_name = by_name
        .iter()
        .map(|(name, &i)| (name.to_ascii_lowercase(), i))
        .collect();
    Ok(Schema {
        messages,
        by_name,
        by_lower_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_table_parses_and_knows_the_special_types() {
        let schema = match schema() {
            Ok(s) => s,
            Err(e) => panic!("schema.txt does not parse: {e}"),
        };
        assert!(schema.messages.len() > 400);
        for (name, special) in [
            ("k8s.io.apimachinery.pkg.apis.meta.v1.Time", Special::Time),
            (
                "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime",
                Special::MicroTime,
            ),
            (
                "k8s.io.apimachinery.pkg.api.resource.Quantity",
                Special::Quantity,
            ),
            (
                "k8s.io.apimachinery.pkg.util.intstr.IntOrString",
                Special::IntOrString,
            ),
            (
                "k8s.io.apimachinery.pkg.runtime.RawExtension",
                Special::RawJson,
            ),
            (
                "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1",
                Special::RawJson,
            ),
        ] {
            let index = schema
                .find(name)
                .unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(schema.messages[index].special, Some(special), "{name}");
        }
        // Upstream spelling of a name prost changed.
        assert!(schema.find("k8s.io.api.storage.v1.CSIDriver").is_some());
        assert!(
            schema
                .find("k8s.io.api.core.v1.AWSElasticBlockStoreVolumeSource")
                .is_some()
        );
    }
}
