//! get and list.
//!
//! Both answer with the stored bytes as they are (the fast path), or with a `Table`
//! when the client asks for one in its Accept header, as `kubectl get` does.

use std::sync::Arc;

use axum::http::StatusCode;
use bytes::{BufMut, Bytes, BytesMut};
use kubesim_apimachinery::status::GroupResourceKind;
use kubesim_apimachinery::{ApiError, FieldError};

use super::Request;
use super::write::present;
use crate::filter::Filter;
use crate::request::Query;
use crate::response::{Result, json_bytes};
use crate::storage::Object;
use crate::table::{self, IncludeObject, TableRequest};

/// `GET` of one object (or its `status`).
pub fn get(req: &Request, name: &str) -> Result {
    let obj = req
        .server
        .storage
        .get(&req.key(name))
        .ok_or_else(|| ApiError::not_found(req.info().as_ref(), name))?;
    if let Some(request) = table::negotiate(&req.headers, &req.query)? {
        return table_response(
            req,
            &request,
            obj.resource_version,
            std::slice::from_ref(&obj),
        );
    }
    Ok(json_bytes(StatusCode::OK, present(req.info(), &obj)?))
}

/// `GET` of a collection: a snapshot at one revision, filtered by selectors.
///
/// `limit` is accepted and ignored: the whole list comes back with no `continue` token,
/// which upstream allows and every client handles.
pub fn list(req: Request) -> Result {
    validate_list_options(&req.query)?;
    let filter = Filter::from_query(req.info(), req.target.namespace.as_deref(), &req.query)?;
    let (objects, revision) = req
        .server
        .storage
        .list(&req.info().storage_key(), req.target.namespace.as_deref());
    check_list_revision(&req.query, revision)?;

    if let Some(request) = table::negotiate(&req.headers, &req.query)? {
        let selected: Vec<Arc<Object>> = objects
            .into_iter()
            .filter(|obj| filter.matches(&obj.attrs))
            .collect();
        return table_response(&req, &request, revision, &selected);
    }

    let info = req.info();
    let mut body =
        BytesMut::with_capacity(64 + objects.iter().map(|o| o.bytes.len() + 1).sum::<usize>());
    body.put_slice(b"{\"kind\":\"");
    body.put_slice(info.list_kind().as_bytes());
    body.put_slice(b"\",\"apiVersion\":\"");
    body.put_slice(info.api_version().as_bytes());
    body.put_slice(b"\",\"metadata\":{\"resourceVersion\":\"");
    body.put_slice(revision.to_string().as_bytes());
    body.put_slice(b"\"},\"items\":[");
    let mut first = true;
    for obj in &objects {
        if !filter.matches(&obj.attrs) {
            continue;
        }
        if !first {
            body.put_u8(b',');
        }
        first = false;
        body.put_slice(&present(info, obj)?);
    }
    body.put_slice(b"]}");
    Ok(json_bytes(StatusCode::OK, Bytes::from(body)))
}

/// Objects as a `Table`, printed from their stored form; the table's resourceVersion is
/// the list's revision (or the one object's).
fn table_response(
    req: &Request,
    request: &TableRequest,
    revision: u64,
    objects: &[Arc<Object>],
) -> Result {
    let info = req.info();
    let values: Vec<serde_json::Value> = objects.iter().map(|obj| obj.value()).collect();
    let mut rows = Vec::with_capacity(objects.len());
    for (obj, value) in objects.iter().zip(&values) {
        // Only `includeObject=Object` sends the object itself, at the version asked for.
        let object = match request.include {
            IncludeObject::Object => Some(present(info, obj)?),
            IncludeObject::Metadata | IncludeObject::None => None,
        };
        rows.push(table::Source { value, object });
    }
    let printer = table::printer_for(info);
    let body = table::encode(
        request,
        &printer,
        &revision.to_string(),
        true,
        jiff::Timestamp::now(),
        rows,
    );
    Ok(json_bytes(StatusCode::OK, body))
}

