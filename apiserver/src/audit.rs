//! The audit trail: every write, who made it, and what it changed.
//!
//! Records are kept in memory (bounded) and served at `/kubesim/v1/audit` as an
//! `audit.k8s.io/v1 EventList`, the shape of upstream's audit log, so a learner can
//! answer "who changed this, when, from what to what". What changed is computed when the
//! trail is read, from the objects before and after, so writes pay nothing for it.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use kubesim_apimachinery::ResourceInfo;
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::response::json;
use crate::server::ApiServer;
use crate::storage::Object;

/// One write, as it happened. Shared parts only (the resource, the User-Agent, the
/// objects): a full trail drops its oldest record on every write.
#[derive(Debug, Clone)]
pub struct Record {
    pub id: u64,
    pub at: jiff::Timestamp,
    pub verb: &'static str,
    pub user_agent: Arc<str>,
    /// The resource, at the group/version the request addressed.
    pub resource: Arc<ResourceInfo>,
    pub subresource: Option<String>,
    pub code: u16,
    pub before: Option<Arc<Object>>,
    pub after: Option<Arc<Object>>,
}

impl Record {
    /// The object written (its namespace and name are the record's).
    fn object(&self) -> Option<&Arc<Object>> {
        self.after.as_ref().or(self.before.as_ref())
    }

    pub fn namespace(&self) -> &str {
        self.object().map_or("", |o| &o.attrs.namespace)
    }

    pub fn name(&self) -> &str {
        self.object().map_or("", |o| &o.attrs.name)
    }
}

/// The bounded trail.
pub struct Audit {
    capacity: usize,
    records: Mutex<(u64, VecDeque<Record>)>,
}

impl Audit {
    pub fn new(capacity: usize) -> Self {
        Audit {
            capacity,
            records: Mutex::new((0, VecDeque::new())),
        }
    }

    /// Keep a record; the oldest goes when the trail is full.
    pub fn record(&self, mut record: Record) {
        if self.capacity == 0 {
            return;
        }
        let mut guard = self.records.lock();
        let (next_id, records) = &mut *guard;
        *next_id += 1;
        record.id = *next_id;
        if records.len() == self.capacity {
            records.pop_front();
        }
        records.push_back(record);
    }

    /// Records matching a filter, oldest first.
    pub fn matching(&self, filter: &Filter) -> Vec<Record> {
        self.records
            .lock()
            .1
            .iter()
            .filter(|r| filter.matches(r))
            .cloned()
            .collect()
    }
}

/// Which records to read: `?resource=pods&namespace=default&name=web&since=<id>`.
#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    pub resource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// Only records after this id.
    pub since: Option<u64>,
}

impl Filter {
    fn matches(&self, r: &Record) -> bool {
        self.resource
            .as_ref()
            .is_none_or(|v| *v == r.resource.plural)
            && self.namespace.as_ref().is_none_or(|v| v == r.namespace())
            && self.name.as_ref().is_none_or(|v| v == r.name())
            && self.since.is_none_or(|id| r.id > id)
    }
}

fn rv(object: &Option<Arc<Object>>) -> Value {
    object
        .as_ref()
        .map(|o| json!(o.resource_version.to_string()))
        .unwrap_or(Value::Null)
}

impl Record {
    /// The record as an `audit.k8s.io/v1 Event`, with kubesim's additions as annotations.
    pub fn to_event(&self) -> Value {
        let changes = match (&self.before, &self.after) {
            (Some(before), Some(after)) => {
                serde_json::to_value(json_patch::diff(&before.value(), &after.value()))
                    .unwrap_or(Value::Null)
            }
            _ => Value::Null,
        };
        json!({
            "level": "RequestResponse",
            "auditID": format!("{:016x}", self.id),
            "stage": "ResponseComplete",
            "verb": self.verb,
            "user": {"username": "kubesim-admin", "groups": ["system:masters", "system:authenticated"]},
            "userAgent": &*self.user_agent,
            "objectRef": {
                "resource": self.resource.plural,
                "subresource": self.subresource,
                "namespace": if self.namespace().is_empty() { Value::Null } else { json!(self.namespace()) },
                "name": self.name(),
                "apiGroup": self.resource.group,
                "apiVersion": self.resource.version,
                "uid": self.object().map(|o| o.attrs.uid.to_string()).filter(|uid| !uid.is_empty()),
                "resourceVersion": rv(&self.after),
            },
            "responseStatus": {"code": self.code},
            "requestReceivedTimestamp": crate::object::micro_timestamp(self.at),
            "stageTimestamp": crate::object::micro_timestamp(self.at),
            "annotations": {
                "kubesim.io/resource-version-before": rv(&self.before),
                "kubesim.io/resource-version-after": rv(&self.after),
            },
            "kubesimChanges": changes,
        })
    }
}

/// `GET /kubesim/v1/audit`: the trail as an `audit.k8s.io/v1 EventList`.
pub async fn list(State(server): State<Arc<ApiServer>>, Query(filter): Query<Filter>) -> Response {
    let items: Vec<Value> = server
        .audit
        .matching(&filter)
        .iter()
        .map(Record::to_event)
        .collect();
    json(
        StatusCode::OK,
        &json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": items}),
    )
}
