//! `fieldValidation` on create, update and patch: what becomes of fields the kind does
//! not have (`unknown field "spec.replica"`) and of fields given twice
//! (`duplicate field "spec.replicas"`), as upstream's strict decoding reports them.
//!
//! - `Strict`: the request fails, `400 BadRequest`, with every problem in one message:
//!   `Deployment in version "v1" cannot be handled as a Deployment: strict decoding error:
//!   unknown field "spec.replica", unknown field "spec.foo"` (a patch's message has no
//!   `... cannot be handled as ...` prefix, as upstream's patch handler words it).
//! - `Warn` (the default): the request succeeds, unknown fields are dropped, the last of
//!   duplicate fields wins, and each problem comes back as a `Warning: 299 - "..."` header,
//!   which kubectl prints as `Warning: unknown field "spec.foo"`.
//! - `Ignore`: nothing is checked.
//!
//! Unknown fields are what the kind's typed decode drops
//! ([`strategy::dropped_fields`](crate::strategy::dropped_fields)); duplicates are found in
//! the raw JSON body (a YAML body's are not). Problems are listed in the order they appear
//! in the body, as Go's decoder meets them.

use std::collections::{HashMap, HashSet};
use std::fmt;

use axum::http::HeaderValue;
use axum::response::Response;
use kubesim_apimachinery::status::GroupResourceKind;
use kubesim_apimachinery::{ApiError, FieldError, ResourceInfo};
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::request::{Decoded, Query, content_type};
use crate::strategy;

/// The `fieldValidation` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directive {
    Ignore,
    Warn,
    Strict,
}

/// Which write the parameter came with, to name its options type in errors.
#[derive(Debug, Clone, Copy)]
pub enum Verb {
    Create,
    Update,
    Patch,
}

impl Directive {
    /// The request's directive; unset or empty is `Warn`, upstream's default since 1.23.
    pub fn from_query(query: &Query, verb: Verb) -> Result<Self, ApiError> {
        match query.get("fieldValidation") {
            None | Some("") | Some("Warn") => Ok(Directive::Warn),
            Some("Ignore") => Ok(Directive::Ignore),
            Some("Strict") => Ok(Directive::Strict),
            Some(other) => {
                // Upstream validates the options object: `CreateOptions.meta.k8s.io "" is invalid: ...`.
                let options = match verb {
                    Verb::Create => &CREATE_OPTIONS,
                    Verb::Update => &UPDATE_OPTIONS,
                    Verb::Patch => &PATCH_OPTIONS,
                };
                Err(ApiError::invalid(
                    options,
                    "",
                    &[FieldError::not_supported(
                        "fieldValidation",
                        other,
                        &["", "Ignore", "Strict", "Warn"],
                    )],
                ))
            }
        }
    }
}

// The options objects `fieldValidation` belongs to (a 422 names only their group and kind).
const CREATE_OPTIONS: GroupResourceKind =
    GroupResourceKind::new("meta.k8s.io", "CreateOptions", "CreateOptions");
const UPDATE_OPTIONS: GroupResourceKind =
    GroupResourceKind::new("meta.k8s.io", "UpdateOptions", "UpdateOptions");
const PATCH_OPTIONS: GroupResourceKind =
    GroupResourceKind::new("meta.k8s.io", "PatchOptions", "PatchOptions");

/// Checks the body of a create or update request (`obj`, as decoded from it).
pub fn check_request(
    req: &crate::handlers::Request,
    verb: Verb,
    body: &Decoded,
) -> Result<Vec<String>, ApiError> {
    let directive = Directive::from_query(&req.query, verb)?;
    let raw = matches!(
        content_type(&req.headers).as_str(),
        "" | "application/json" | "*/*"
    )
    .then_some(req.body.as_ref());
    let problems = problems(
        directive,
        req.info(),
        raw,
        &body.value,
        Some(body.duplicate_keys),
    );
    conclude_body(directive, req.info(), problems)
}

/// Checks a create or update body: `obj` as decoded, `raw` the JSON it was decoded from
/// (`None` for YAML or protobuf). Returns the warnings to send, or the `Strict` error.
pub fn check_body(
    directive: Directive,
    info: &ResourceInfo,
    raw: Option<&[u8]>,
    obj: &Value,
) -> Result<Vec<String>, ApiError> {
    let problems = problems(directive, info, raw, obj, None);
    conclude_body(directive, info, problems)
}

fn conclude_body(
    directive: Directive,
    info: &ResourceInfo,
    problems: Vec<String>,
) -> Result<Vec<String>, ApiError> {
    conclude(directive, problems, |joined| {
        format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {joined}",
            kind = info.kind,
            version = info.version
        )
    })
}

