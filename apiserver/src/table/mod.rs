//! Server-side printing: `meta.k8s.io/v1 Table` answers for `kubectl get`.
//!
//! kubectl asks for a Table with
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json`
//! and prints whatever columns the server sends. Upstream the resource's
//! `TableConvertor` builds them with the printers of
//! `pkg/printers/internalversion/printers.go`; here each printer is a list of column
//! definitions plus a function from the stored JSON to the row's cells.
//!
//! - The server always prints every column (upstream converts with `Wide: true`);
//!   `priority: 1` tells the client which ones only `-o wide` shows.
//! - `includeObject` says what each row carries besides its cells: `Metadata` (the
//!   default) a `PartialObjectMetadata`, `Object` the whole object (kubectl asks for it
//!   with `--sort-by`), `None` nothing.
//! - A watch sends one Table per event, with one row; only the first carries the
//!   column definitions, as upstream's watch encoder does to save bytes.
//! - Kinds without a printer get upstream's default table (`Name`, `Created At`);
//!   custom resources get a CRD's default columns (`Name`, `Age`).

mod apps;
mod batch;
mod core;
mod docs;
mod other;
mod pods;
mod print;

use axum::http::{HeaderMap, header};
use bytes::{BufMut, Bytes, BytesMut};
use jiff::Timestamp;
use kubesim_apimachinery::registry::is_builtin;
use kubesim_apimachinery::{ApiError, FieldError, ResourceInfo};
use serde_json::Value;

use crate::request::Query;

pub use print::human_duration;

/// One column of a Table, as `meta/v1 TableColumnDefinition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    /// An OpenAPI type: `string`, `integer`, `number`, `boolean`, `date`.
    pub kind: &'static str,
    /// `name` for the column that names the object; otherwise empty.
    pub format: &'static str,
    pub description: &'static str,
    /// 0: always shown; 1: only with `-o wide`.
    pub priority: u8,
}

impl Column {
    /// A column kubectl always shows.
    pub const fn new(name: &'static str, kind: &'static str, description: &'static str) -> Self {
        Column {
            name,
            kind,
            format: "",
            description,
            priority: 0,
        }
    }

    /// A column only `-o wide` shows.
    pub const fn wide(name: &'static str, kind: &'static str, description: &'static str) -> Self {
        Column {
            name,
            kind,
            format: "",
            description,
            priority: 1,
        }
    }

    /// The `Name` column every printer starts with (format `name`).
    pub const NAME: Column = Column {
        name: "Name",
        kind: "string",
        format: "name",
        description: print::NAME_DOC,
        priority: 0,
    };

    /// The `Age` column most printers end with.
    pub const AGE: Column = Column::new("Age", "string", print::CREATION_TIMESTAMP_DOC);

