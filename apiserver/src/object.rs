//! Server-set metadata: uid, timestamps, names from `generateName`, generation.

use jiff::Timestamp;
use serde_json::{Value, json};

use kubesim_apimachinery::meta;

/// The time as Kubernetes writes it: RFC 3339, whole seconds, UTC.
pub fn timestamp(at: Timestamp) -> String {
    let mut out = String::with_capacity(27);
    write_date_time(&mut out, at);
    out.push('Z');
    out
}

/// The time as upstream's `MicroTime` writes it (audit events, leases, events.k8s.io).
pub fn micro_timestamp(at: Timestamp) -> String {
    let mut out = String::with_capacity(27);
    write_date_time(&mut out, at);
    out.push('.');
    push_digits(&mut out, i64::from(at.subsec_nanosecond() / 1000), 6);
    out.push('Z');
    out
}

/// `2026-11-21T23:50:01`, in UTC. Written digit by digit: every write stamps a time, and
/// `format!` with widths costs more than the rest of stamping it.
fn write_date_time(out: &mut String, at: Timestamp) {
    let t = jiff::tz::Offset::UTC.to_datetime(at);
    push_digits(out, i64::from(t.year()), 4);
    out.push('-');
    push_digits(out, i64::from(t.month()), 2);
    out.push('-');
    push_digits(out, i64::from(t.day()), 2);
    out.push('T');
    push_digits(out, i64::from(t.hour()), 2);
    out.push(':');
    push_digits(out, i64::from(t.minute()), 2);
    out.push(':');
    push_digits(out, i64::from(t.second()), 2);
}

/// `n` (not negative) zero-padded to `width` digits.
fn push_digits(out: &mut String, n: i64, width: u32) {
    let n = n.max(0);
    let mut divisor = 10_i64.pow(width.saturating_sub(1));
    while divisor > 1 && n / divisor >= 10 {
        divisor *= 10;
    }
    while divisor >= 1 {
        let digit = (n / divisor) % 10;
        out.push(char::from(b'0' + digit as u8));
        divisor /= 10;
    }
}

/// `n` in decimal, written at the end of `buffer` (room for any `u64`), without the
/// formatting machinery: every write stamps a revision, and validation indexes lists.
pub fn decimal(mut n: u64, buffer: &mut [u8; 20]) -> &str {
    let mut at = buffer.len();
    loop {
        at -= 1;
        buffer[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    std::str::from_utf8(&buffer[at..]).unwrap_or_default()
}

/// Now, as Kubernetes writes it.
pub fn now() -> String {
    timestamp(Timestamp::now())
}

/// `generateName` plus five random characters from upstream's alphabet (no vowels, no
/// look-alike digits, so generated names never spell words).
pub fn generate_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let random = uuid::Uuid::new_v4();
    let suffix: String = random.as_bytes()[..5]
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    // Upstream trims the prefix so that the name stays within 63 characters.
    let max_prefix = 63 - 5;
    let mut end = prefix.len().min(max_prefix);
    while !prefix.is_char_boundary(end) {
        end -= 1;
    }
    let prefix = &prefix[..end];
    format!("{prefix}{suffix}")
}

/// Fill what the server sets on create, as upstream's `FillObjectMetaSystemFields`, but
/// for the creation time: nothing before the store reads it, so the create sets it on
/// what the kind's strategy made ([`set_created_at`]), and the time is not parsed into
/// the typed object and formatted back.
pub fn fill_create(obj: &mut Value, has_generation: bool) {
    let meta = meta::metadata_mut(obj);
    // One pass over the few keys there are, rather than a search per removed field.
    meta.retain(|key, _| {
        !matches!(
            key.as_str(),
            "resourceVersion"
                | "creationTimestamp"
                | "deletionTimestamp"
                | "deletionGracePeriodSeconds"
                | "generation"
        )
    });
    meta.insert("uid".into(), Value::String(new_uid()));
    if has_generation {
        meta.insert("generation".into(), Value::from(1));
    }
}

/// The creation time of an object being created, `at` as [`now`] writes it.
pub fn set_created_at(obj: &mut Value, at: &str) {
    meta::metadata_mut(obj).insert("creationTimestamp".into(), Value::String(at.to_string()));
}

/// A random uid as upstream writes it (`6b1e0c1e-...`), without the formatting machinery
/// `to_string` goes through: every create makes one.
fn new_uid() -> String {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    uuid::Uuid::new_v4()
        .hyphenated()
        .encode_lower(&mut text)
        .to_string()
}

/// Keep on update what a client may not change: uid, creation time, deletion state and
/// generation (the server bumps it).
pub fn keep_system_fields(new: &mut Value, old: &Value) {
    let old_meta = old.get("metadata").cloned().unwrap_or(Value::Null);
    let meta = meta::metadata_mut(new);
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match old_meta.get(field) {
            Some(v) => meta.insert(field.into(), v.clone()),
            None => meta.remove(field),
        };
    }
}