/// Checks the object a patch produced; `patch` (the patch body as JSON) orders the findings.
pub fn check_patched(
    directive: Directive,
    info: &ResourceInfo,
    patch: Option<&[u8]>,
    patched: &Value,
) -> Result<Vec<String>, ApiError> {
    if directive == Directive::Ignore {
        return Ok(Vec::new());
    }
    // Fields of the patched object the live object had are all known; duplicates in the
    // patch body are not looked for (the patched object has none).
    let mut unknown = strategy::dropped_fields(&info.group, &info.version, &info.kind, patched);
    if let Some(order) = patch.and_then(|p| scan(p, true).ok()).map(|s| s.order) {
        unknown.sort_by_key(|path| order.get(path).copied().unwrap_or(usize::MAX));
    }
    let problems = unknown
        .into_iter()
        .map(|p| Problem::Unknown(p).to_string())
        .collect();
    conclude(directive, problems, |joined| joined.to_string())
}

fn conclude(
    directive: Directive,
    problems: Vec<String>,
    message: impl FnOnce(&str) -> String,
) -> Result<Vec<String>, ApiError> {
    match directive {
        _ if problems.is_empty() => Ok(Vec::new()),
        Directive::Strict => {
            let joined = format!("strict decoding error: {}", problems.join(", "));
            Err(ApiError::bad_request(message(&joined)))
        }
        Directive::Warn => Ok(problems),
        Directive::Ignore => Ok(Vec::new()),
    }
}

/// A strict-decoding problem, worded as upstream's decoder words it.
enum Problem {
    Unknown(String),
    Duplicate(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Unknown(path) => write!(f, "unknown field {}", go_quote(path)),
            Problem::Duplicate(path) => write!(f, "duplicate field {}", go_quote(path)),
        }
    }
}

/// The problems of a body, in body order. `duplicates` says whether the body has
/// duplicate keys, when the caller found out already.
fn problems(
    directive: Directive,
    info: &ResourceInfo,
    raw: Option<&[u8]>,
    obj: &Value,
    duplicates: Option<bool>,
) -> Vec<String> {
    if directive == Directive::Ignore {
        return Vec::new();
    }
    let unknown = strategy::dropped_fields(&info.group, &info.version, &info.kind, obj);
    let Some(raw) = raw else {
        return unknown
            .into_iter()
            .map(|p| Problem::Unknown(p).to_string())
            .collect();
    };
    // The common body has nothing to report: find that out without building paths.
    if unknown.is_empty() && !duplicates.unwrap_or_else(|| has_duplicate_keys(raw)) {
        return Vec::new();
    }
    // Positions are needed only to order unknown fields among the rest.
    let Ok(scan) = scan(raw, !unknown.is_empty()) else {
        return unknown
            .into_iter()
            .map(|p| Problem::Unknown(p).to_string())
            .collect();
    };
    let mut found: Vec<(usize, Problem)> = scan
        .duplicates
        .into_iter()
        .map(|(at, p)| (at, Problem::Duplicate(p)))
        .collect();
    found.extend(unknown.into_iter().map(|p| {
        (
            scan.order.get(&p).copied().unwrap_or(usize::MAX),
            Problem::Unknown(p),
        )
    }));
    found.sort_by_key(|(at, _)| *at);
    found.into_iter().map(|(_, p)| p.to_string()).collect()
}

/// Go's `%q` of a field path (quotes and backslashes escaped).
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The response with a `Warning: 299 - "<text>"` header per warning (RFC 7234, as
/// upstream's `warning.AddWarning` sends them).
pub fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for warning in warnings {
        if let Ok(value) = HeaderValue::from_str(&format!("299 - {}", go_quote(warning))) {
            response.headers_mut().append("Warning", value);
        }
    }
    response
}

/// Whether any object in a JSON body has a key twice (`false` for what does not parse).
fn has_duplicate_keys(raw: &[u8]) -> bool {
    let mut de = serde_json::Deserializer::from_slice(raw);
    DuplicateKeys.deserialize(&mut de).unwrap_or(false)
}

/// One JSON value, visited for duplicate keys only: keys are borrowed from the body where
/// they can be, and compared pairwise (objects in bodies are small).
struct DuplicateKeys;

impl<'de> DeserializeSeed<'de> for DuplicateKeys {
    type Value = bool;
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DuplicateKeys {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(inner) = seq.next_element_seed(DuplicateKeys)? {
            found |= inner;
        }
        Ok(found)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        // Pairwise for small objects; a set once an object is big.
        let mut few: Vec<std::borrow::Cow<'de, str>> = Vec::new();
        let mut many: HashSet<std::borrow::Cow<'de, str>> = HashSet::new();
        let mut found = false;
        while let Some(CowKey(key)) = map.next_key::<CowKey<'de>>()? {
            if few.len() < 32 {
                found |= few.contains(&key);
                few.push(key);
            } else {
                if many.is_empty() {
                    many.extend(few.iter().cloned());
                }
                found |= !many.insert(key);
            }
            found |= map.next_value_seed(DuplicateKeys)?;
        }
        Ok(found)
    }
}