    fn to_json(self) -> Value {
        serde_json::json!({
            "name": self.name,
            "type": self.kind,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// How one kind is printed.
#[derive(Clone, Copy)]
pub struct Printer {
    pub columns: &'static [Column],
    /// The row's cells, one per column, from the stored object; `now` for ages.
    pub row: fn(&Value, Timestamp) -> Vec<Value>,
    /// The row's `conditions` (only pods have any: `Completed` once they end).
    pub conditions: fn(&Value) -> Option<Value>,
}

fn no_conditions(_: &Value) -> Option<Value> {
    None
}

impl Printer {
    pub const fn new(columns: &'static [Column], row: fn(&Value, Timestamp) -> Vec<Value>) -> Self {
        Printer {
            columns,
            row,
            conditions: no_conditions,
        }
    }
}

/// The printer for a resource, by group and plural as upstream registers its
/// `TableConvertor`s; kinds without one get the default table.
pub fn printer_for(info: &ResourceInfo) -> Printer {
    let specific = match info.group.as_str() {
        "" => match info.plural.as_str() {
            "pods" => Some(pods::PRINTER),
            _ => core::printer(&info.plural),
        },
        "apps" => apps::printer(&info.plural),
        "batch" => batch::printer(&info.plural),
        group => other::printer(group, &info.plural),
    };
    match specific {
        Some(printer) => printer,
        None if is_builtin(info) => DEFAULT_PRINTER,
        None => CUSTOM_RESOURCE_PRINTER,
    }
}

/// Upstream's `defaultTableConvertor`, for built-in kinds without a printer (LimitRange,
/// Role, ...): the creation time as written, not an age.
const DEFAULT_PRINTER: Printer = Printer::new(
    &[
        Column::NAME,
        Column::new("Created At", "date", print::CREATION_TIMESTAMP_DOC),
    ],
    default_row,
);

fn default_row(obj: &Value, _now: Timestamp) -> Vec<Value> {
    let created = print::timestamp(obj.pointer("/metadata/creationTimestamp"))
        .map(print::rfc3339)
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".into());
    vec![print::name(obj).into(), created.into()]
}

/// What a CustomResourceDefinition without `additionalPrinterColumns` prints: `Age`
/// as a `date` column, which the API server turns into an age.
const CUSTOM_RESOURCE_PRINTER: Printer = Printer::new(
    &[
        Column::NAME,
        Column::new("Age", "date", print::CREATION_TIMESTAMP_DOC),
    ],
    print::name_age,
);

/// What each row carries besides its cells (`?includeObject=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    None,
    /// The default: the object's metadata as a `PartialObjectMetadata`.
    #[default]
    Metadata,
    Object,
}

/// A request's wish for a Table: which `meta.k8s.io` version, and what rows carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableRequest {
    /// `meta.k8s.io/v1` or `meta.k8s.io/v1beta1`, as the Accept header asked.
    pub api_version: &'static str,
    pub include: IncludeObject,
}

/// Does the request want a Table? The Accept header's media ranges are tried in order,
/// as upstream's content negotiation does (clients list their preference first); the
/// first one served decides. `includeObject` is only read (and only refused when
/// invalid) for a Table, as upstream.
pub fn negotiate(headers: &HeaderMap, query: &Query) -> Result<Option<TableRequest>, ApiError> {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let mut api_version = None;
    for range in accept.split(',') {
        match media_range(range) {
            Accepted::Table(version) => {
                api_version = Some(version);
                break;
            }
            Accepted::Plain => return Ok(None),
            Accepted::No => continue,
        }
    }
    let Some(api_version) = api_version else {
        return Ok(None);
    };
    let include = match query.get("includeObject").unwrap_or("") {
        "" | "Metadata" => IncludeObject::Metadata,
        "None" => IncludeObject::None,
        "Object" => IncludeObject::Object,
        other => {
            let err =
                FieldError::not_supported("includeObject", other, &["Metadata", "None", "Object"]);
            return Err(ApiError::bad_request(format!(
                "Unable to convert to Table as requested: {err}"
            )));
        }
    };
    Ok(Some(TableRequest {
        api_version,
        include,
    }))
}

enum Accepted {
    Table(&'static str),
    Plain,
    No,
}

/// One media range of an Accept header: `application/json;as=Table;v=v1;g=meta.k8s.io`.
fn media_range(range: &str) -> Accepted {
    let mut parts = range.split(';').map(str::trim);
    let media = parts.next().unwrap_or("").to_ascii_lowercase();
    if !matches!(media.as_str(), "application/json" | "application/*" | "*/*") {
        return Accepted::No;
    }
    let (mut as_kind, mut group, mut version) = ("", "", "");
    for param in parts {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        match key.trim() {
            "as" => as_kind = value.trim(),
            "g" => group = value.trim(),
            "v" => version = value.trim(),
            _ => {}
        }
    }
    match (as_kind, group, version) {
        ("", _, _) => Accepted::Plain,
        ("Table", "meta.k8s.io", "v1") => Accepted::Table("meta.k8s.io/v1"),
        ("Table", "meta.k8s.io", "v1beta1") => Accepted::Table("meta.k8s.io/v1beta1"),
        // Other conversions (PartialObjectMetadata...) are not served here; the client's
        // next choice may be.
        _ => Accepted::No,
    }
}

/// One object to print: its stored JSON (cells are computed from it) and, for
/// `includeObject=Object`, its serialized form at the requested version.
pub struct Source<'a> {
    pub value: &'a Value,
    pub object: Option<Bytes>,
}

/// A `Table` with one row per object.
///
/// `resource_version` is the list's revision (or the single object's); `columns` false
/// leaves `columnDefinitions` null, as on every watch event after the first.
pub fn encode<'a>(
    request: &TableRequest,
    printer: &Printer,
    resource_version: &str,
    columns: bool,
    now: Timestamp,
    objects: impl IntoIterator<Item = Source<'a>>,
) -> Bytes {
    let mut out = BytesMut::with_capacity(1024);
    out.put_slice(b"{\"kind\":\"Table\",\"apiVersion\":\"");
    out.put_slice(request.api_version.as_bytes());
    out.put_slice(b"\",\"metadata\":{\"resourceVersion\":");
    put_json(&mut out, &Value::from(resource_version));
    out.put_slice(b"},\"columnDefinitions\":");
    if columns {
        put_json(
            &mut out,
            &Value::Array(printer.columns.iter().map(|c| c.to_json()).collect()),
        );
    } else {
        out.put_slice(b"null");
    }
    out.put_slice(b",\"rows\":[");
    for (i, source) in objects.into_iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        out.put_slice(b"{\"cells\":");
        let mut cells = (printer.row)(source.value, now);
        // Every row has one cell per column, whatever a printer returned.
        cells.resize(printer.columns.len(), Value::Null);
        put_json(&mut out, &Value::Array(cells));
        if let Some(conditions) = (printer.conditions)(source.value) {
            out.put_slice(b",\"conditions\":");
            put_json(&mut out, &conditions);
        }
        out.put_slice(b",\"object\":");
        match (request.include, source.object) {
            (IncludeObject::None, _) => out.put_slice(b"null"),
            (IncludeObject::Object, Some(bytes)) => out.put_slice(&bytes),
            (IncludeObject::Object, None) => put_json(&mut out, source.value),
            (IncludeObject::Metadata, _) => {
                let partial = serde_json::json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": request.api_version,
                    "metadata": source.value.get("metadata").cloned().unwrap_or_else(|| serde_json::json!({})),
                });
                put_json(&mut out, &partial);
            }
        }
        out.put_u8(b'}');
    }
    out.put_slice(b"]}");
    out.freeze()
}

