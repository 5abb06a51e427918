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

/// The request behind a write, as upstream's audit log names it: who sent it (the
/// User-Agent), its verb and the subresource it addressed. One request can make several
/// writes (a patch that removes the last finalizer also removes the object; an eviction
/// deletes a pod), and each is recorded with the request that made it.
#[derive(Debug, Clone)]
pub struct Origin {
    pub user_agent: Arc<str>,
    /// `create`, `update`, `patch`, `delete` or `deletecollection` for writes.
    pub verb: &'static str,
    pub subresource: Option<&'static str>,
}

impl Origin {
    /// A write the API server makes on its own (the initial namespaces).
    pub fn apiserver(verb: &'static str) -> Self {
        Origin {
            user_agent: Arc::from("kubesim-apiserver"),
            verb,
            subresource: None,
        }
    }

    /// The status code of the request's success, as upstream answers it: 201 for a
    /// create (a binding and an eviction are creates too), 200 otherwise.
    fn code(&self, write: Write) -> u16 {
        if self.verb == "create" || write == Write::Create {
            201
        } else {
            200
        }
    }
}

/// What a write did in storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Create,
    Update,
    Delete,
}

impl Write {
    fn as_str(self) -> &'static str {
        match self {
            Write::Create => "create",
            Write::Update => "update",
            Write::Delete => "delete",
        }
    }
}

/// One write, as it happened. Shared parts only (the resource, the User-Agent, the
/// objects): a full trail drops its oldest record on every write.
#[derive(Debug, Clone)]
pub struct Record {
    pub id: u64,
    pub at: jiff::Timestamp,
    pub origin: Origin,
    pub write: Write,
    /// The resource, at the group/version the request addressed.
    pub resource: Arc<ResourceInfo>,
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

fn rv(object: &Option<Arc<Object>>) -> Option<String> {
    object.as_ref().map(|o| o.resource_version.to_string())
}

impl Record {
    /// The record as an `audit.k8s.io/v1 Event`, with kubesim's additions as annotations
    /// (what the write did, the resourceVersions before and after) and `kubesimChanges`
    /// (the JSON patch from before to after). Empty fields are left out, as upstream's
    /// `omitempty` leaves them.
    pub fn to_event(&self) -> Value {
        let mut object_ref = json!({
            "resource": self.resource.plural,
            "name": self.name(),
            "apiGroup": self.resource.group,
            "apiVersion": self.resource.version,
        });
        let optional = [
            ("subresource", self.origin.subresource.map(str::to_string)),
            (
                "namespace",
                Some(self.namespace().to_string()).filter(|ns| !ns.is_empty()),
            ),
            (
                "uid",
                self.object()
                    .map(|o| o.attrs.uid.to_string())
                    .filter(|uid| !uid.is_empty()),
            ),
            ("resourceVersion", rv(&self.after)),
        ];
        for (field, value) in optional {
            if let Some(value) = value {
                object_ref[field] = json!(value);
            }
        }
        let mut annotations = json!({"kubesim.io/write": self.write.as_str()});
        for (key, value) in [
            ("kubesim.io/resource-version-before", rv(&self.before)),
            ("kubesim.io/resource-version-after", rv(&self.after)),
        ] {
            if let Some(value) = value {
                annotations[key] = json!(value);
            }
        }
        let mut event = json!({
            "level": "RequestResponse",
            "auditID": format!("{:016x}", self.id),
            "stage": "ResponseComplete",
            "verb": self.origin.verb,
            "user": {"username": "kubesim-admin", "groups": ["system:masters", "system:authenticated"]},
            "userAgent": &*self.origin.user_agent,
            "objectRef": object_ref,
            "responseStatus": {"metadata": {}, "code": self.origin.code(self.write)},
            "requestReceivedTimestamp": crate::object::micro_timestamp(self.at),
            "stageTimestamp": crate::object::micro_timestamp(self.at),
            "annotations": annotations,
        });
        if let (Some(before), Some(after)) = (&self.before, &self.after) {
            let changes = json_patch::diff(&before.value(), &after.value());
            if let Ok(changes) = serde_json::to_value(changes) {
                event["kubesimChanges"] = changes;
            }
        }
        event
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
