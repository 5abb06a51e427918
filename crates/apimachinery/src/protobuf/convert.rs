//! One message's protobuf bytes to the JSON upstream's `encoding/json` would write.
//!
//! # Which fields appear
//!
//! Upstream's Go protobuf writer puts every non-pointer scalar and struct on the wire, even
//! when empty, and a pointer only when set; Go's JSON writer then drops empty values of
//! `omitempty` fields, keeps zero values behind pointers, and never drops a struct. So:
//!
//! 1. A field absent from the wire is absent from the JSON.
//! 2. A scalar (string, number, bool, bytes) is written when non-zero; a zero one only when
//!    the Go field is a pointer (`replicas: 0`, `gracePeriodSeconds: 0`, `optional: false`
//!    were set on purpose) or has no `omitempty` (`port`, container `name`).
//! 3. Repeated fields and maps are written when they have an element.
//! 4. An embedded message is written whenever it is on the wire, `{}` included, as Go does
//!    (`"status": {}`, `"resources": {}`), except a zero `Time`/`MicroTime` (Go writes
//!    `null`, or nothing under `omitzero`): omitted, which every reader takes the same way.
//! 5. A field embedded with `json:",inline"` (`Volume.VolumeSource`, `Probe.ProbeHandler`)
//!    has its fields merged into the parent object.
//!
//! A field repeated on the wire where one is expected keeps the last value, as proto does.
//! Unknown tags are skipped, as upstream's decoder skips them.

use serde_json::{Map, Number, Value};

use super::DecodeError;
use super::schema::{Field, Kind, Scalar, Schema, Special};
use super::wire::{self, Reader};

/// Deeper nesting than any real object has: guards the stack against hostile input.
const MAX_DEPTH: usize = 64;

/// Decode message `index` from `bytes`. `Value::Null` means "omit" (a zero time).
pub(crate) fn message(
    schema: &Schema,
    index: usize,
    bytes: &[u8],
    depth: usize,
) -> Result<Value, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::Malformed("messages nested too deeply"));
    }
    let message = schema
        .messages
        .get(index)
        .ok_or(DecodeError::Malformed("bad schema index"))?;
    if let Some(special) = message.special {
        return self::special(special, &message.name, bytes, depth);
    }
    let mut out = Map::new();
    let mut reader = Reader::new(bytes);
    while let Some((tag, value)) = reader.field()? {
        let Some(field) = message.fields.get(&tag) else {
            continue;
        };
        let at = |reason| DecodeError::Invalid {
            message: message.name.clone(),
            field: field.json.clone(),
            reason,
        };
        match &field.kind {
            Kind::Map(key_kind, value_kind) => {
                let wire::Value::Bytes(entry) = value else {
                    return Err(at("map entry is not length-delimited"));
                };
                let (key, value) = map_entry(schema, *key_kind, value_kind, entry, depth).map_err(
                    |e| match e {
                        DecodeError::Malformed(reason) => at(reason),
                        other => other,
                    },
                )?;
                let map = out
                    .entry(field.json.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let (Value::Object(map), Some(value)) = (map, value) {
                    map.insert(key, value);
                }
            }
            Kind::Message(inner) => {
                let wire::Value::Bytes(bytes) = value else {
                    return Err(at("message is not length-delimited"));
                };
                let decoded = self::message(schema, *inner, bytes, depth + 1)?;
                if field.repeated {
                    push(&mut out, &field.json, decoded);
                } else if field.inline {
                    if let Value::Object(fields) = decoded {
                        out.extend(fields);
                    }
                } else if decoded.is_null() {
                    out.remove(&field.json);
                } else {
                    out.insert(field.json.clone(), decoded);
                }
            }
            Kind::Scalar(kind) if field.repeated => {
                // proto2 writes repeated numbers unpacked, but a packed run is legal too.
                match (kind, value) {
                    (
                        Scalar::Bool | Scalar::Int32 | Scalar::Int64 | Scalar::Double,
                        wire::Value::Bytes(packed),
                    ) => {
                        let mut run = Reader::new(packed);
                        while !run.is_empty() {
                            let item = match kind {
                                Scalar::Double => wire::Value::Fixed64(run.fixed64()?),
                                _ => wire::Value::Varint(run.varint()?),
                            };
                            push(&mut out, &field.json, scalar(*kind, item).map_err(at)?);
                        }
                    }
                    _ => push(&mut out, &field.json, scalar(*kind, value).map_err(at)?),
                }
            }
            Kind::Scalar(kind) => {
                let decoded = scalar(*kind, value).map_err(at)?;
                if is_zero(&decoded) && !keeps_zero(field) {
                    out.remove(&field.json);
                } else {
                    out.insert(field.json.clone(), decoded);
                }
            }
        }
    }
    Ok(Value::Object(out))
}