/// Set a nested field, making objects on the way (and replacing non-objects there), so
/// that no stored shape can make a write panic.
pub fn set_path(obj: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        *obj = value;
        return;
    };
    let mut at = obj;
    for part in parents {
        if !at.is_object() {
            *at = Value::Object(Default::default());
        }
        let Value::Object(map) = at else { return };
        at = map.entry(part.to_string()).or_insert(Value::Null);
    }
    if !at.is_object() {
        *at = Value::Object(Default::default());
    }
    if let Value::Object(map) = at {
        map.insert(last.to_string(), value);
    }
}

/// Everything but metadata and status: what a change of bumps `generation`.
fn spec_of(obj: &Value) -> impl Iterator<Item = (&String, &Value)> {
    obj.as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind"))
}

/// Bump `metadata.generation` when the spec changed, as upstream strategies do.
pub fn bump_generation(new: &mut Value, old: &Value) {
    let changed = !spec_of(new).eq(spec_of(old));
    if changed {
        let generation = old
            .get("metadata")
            .and_then(|m| m.get("generation"))
            .and_then(Value::as_i64)
            .unwrap_or(0);
        meta::set(new, "generation", Some(json!(generation + 1)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_written_as_display_writes_them() {
        for n in [0, 7, 10, 99, 100, 12_345, u64::MAX] {
            let mut digits = [0; 20];
            assert_eq!(decimal(n, &mut digits), n.to_string());
        }
    }

    #[test]
    fn a_created_object_gets_a_fresh_uid_written_as_upstream_writes_one() {
        let mut obj = serde_json::json!({"metadata": {"name": "a", "uid": "sent"}});
        fill_create(&mut obj, false);
        let uid = obj["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let parsed = uuid::Uuid::parse_str(&uid).unwrap_or_default();
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(uid, parsed.hyphenated().to_string(), "lower case, hyphens");
        fill_create(&mut obj, false);
        assert_ne!(obj["metadata"]["uid"], uid.as_str());
    }

    #[test]
    fn generated_names_have_the_prefix_and_five_characters() {
        let name = generate_name("web-");
        assert!(name.starts_with("web-"));
        assert_eq!(name.len(), 9);
        assert!(
            name[4..]
                .chars()
                .all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c))
        );
        assert_eq!(generate_name(&"a".repeat(80)).len(), 63);
        // Invalid names are the validator's to reject; making one must not panic.
        assert!(generate_name(&"é".repeat(40)).ends_with(|c: char| c.is_ascii()));
    }

    #[test]
    fn generation_moves_with_the_spec_only() {
        let old = json!({"metadata": {"generation": 3, "labels": {"a": "1"}}, "spec": {"replicas": 1}, "status": {}});
        let mut relabelled = json!({"metadata": {"generation": 3, "labels": {"a": "2"}}, "spec": {"replicas": 1}, "status": {"x": 1}});
        bump_generation(&mut relabelled, &old);
        assert_eq!(relabelled["metadata"]["generation"], 3);
        let mut scaled = json!({"metadata": {"generation": 3}, "spec": {"replicas": 2}});
        bump_generation(&mut scaled, &old);
        assert_eq!(scaled["metadata"]["generation"], 4);
    }

    #[test]
    fn set_path_makes_the_way() {
        let mut obj = json!({"spec": "not an object"});
        set_path(&mut obj, &["spec", "replicas"], json!(3));
        assert_eq!(obj, json!({"spec": {"replicas": 3}}));
        let mut empty = Value::Null;
        set_path(&mut empty, &["a", "b", "c"], json!(true));
        assert_eq!(empty["a"]["b"]["c"], true);
    }

    #[test]
    fn timestamps_are_whole_seconds_utc() {
        let at: Timestamp = "2026-11-21T23:50:01.123Z".parse().expect("timestamp");
        assert_eq!(timestamp(at), "2026-11-21T23:50:01Z");
        let early: Timestamp = "0999-01-02T03:04:05Z".parse().expect("timestamp");
        assert_eq!(timestamp(early), "0999-01-02T03:04:05Z");
    }

    #[test]
    fn micro_timestamps_keep_microseconds() {
        let at: Timestamp = "2026-11-21T23:50:01.1234567Z".parse().expect("timestamp");
        assert_eq!(micro_timestamp(at), "2026-11-21T23:50:01.123456Z");
    }
}
