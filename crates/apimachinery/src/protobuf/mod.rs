//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`) as JSON.
//!
//! client-go's typed clients send built-in objects as protobuf (kubectl create, expose,
//! drain, Helm's release Secrets). The body is the magic `k8s\0` followed by a
//! `runtime.Unknown` message: `typeMeta` (1: `apiVersion` 1, `kind` 2), `raw` (2: the
//! object's own message, without type fields), `contentEncoding` (3), `contentType` (4).
//! The object's message is proto2 written from the Go struct (see [`convert`] for which
//! fields that puts on the wire and which of them upstream's JSON keeps).
//!
//! [`decode`] turns such a body into the JSON object upstream would have written for the
//! same object, with `apiVersion` and `kind` from the envelope, so the server can store and
//! serve it exactly as if the client had sent JSON. Field names and kinds come from the
//! generated table in `schema.txt` (`scripts/gen-protobuf-schema`).

mod convert;
pub(crate) mod schema;
mod wire;

use serde_json::Value;

/// The media type of Kubernetes' protobuf encoding.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The four bytes before every enveloped object.
const MAGIC: &[u8] = b"k8s\0";

/// Kinds of `meta.k8s.io/v1` that every group version also serves (`metav1.AddToGroupVersion`),
/// so a `DeleteOptions` body may say `apps/v1` or `policy/v1`.
const META_KINDS: &[&str] = &[
    "DeleteOptions",
    "CreateOptions",
    "UpdateOptions",
    "PatchOptions",
    "GetOptions",
    "ListOptions",
    "Status",
    "WatchEvent",
];

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not a Kubernetes protobuf object: the body does not start with \"k8s\\0\"")]
    MissingMagic,
    #[error("protobuf body is truncated")]
    Truncated,
    #[error("malformed protobuf: {0}")]
    Malformed(&'static str),
    #[error("malformed protobuf in {message} field {field:?}: {reason}")]
    Invalid {
        message: String,
        field: String,
        reason: &'static str,
    },
    #[error("no protobuf message is known for kind {kind:?} in {api_version:?}")]
    UnknownKind { api_version: String, kind: String },
    #[error("unsupported protobuf content encoding {0:?}")]
    UnsupportedEncoding(String),
    #[error("the built-in protobuf schema table is broken: {0}")]
    Schema(String),
}

/// Decode an enveloped Kubernetes protobuf object into its JSON form, with `apiVersion` and
/// `kind` from the envelope.
pub fn decode(bytes: &[u8]) -> Result<Value, DecodeError> {
    decode_nested(bytes, 0)
}

/// [`decode`] at nesting `depth`: a `RawExtension` may hold another enveloped object.
fn decode_nested(bytes: &[u8], depth: usize) -> Result<Value, DecodeError> {
    let body = bytes.strip_prefix(MAGIC).ok_or(DecodeError::MissingMagic)?;
    let envelope = Envelope::parse(body)?;
    if !envelope.content_encoding.is_empty() {
        return Err(DecodeError::UnsupportedEncoding(envelope.content_encoding));
    }
    let schema = schema::schema()?;
    let unknown = || DecodeError::UnknownKind {
        api_version: envelope.api_version.clone(),
        kind: envelope.kind.clone(),
    };
    let index = message_for(schema, &envelope.api_version, &envelope.kind).ok_or_else(unknown)?;
    let Value::Object(mut object) = convert::message(schema, index, envelope.raw, depth)? else {
        // Time, Quantity and the like are never top-level objects.
        return Err(unknown());
    };
    if !envelope.kind.is_empty() {
        object.insert("kind".to_owned(), Value::String(envelope.kind));
    }
    if !envelope.api_version.is_empty() {
        object.insert("apiVersion".to_owned(), Value::String(envelope.api_version));
    }
    Ok(Value::Object(object))
}

/// The message for a kind: `apps/v1` `Deployment` is `k8s.io.api.apps.v1.Deployment`.
pub(crate) fn message_for(schema: &schema::Schema, api_version: &str, kind: &str) -> Option<usize> {
    if kind.is_empty() || kind.contains('.') {
        return None;
    }
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let meta = || schema.find(&format!("k8s.io.apimachinery.pkg.apis.meta.v1.{kind}"));
    if group == "meta.k8s.io" {
        return meta();
    }
    // Group `rbac.authorization.k8s.io` lives in package `k8s.io.api.rbac.<version>`;
    // the core group `""` in `k8s.io.api.core.<version>`.
    let package = match group
        .strip_suffix(".k8s.io")
        .unwrap_or(group)
        .split('.')
        .next()
    {
        Some("") | None => "core",
        Some(first) => first,
    };
    let found = if version.is_empty() || version.contains('.') {
        None
    } else {
        schema.find(&format!("k8s.io.api.{package}.{version}.{kind}"))
    };
    found.or_else(|| {
        if META_KINDS.contains(&kind) {
            meta()
        } else {
            None
        }
    })
}

/// The fields of `runtime.Unknown` that matter here.
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
}

impl<'a> Envelope<'a> {
    fn parse(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut envelope = Envelope {
            api_version: String::new(),
            kind: String::new(),
            raw: &[],
            content_encoding: String::new(),
        };
        let text = |value: wire::Value<'_>| match value {
            wire::Value::Bytes(b) => Ok(String::from_utf8_lossy(b).into_owned()),
            _ => Err(DecodeError::Malformed(
                "envelope field is not length-delimited",
            )),
        };
        let mut reader = wire::Reader::new(body);
        while let Some((tag, value)) = reader.field()? {
            match tag {
                1 => {
                    let wire::Value::Bytes(type_meta) = value else {
                        return Err(DecodeError::Malformed("envelope typeMeta is not a message"));
                    };
                    let mut inner = wire::Reader::new(type_meta);
                    while let Some((tag, value)) = inner.field()? {
                        match tag {
                            1 => envelope.api_version = text(value)?,
                            2 => envelope.kind = text(value)?,
                            _ => {}
                        }
                    }
                }
                2 => {
                    let wire::Value::Bytes(raw) = value else {
                        return Err(DecodeError::Malformed("envelope raw is not bytes"));
                    };
                    envelope.raw = raw;
                }
                3 => envelope.content_encoding = text(value)?,
                _ => {}
            }
        }
        Ok(envelope)
    }
}

#[cfg(test)]
mod tests;