fn keeps_zero(field: &Field) -> bool {
    field.pointer || field.required
}

fn push(out: &mut Map<String, Value>, key: &str, value: Value) {
    if let Value::Array(items) = out
        .entry(key.to_owned())
        .or_insert_with(|| Value::Array(Vec::new()))
    {
        items.push(value);
    }
}

fn is_zero(value: &Value) -> bool {
    match value {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Null => true,
        Value::Array(_) | Value::Object(_) => false,
    }
}

/// One map entry: key at tag 1, value at tag 2, either possibly absent (then zero).
fn map_entry(
    schema: &Schema,
    key_kind: Scalar,
    value_kind: &Kind,
    entry: &[u8],
    depth: usize,
) -> Result<(String, Option<Value>), DecodeError> {
    let mut key = String::new();
    let mut value = None;
    let mut reader = Reader::new(entry);
    while let Some((tag, raw)) = reader.field()? {
        match (tag, value_kind) {
            (1, _) => {
                key = match scalar(key_kind, raw).map_err(DecodeError::Malformed)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                }
            }
            (2, Kind::Scalar(kind)) => {
                value = Some(scalar(*kind, raw).map_err(DecodeError::Malformed)?)
            }
            (2, Kind::Message(index)) => {
                let wire::Value::Bytes(bytes) = raw else {
                    return Err(DecodeError::Malformed("map value is not length-delimited"));
                };
                value = Some(message(schema, *index, bytes, depth + 1)?);
            }
            _ => {}
        }
    }
    // An entry without a value holds the zero value, as in Go.
    let value = match (value, value_kind) {
        (Some(v), _) => Some(v),
        (None, Kind::Scalar(kind)) => Some(zero(*kind)),
        (None, Kind::Message(index)) => Some(message(schema, *index, &[], depth + 1)?),
        (None, Kind::Map(..)) => None,
    };
    Ok((key, value))
}

fn zero(kind: Scalar) -> Value {
    match kind {
        Scalar::String | Scalar::Bytes => Value::String(String::new()),
        Scalar::Bool => Value::Bool(false),
        Scalar::Int32 | Scalar::Int64 | Scalar::Double => Value::Number(0.into()),
    }
}

