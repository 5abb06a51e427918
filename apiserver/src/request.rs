//! What a request carries besides its path: query parameters and a body in JSON or YAML.

use std::cell::Cell;
use std::collections::HashMap;

use axum::http::{HeaderMap, header};
use bytes::Bytes;
use kubesim_apimachinery::{ApiError, protobuf};
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// Request bodies over this size are refused with 413, as upstream's 3 MiB limit.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Query parameters. Unknown ones are ignored, as upstream ignores them.
#[derive(Debug, Default, Clone)]
pub struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        Query(
            form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A boolean the way Go's `strconv.ParseBool` reads one: `1`, `t`, `true`, `True`...
    pub fn flag(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(Some(true)),
            Some("" | "0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(Some(false)),
            Some(other) => Err(ApiError::bad_request(format!(
                "invalid boolean value for {key}: {other:?}"
            ))),
        }
    }

    /// A non-negative integer parameter.
    pub fn integer(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid value for {key}: {v:?}, must be an integer"
                ))
            }),
        }
    }

    /// `dryRun=All`: validate and answer, store nothing.
    pub fn dry_run(&self) -> Result<bool, ApiError> {
        match self.get("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "Invalid dry run value: {other:?}: supported values: \"All\""
            ))),
        }
    }
}

/// The media type of the body, without parameters.
pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// The body as a JSON value, from JSON, YAML or Kubernetes protobuf.
pub fn decode_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    decode_body_noting_duplicates(headers, body).map(|body| body.value)
}

/// A decoded body, and whether any object in it had a key twice (the value keeps the
/// last, as Go's decoder does); only a JSON body's duplicates are looked for.
pub struct Decoded {
    pub value: Value,
    pub duplicate_keys: bool,
}

/// [`decode_body`], noting duplicate keys on the way, for `fieldValidation`.
pub fn decode_body_noting_duplicates(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Decoded, ApiError> {
    let media = content_type(headers);
    if matches!(media.as_str(), "" | "application/json" | "*/*")
        && !body.iter().all(u8::is_ascii_whitespace)
    {
        let duplicates = Cell::new(false);
        let mut de = serde_json::Deserializer::from_slice(body);
        let value = NotingDuplicates(&duplicates)
            .deserialize(&mut de)
            .and_then(|value| de.end().map(|()| value))
            .map_err(|e| {
                ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
            })?;
        return Ok(Decoded {
            value,
            duplicate_keys: duplicates.get(),
        });
    }
    decode_other(&media, body).map(|value| Decoded {
        value,
        duplicate_keys: false,
    })
}

/// One JSON value, built as `serde_json` builds it, noting whether an object repeats a key.
struct NotingDuplicates<'a>(&'a Cell<bool>);

impl<'de> DeserializeSeed<'de> for NotingDuplicates<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NotingDuplicates<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(NotingDuplicates(self.0))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(NotingDuplicates(self.0))?;
            if object.insert(key, value).is_some() {
                self.0.set(true);
            }
        }
        Ok(Value::Object(object))
    }
}

/// A body that is not JSON (or is empty).
fn decode_other(media: &str, body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the body of the request was empty"));
    }
    match media {
        "application/yaml" | "application/x-yaml" | "text/yaml" => decode_yaml(body),
        // client-go's typed clients send built-in objects as protobuf.
        protobuf::MEDIA_TYPE => protobuf::decode(body)
            .map_err(|e| ApiError::bad_request(format!("unable to decode protobuf body: {e}"))),
        "" | "application/json" | "*/*" => serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        }),
        other => Err(ApiError::unsupported_media_type(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {other})"
        ))),
    }
}

/// YAML (which JSON is a subset of) into a JSON value.
pub fn decode_yaml(body: &[u8]) -> Result<Value, ApiError> {
    serde_yaml_ng::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))
}

/// Who made a request, for the audit trail: the `User-Agent`, as kubectl, controllers
/// and scripts each send their own.
pub fn user_agent(headers: &HeaderMap) -> std::sync::Arc<str> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown")
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn booleans_parse_as_go_does() {
        let q = Query::parse(Some("watch=1&a=True&b=false&c=yes&timeout=32s"));
        assert_eq!(q.flag("watch").ok(), Some(Some(true)));
        assert_eq!(q.flag("a").ok(), Some(Some(true)));
        assert_eq!(q.flag("b").ok(), Some(Some(false)));
        assert_eq!(q.flag("missing").ok(), Some(None));
        assert_eq!(q.flag("c").map_err(|e| e.code()), Err(400));
    }

    #[test]
    fn bodies_may_be_json_or_yaml() {
        let mut headers = HeaderMap::new();
        let json = decode_body(&headers, &Bytes::from_static(br#"{"kind":"Pod"}"#)).expect("json");
        assert_eq!(json["kind"], "Pod");
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/yaml"),
        );
        let yaml = decode_body(
            &headers,
            &Bytes::from_static(b"kind: Pod\nmetadata:\n  name: web\n"),
        )
        .expect("yaml");
        assert_eq!(yaml["metadata"]["name"], "web");
        assert_eq!(
            decode_body(&headers, &Bytes::from_static(b"  ")).map_err(|e| e.code()),
            Err(400)
        );
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert_eq!(
            decode_body(&headers, &Bytes::from_static(b"{")).map_err(|e| e.code()),
            Err(400)
        );
    }
}
