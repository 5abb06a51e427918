//! What every printer needs: ages as upstream writes them, labels and selectors as
//! strings, container lists, and tolerant readers of the stored JSON.

use std::collections::BTreeSet;

use jiff::Timestamp;
use kubesim_apimachinery::selector::LabelSelector;
use serde_json::Value;

/// `ObjectMeta.name`'s documentation, the description of every `Name` column.
pub const NAME_DOC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

/// `ObjectMeta.creationTimestamp`'s documentation, the description of every `Age` column.
pub const CREATION_TIMESTAMP_DOC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

pub const CONTAINERS_DOC: &str = "Names of each container in the template.";
pub const IMAGES_DOC: &str = "Images referenced by each container in the template.";

/// The string at `pointer` (`/spec/nodeName`), or `""`.
pub fn str_at<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The integer at `pointer`, or 0 (Go's zero value for a missing field).
pub fn int_at(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// The array at `pointer`, or an empty one.
pub fn array_at<'a>(obj: &'a Value, pointer: &str) -> &'a [Value] {
    obj.pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

pub fn name(obj: &Value) -> &str {
    str_at(obj, "/metadata/name")
}

/// A stored timestamp (RFC 3339); `None` when missing or unreadable (Go's zero time).
pub fn timestamp(value: Option<&Value>) -> Option<Timestamp> {
    value
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Timestamp>().ok())
}

/// A time as Kubernetes writes it: RFC 3339, whole seconds, UTC.
pub fn rfc3339(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Upstream's `translateTimestampSince`: how long ago, or `<unknown>` for no time.
pub fn since(at: Option<Timestamp>, now: Timestamp) -> String {
    match at {
        Some(at) => human_duration(now.duration_since(at).as_secs()),
        None => "<unknown>".into(),
    }
}

/// The object's age, the `Age` column.
pub fn age(obj: &Value, now: Timestamp) -> String {
    since(timestamp(obj.pointer("/metadata/creationTimestamp")), now)
}

/// `[name, age]`, the row of the tables that have nothing else to say.
pub fn name_age(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(obj).into(), age(obj, now).into()]
}

/// Upstream's `duration.HumanDuration`: two or three significant figures, finer for
/// short durations. Worked examples: 119 s is `119s`, 121 s `2m1s`, 10 min `10m`,
/// 3 h 5 min `3h5m`, 9 h `9h`, 50 h `2d2h`, 10 days `10d`, 800 days `2y70d`.
/// A clock up to a second behind still reads `0s`; more than that is `<invalid>`.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// Upstream's `labels.FormatLabels`: `k=v` pairs sorted by key, or `<none>`.
pub fn format_labels(labels: Option<&Value>) -> String {
    let pairs: Vec<String> = labels
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    // serde_json's map keeps keys sorted, as FormatLabels sorts them.
    if pairs.is_empty() {
        "<none>".into()
    } else {
        pairs.join(",")
    }
}

/// A structured `LabelSelector` as upstream's `LabelSelectorAsSelector(...).String()`:
/// `Err` when it is not a valid selector; `""` for one that selects everything (or a
/// missing one, which selects nothing).
pub fn label_selector(selector: Option<&Value>) -> Result<String, ()> {
    let Some(selector) = selector.filter(|s| !s.is_null()) else {
        return Ok(String::new());
    };
    let typed: k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector =
        serde_json::from_value(selector.clone()).map_err(|_| ())?;
    LabelSelector::from_structured(&typed)
        .map(|s| s.to_string())
        .map_err(|_| ())
}

/// Upstream's `metav1.FormatLabelSelector`: the selector, `<none>` if it selects
/// everything, `<error>` if it is invalid.
pub fn format_label_selector(selector: Option<&Value>) -> String {
    match label_selector(selector) {
        Ok(s) if s.is_empty() => "<none>".into(),
        Ok(s) => s,
        Err(()) => "<error>".into(),
    }
}