/// A scalar's JSON value; the error is the reason it does not fit.
fn scalar(kind: Scalar, value: wire::Value<'_>) -> Result<Value, &'static str> {
    Ok(match (kind, value) {
        (Scalar::String, wire::Value::Bytes(b)) => {
            Value::String(String::from_utf8_lossy(b).into_owned())
        }
        (Scalar::Bytes, wire::Value::Bytes(b)) => Value::String(base64(b)),
        (Scalar::Bool, wire::Value::Varint(v)) => Value::Bool(v != 0),
        // Go truncates a varint to the field's width; so do we.
        (Scalar::Int32, wire::Value::Varint(v)) => Value::Number((v as i32).into()),
        (Scalar::Int64, wire::Value::Varint(v)) => Value::Number((v as i64).into()),
        (Scalar::Double, wire::Value::Fixed64(v)) => {
            Value::Number(Number::from_f64(f64::from_bits(v)).ok_or("not a finite number")?)
        }
        _ => return Err("wire type does not match the field's type"),
    })
}

/// Standard base64 with padding, as Go's `encoding/json` writes `[]byte`.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ------------------------------------------------------------------ special types

fn special(kind: Special, name: &str, bytes: &[u8], depth: usize) -> Result<Value, DecodeError> {
    let invalid = |reason| DecodeError::Invalid {
        message: name.to_owned(),
        field: String::new(),
        reason,
    };
    let mut fields: [Option<wire::Value<'_>>; 3] = [None; 3];
    let mut strings = Vec::new();
    let mut reader = Reader::new(bytes);
    while let Some((tag, value)) = reader.field()? {
        if kind == Special::StringList && tag == 1 {
            strings.push(scalar(Scalar::String, value).map_err(invalid)?);
        } else if let Some(slot) = fields.get_mut((tag as usize).wrapping_sub(1)) {
            *slot = Some(value);
        }
    }
    let int = |i: usize| -> Result<i64, DecodeError> {
        match fields[i] {
            None => Ok(0),
            Some(wire::Value::Varint(v)) => Ok(v as i64),
            Some(_) => Err(invalid("wire type does not match the field's type")),
        }
    };
    let text = |i: usize| -> Result<String, DecodeError> {
        match fields[i] {
            None => Ok(String::new()),
            Some(wire::Value::Bytes(b)) => Ok(String::from_utf8_lossy(b).into_owned()),
            Some(_) => Err(invalid("wire type does not match the field's type")),
        }
    };
    Ok(match kind {
        // Upstream reads empty bytes as the zero time, and drops nanoseconds of a Time.
        Special::Time if bytes.is_empty() => Value::Null,
        Special::Time => {
            Value::String(rfc3339(int(0)?, None).ok_or_else(|| invalid("time out of range"))?)
        }
        Special::MicroTime if bytes.is_empty() => Value::Null,
        Special::MicroTime => {
            let micros = (int(1)? as i32).clamp(0, 999_999_999) / 1000;
            Value::String(
                rfc3339(int(0)?, Some(micros)).ok_or_else(|| invalid("time out of range"))?,
            )
        }
        Special::Duration => Value::String(go_duration(int(0)?)),
        Special::Quantity => {
            let s = text(0)?;
            Value::String(if s.is_empty() { "0".to_owned() } else { s })
        }
        Special::IntOrString => {
            if int(0)? == 1 {
                Value::String(text(2)?)
            } else {
                Value::Number((int(1)? as i32).into())
            }
        }
        Special::RawJson => {
            let raw = match fields[0] {
                None => return Ok(Value::Null),
                Some(wire::Value::Bytes(b)) => b,
                Some(_) => return Err(invalid("wire type does not match the field's type")),
            };
            if raw.is_empty() {
                Value::Null
            } else if raw.starts_with(super::MAGIC) {
                super::decode_nested(raw, depth + 1)?
            } else {
                serde_json::from_slice(raw).map_err(|_| invalid("embedded bytes are not JSON"))?
            }
        }
        Special::StringList => Value::Array(strings),
    })
}

/// `2006-01-02T15:04:05Z`, or with `.000000` when `micros` is given; `None` past year 9999.
fn rfc3339(seconds: i64, micros: Option<i32>) -> Option<String> {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        return None;
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    Some(match micros {
        None => format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z"),
        Some(us) => format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{us:06}Z"),
    })
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
fn go_duration(nanos: i64) -> String {
    let negative = nanos < 0;
    let mut u = nanos.unsigned_abs();
    let sign = if negative { "-" } else { "" };
    if u < 1_000_000_000 {
        // Under a second: the largest unit that keeps the integer part non-zero.
        let (unit, scale) = match u {
            0 => return "0s".to_owned(),
            1..1_000 => return format!("{sign}{u}ns"),
            1_000..1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        return format!("{sign}{}{unit}", fraction(u, scale));
    }
    let mut out = String::new();
    let hours = u / 3_600_000_000_000;
    u -= hours * 3_600_000_000_000;
    let minutes = u / 60_000_000_000;
    u -= minutes * 60_000_000_000;
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&fraction(u, 1_000_000_000));
    format!("{sign}{out}s")
}

/// `value / scale` in decimal with trailing zeros of the fraction trimmed.
fn fraction(value: u64, scale: u64) -> String {
    let (whole, rest) = (value / scale, value % scale);
    if rest == 0 {
        return whole.to_string();
    }
    let digits = scale.ilog10() as usize;
    let frac = format!("{rest:0digits$}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times_as_upstream() {
        assert_eq!(rfc3339(0, None).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(
            rfc3339(1_700_000_000, None).as_deref(),
            Some("2023-11-14T22:13:20Z")
        );
        assert_eq!(
            rfc3339(951_782_400, Some(5)).as_deref(),
            Some("2000-02-29T00:00:00.000005Z")
        );
        assert_eq!(rfc3339(-1, None).as_deref(), Some("1969-12-31T23:59:59Z"));
        assert_eq!(rfc3339(i64::MAX / 2, None), None);
    }

    #[test]
    fn formats_durations_as_go() {
        let cases = [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (1_500_000, "1.5ms"),
            (1_000_000_000, "1s"),
            (90_000_000_000, "1m30s"),
            (3_723_500_000_000, "1h2m3.5s"),
            (3_600_000_000_000, "1h0m0s"),
            (-2_000_000_000, "-2s"),
        ];
        for (nanos, want) in cases {
            assert_eq!(go_duration(nanos), want, "{nanos}");
        }
        go_duration(i64::MIN); // no overflow panic
    }

    #[test]
    fn encodes_base64_with_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0xff, 0x00, 0xfe, 0x01]), "/wD+AQ==");
    }
}