fn put_json(out: &mut BytesMut, value: &Value) {
    // Writing a `Value` into memory cannot fail.
    let _ = serde_json::to_writer(out.writer(), value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const KUBECTL_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

    fn headers(accept: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_str(accept).expect("header"),
        );
        headers
    }

    #[test]
    fn kubectl_get_asks_for_a_v1_table() {
        let got = negotiate(&headers(KUBECTL_ACCEPT), &Query::default()).expect("ok");
        assert_eq!(
            got,
            Some(TableRequest {
                api_version: "meta.k8s.io/v1",
                include: IncludeObject::Metadata
            })
        );
        let beta = negotiate(
            &headers("application/json;as=Table;v=v1beta1;g=meta.k8s.io"),
            &Query::default(),
        )
        .expect("ok");
        assert_eq!(beta.map(|t| t.api_version), Some("meta.k8s.io/v1beta1"));
    }

    #[test]
    fn plain_json_and_unknown_conversions_are_not_tables() {
        for accept in [
            "application/json",
            "*/*",
            "application/json, application/json;as=Table;v=v1;g=meta.k8s.io",
            "application/json;as=Table;v=v2;g=meta.k8s.io",
            "application/vnd.kubernetes.protobuf",
        ] {
            assert_eq!(
                negotiate(&headers(accept), &Query::default()).expect("ok"),
                None,
                "{accept}"
            );
        }
        assert_eq!(
            negotiate(&HeaderMap::new(), &Query::default()).expect("ok"),
            None
        );
        // A bad includeObject only matters when a Table is asked for.
        assert_eq!(
            negotiate(
                &headers("application/json"),
                &Query::parse(Some("includeObject=All"))
            )
            .expect("ok"),
            None
        );
    }

    #[test]
    fn include_object() {
        let table = |q: &str| negotiate(&headers(KUBECTL_ACCEPT), &Query::parse(Some(q)));
        assert_eq!(
            table("includeObject=None").expect("ok").map(|t| t.include),
            Some(IncludeObject::None)
        );
        assert_eq!(
            table("includeObject=Object")
                .expect("ok")
                .map(|t| t.include),
            Some(IncludeObject::Object)
        );
        let err = table("includeObject=All").expect_err("invalid");
        assert_eq!(err.code(), 400);
        assert_eq!(
            err.message(),
            "Unable to convert to Table as requested: includeObject: Unsupported value: \"All\": supported values: \"Metadata\", \"None\", \"Object\""
        );
    }

    #[test]
    fn tables_carry_rows_and_metadata() {
        let request = TableRequest {
            api_version: "meta.k8s.io/v1",
            include: IncludeObject::Metadata,
        };
        let obj = serde_json::json!({"kind": "LimitRange", "metadata": {"name": "limits", "namespace": "ns", "labels": {"a": "b"}, "creationTimestamp": "2026-01-02T03:04:05Z"}});
        let info = kubesim_apimachinery::registry::builtins()
            .into_iter()
            .find(|r| r.plural == "limitranges")
            .expect("limitranges");
        let printer = printer_for(&info);
        let bytes = encode(
            &request,
            &printer,
            "42",
            true,
            Timestamp::UNIX_EPOCH,
            [Source {
                value: &obj,
                object: None,
            }],
        );
        let table: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(table["kind"], "Table");
        assert_eq!(table["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(table["metadata"]["resourceVersion"], "42");
        assert_eq!(table["columnDefinitions"][1]["name"], "Created At");
        assert_eq!(table["columnDefinitions"][1]["type"], "date");
        assert_eq!(table["columnDefinitions"][0]["format"], "name");
        assert_eq!(
            table["rows"][0]["cells"],
            serde_json::json!(["limits", "2026-01-02T03:04:05Z"])
        );
        assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(table["rows"][0]["object"]["metadata"]["labels"]["a"], "b");

        let none = TableRequest {
            include: IncludeObject::None,
            ..request
        };
        let bytes = encode(
            &none,
            &printer,
            "42",
            false,
            Timestamp::UNIX_EPOCH,
            [Source {
                value: &obj,
                object: None,
            }],
        );
        let table: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(table["columnDefinitions"], Value::Null);
        assert_eq!(table["rows"][0]["object"], Value::Null);
    }

    #[test]
    fn every_builtin_has_a_printer_whose_rows_fit_its_columns() {
        let now = Timestamp::UNIX_EPOCH;
        for info in kubesim_apimachinery::registry::builtins() {
            let printer = printer_for(&info);
            assert_eq!(
                printer.columns[0].name,
                if info.kind == "Event" {
                    "Last Seen"
                } else {
                    "Name"
                },
                "{}",
                info.plural
            );
            // Rows from empty and malformed objects never panic and fit the columns.
            for obj in [
                serde_json::json!({}),
                serde_json::json!({"metadata": 3, "spec": [], "status": "x"}),
                Value::Null,
            ] {
                assert_eq!(
                    (printer.row)(&obj, now).len(),
                    printer.columns.len(),
                    "{}",
                    info.plural
                );
            }
        }
    }
}