/// A list at a resourceVersion: served from the latest state, which is "not older than"
/// any revision issued; an exact older revision is no longer kept.
fn check_list_revision(query: &Query, current: u64) -> Result<(), ApiError> {
    let Some(rv) = query
        .get("resourceVersion")
        .filter(|rv| !rv.is_empty() && *rv != "0")
    else {
        return Ok(());
    };
    let requested: u64 = rv
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version {rv:?}")))?;
    if requested > current {
        return Err(ApiError::too_large_resource_version(requested, current));
    }
    if query.get("resourceVersionMatch") == Some("Exact") && requested != current {
        return Err(ApiError::expired(format!(
            "too old resource version: {requested} ({current})"
        )));
    }
    Ok(())
}

const LIST_OPTIONS: GroupResourceKind =
    GroupResourceKind::new("meta.k8s.io", "listoptions", "ListOptions");

/// Upstream's `ValidateListOptions` for lists and watches: 422 `ListOptions.meta.k8s.io`.
pub fn validate_list_options(query: &Query) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    let watch = query.flag("watch")?.unwrap_or(false);
    let rv = query.get("resourceVersion").unwrap_or("");
    let continue_token = query.get("continue").unwrap_or("");
    let send_initial_events = query.flag("sendInitialEvents")?;
    let field = "resourceVersionMatch";
    match query.get(field).unwrap_or("") {
        "" => {}
        m if watch => {
            if send_initial_events.is_none() {
                errors.push(FieldError::forbidden(field, "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"));
            }
            if m != "NotOlderThan" {
                errors.push(FieldError::not_supported(field, m, &["NotOlderThan"]));
            }
            if !continue_token.is_empty() {
                errors.push(FieldError::forbidden(
                    field,
                    "resourceVersionMatch is forbidden when continue is provided",
                ));
            }
        }
        m => {
            if rv.is_empty() {
                errors.push(FieldError::forbidden(
                    field,
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                ));
            }
            if !continue_token.is_empty() {
                errors.push(FieldError::forbidden(
                    field,
                    "resourceVersionMatch is forbidden when continue is provided",
                ));
            }
            if m != "Exact" && m != "NotOlderThan" {
                errors.push(FieldError::not_supported(
                    field,
                    m,
                    &["Exact", "NotOlderThan", ""],
                ));
            }
            if m == "Exact" && rv == "0" {
                errors.push(FieldError::forbidden(
                    field,
                    "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                ));
            }
        }
    }
    if send_initial_events.is_some() {
        if !watch {
            errors.push(FieldError::forbidden(
                "sendInitialEvents",
                "sendInitialEvents is forbidden for list",
            ));
        } else if query.get(field) != Some("NotOlderThan") {
            errors.push(FieldError::forbidden(
                field,
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(&LIST_OPTIONS, "", &errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_options_are_validated_as_upstream() {
        let ok = [
            "",
            "resourceVersion=5&resourceVersionMatch=NotOlderThan",
            "watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true",
        ];
        for q in ok {
            assert!(validate_list_options(&Query::parse(Some(q))).is_ok(), "{q}");
        }
        let err =
            validate_list_options(&Query::parse(Some("sendInitialEvents=true"))).expect_err("list");
        assert_eq!(err.code(), 422);
        assert_eq!(
            err.message(),
            "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list"
        );
        let err = validate_list_options(&Query::parse(Some("watch=true&sendInitialEvents=true")))
            .expect_err("watch");
        assert!(
            err.message().contains(
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
            )
        );
    }

    #[test]
    fn list_revisions() {
        assert!(check_list_revision(&Query::parse(Some("resourceVersion=5")), 9).is_ok());
        assert_eq!(
            check_list_revision(&Query::parse(Some("resourceVersion=10")), 9).map_err(|e| e.code()),
            Err(504)
        );
        assert_eq!(
            check_list_revision(
                &Query::parse(Some("resourceVersion=5&resourceVersionMatch=Exact")),
                9
            )
            .map_err(|e| e.code()),
            Err(410)
        );
    }
}