/// Upstream's `layoutContainerCells`: container names and images, comma-separated.
pub fn containers_and_images(containers: &[Value]) -> (String, String) {
    let names: Vec<&str> = containers.iter().map(|c| str_at(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_at(c, "/image")).collect();
    (names.join(","), images.join(","))
}

/// The status of the first condition of `kind`, as upstream's condition helpers read
/// it (`None` when there is no such condition).
pub fn condition_status<'a>(conditions: &'a [Value], kind: &str) -> Option<&'a str> {
    conditions
        .iter()
        .find(|c| str_at(c, "/type") == kind)
        .map(|c| str_at(c, "/status"))
}

/// `true` for a condition of `kind` whose status is `True`.
pub fn condition_true(conditions: &[Value], kind: &str) -> bool {
    condition_status(conditions, kind) == Some("True")
}

/// A sorted set of strings joined by commas, as `sets.String.List()` joined.
pub fn sorted_unique<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
        .join(",")
}

/// An `IntOrString` as Go's `String()` prints it: `1`, `50%`.
pub fn int_or_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// `"80/TCP"`-style lists and other fields that upstream caps at three entries:
/// `a,b,c + 2 more...`; `empty` when there are none.
pub fn list_with_more(list: &[String], count: usize, max: usize, empty: &str) -> String {
    let shown = list.iter().take(max).cloned().collect::<Vec<_>>().join(",");
    if count > max {
        format!("{shown} + {} more...", count - max)
    } else if shown.is_empty() {
        empty.into()
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_read_as_upstream() {
        // Cases from upstream's duration_test.go.
        let cases = [
            (-2, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (1, "1s"),
            (119, "119s"),
            (120, "2m"),
            (121, "2m1s"),
            (9 * 60 + 59, "9m59s"),
            (10 * 60, "10m"),
            (3 * 3600 - 1, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 5 * 60, "3h5m"),
            (8 * 3600 - 1, "7h59m"),
            (8 * 3600, "8h"),
            (48 * 3600 - 1, "47h"),
            (48 * 3600, "2d"),
            (50 * 3600, "2d2h"),
            (8 * 86400 - 1, "7d23h"),
            (8 * 86400, "8d"),
            (2 * 365 * 86400 - 1, "729d"),
            (2 * 365 * 86400, "2y"),
            (800 * 86400, "2y70d"),
            (8 * 365 * 86400, "8y"),
        ];
        for (seconds, want) in cases {
            assert_eq!(human_duration(seconds), want, "{seconds}s");
        }
    }

    #[test]
    fn ages_and_missing_times() {
        let now: Timestamp = "2026-01-01T00:10:00Z".parse().expect("time");
        assert_eq!(
            age(
                &json!({"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}}),
                now
            ),
            "10m"
        );
        assert_eq!(age(&json!({"metadata": {}}), now), "<unknown>");
        assert_eq!(
            age(
                &json!({"metadata": {"creationTimestamp": "yesterday"}}),
                now
            ),
            "<unknown>"
        );
    }

    #[test]
    fn labels_and_selectors() {
        assert_eq!(
            format_labels(Some(&json!({"tier": "web", "app": "x"}))),
            "app=x,tier=web"
        );
        assert_eq!(format_labels(None), "<none>");
        assert_eq!(format_labels(Some(&json!({}))), "<none>");
        let sel = json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "env", "operator": "In", "values": ["b", "a"]}]});
        assert_eq!(format_label_selector(Some(&sel)), "app=web,env in (a,b)");
        assert_eq!(format_label_selector(Some(&json!({}))), "<none>");
        assert_eq!(format_label_selector(None), "<none>");
        assert_eq!(
            format_label_selector(Some(
                &json!({"matchExpressions": [{"key": "a", "operator": "Near"}]})
            )),
            "<error>"
        );
    }

    #[test]
    fn lists_with_more() {
        let list: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        assert_eq!(list_with_more(&list, 5, 3, "<none>"), "a,b,c + 2 more...");
        assert_eq!(list_with_more(&list[..2], 2, 3, "<none>"), "a,b");
        assert_eq!(list_with_more(&[], 0, 3, "<unset>"), "<unset>");
    }
}