/// A map key, borrowed from the body unless it has escapes.
struct CowKey<'de>(std::borrow::Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for CowKey<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = CowKey<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<CowKey<'de>, E> {
                Ok(CowKey(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<CowKey<'de>, E> {
                Ok(CowKey(std::borrow::Cow::Owned(v.to_string())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// What a pass over a JSON body found: duplicate keys (position, path), and with
/// `record_order` the position of every key path.
#[derive(Default)]
struct Scan {
    next: usize,
    record_order: bool,
    order: HashMap<String, usize>,
    duplicates: Vec<(usize, String)>,
}

fn scan(raw: &[u8], record_order: bool) -> Result<Scan, serde_json::Error> {
    let mut scan = Scan {
        record_order,
        ..Scan::default()
    };
    let mut de = serde_json::Deserializer::from_slice(raw);
    Node {
        scan: &mut scan,
        path: String::new(),
    }
    .deserialize(&mut de)?;
    Ok(scan)
}

/// One JSON value at `path`, visited without being kept.
struct Node<'a> {
    scan: &'a mut Scan,
    path: String,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let scan = self.scan;
        let mut index = 0;
        while seq
            .next_element_seed(Node {
                scan: &mut *scan,
                path: format!("{}[{index}]", self.path),
            })?
            .is_some()
        {
            index += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let scan = self.scan;
        let mut keys: HashSet<String> = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            let at = scan.next;
            scan.next += 1;
            if !keys.insert(key) {
                scan.duplicates.push((at, path.clone()));
            } else if scan.record_order {
                scan.order.entry(path.clone()).or_insert(at);
            }
            map.next_value_seed(Node {
                scan: &mut *scan,
                path,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubesim_apimachinery::registry::builtins;
    use serde_json::json;

    fn deployments() -> ResourceInfo {
        builtins()
            .into_iter()
            .find(|r| r.plural == "deployments")
            .expect("deployments")
    }

    #[test]
    fn strict_lists_every_problem_in_body_order() {
        let raw = br#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":1,"replica":3,"replicas":2,"selector":{},"foo":1,"template":{}}}"#;
        let obj: Value = serde_json::from_slice(raw).expect("json");
        let err =
            check_body(Directive::Strict, &deployments(), Some(raw), &obj).expect_err("strict");
        assert_eq!(err.code(), 400);
        assert_eq!(
            err.to_json()["message"],
            "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.replica\", duplicate field \"spec.replicas\", unknown field \"spec.foo\""
        );
    }

    #[test]
    fn warn_returns_warnings_and_ignore_nothing() {
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replica": 3}});
        assert_eq!(
            check_body(Directive::Warn, &deployments(), None, &obj).ok(),
            Some(vec!["unknown field \"spec.replica\"".to_string()])
        );
        assert_eq!(
            check_body(Directive::Ignore, &deployments(), None, &obj).ok(),
            Some(vec![])
        );
        let clean = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 3}});
        assert_eq!(
            check_body(Directive::Strict, &deployments(), None, &clean).ok(),
            Some(vec![])
        );
    }

    #[test]
    fn patches_fail_without_the_decode_prefix() {
        let patched = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replica": 3}});
        let err = check_patched(
            Directive::Strict,
            &deployments(),
            Some(br#"{"spec":{"replica":3}}"#),
            &patched,
        )
        .expect_err("strict");
        assert_eq!(
            err.to_json()["message"],
            "strict decoding error: unknown field \"spec.replica\""
        );
    }

    #[test]
    fn directives_parse_as_upstream() {
        assert_eq!(
            Directive::from_query(&Query::parse(None), Verb::Create).ok(),
            Some(Directive::Warn)
        );
        assert_eq!(
            Directive::from_query(&Query::parse(Some("fieldValidation=Strict")), Verb::Create).ok(),
            Some(Directive::Strict)
        );
        let err =
            Directive::from_query(&Query::parse(Some("fieldValidation=strict")), Verb::Create)
                .expect_err("invalid");
        assert_eq!(err.code(), 422);
    }

    #[test]
    fn warning_headers_quote_like_go() {
        assert_eq!(
            go_quote("unknown field \"spec.foo\""),
            "\"unknown field \\\"spec.foo\\\"\""
        );
    }
}
