//! Watch streams: newline-delimited JSON events, flushed as they happen.
//!
//! - From `resourceVersion` unset or `0`: `ADDED` for every current object, then changes.
//!   From `N`: every change after `N`, or one `ERROR` event with a `410 Expired` Status
//!   (HTTP 200) when the history no longer reaches back to `N`.
//! - `sendInitialEvents=true`: the current objects, then a `BOOKMARK` annotated
//!   `k8s.io/initial-events-end: "true"` (client-go's watch-list).
//! - `allowWatchBookmarks=true`: a `BOOKMARK` with the latest revision every
//!   `bookmark_interval`, so an idle watcher can resume without relisting.
//! - With a selector, an object that stops matching is reported `DELETED`, one that starts
//!   matching `ADDED`, as upstream's cacher does.
//! - `timeoutSeconds`: the stream ends cleanly. A watcher that falls too far behind is
//!   ended too; never are events skipped.
//! - Asked for a `Table` (`kubectl get -w`), each event's object is a Table with one
//!   row; only the first carries the column definitions, as upstream sends them.
//!   `BOOKMARK` and `ERROR` events are sent as they are.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use kubesim_apimachinery::ApiError;
use serde_json::json;
use tokio::sync::mpsc;

use super::Request;
use super::read::validate_list_options;
use super::write::{present, storage_error};
use crate::filter::Filter;
use crate::response::Result;
use crate::server::ApiServer;
use crate::storage::{
    self, Event, EventType, FeedEnd, WatchFrom, encode_event_line, write_event_line,
};
use crate::table::{self, IncludeObject, TableRequest};

/// Events one write to the socket may carry when a watcher has several waiting.
const MAX_BATCH: usize = 256;

/// The annotation on the bookmark that ends a watch-list's initial events.
const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

/// `GET ...?watch=true`.
pub async fn watch(req: Request) -> Result {
    validate_list_options(&req.query)?;
    let mut filter = Filter::from_query(req.info(), req.target.namespace.as_deref(), &req.query)?;
    if let Some(name) = &req.target.name {
        // `/watch/namespaces/ns/pods/web`: a watch of one object.
        filter.fields =
            kubesim_apimachinery::selector::FieldSelector::parse(&format!("metadata.name={name}"))
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    let table = table::negotiate(&req.headers, &req.query)?.map(|request| TableStream {
        request,
        printer: table::printer_for(req.info()),
        columns_sent: AtomicBool::new(false),
    });
    let bookmarks = req.query.flag("allowWatchBookmarks")?.unwrap_or(false);
    let send_initial = req.query.flag("sendInitialEvents")?;
    let timeout = req
        .query
        .integer("timeoutSeconds")?
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64));
    let rv = match req.query.get("resourceVersion").unwrap_or("") {
        "" | "0" => None,
        rv => Some(
            rv.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version {rv:?}")))?,
        ),
    };
    let from = match (send_initial, rv) {
        // The watch-list: current state, whatever revision was asked for (it is newer).
        (Some(true), _) | (None, None) => WatchFrom::Now,
        (Some(false), None) => WatchFrom::Revision(req.server.storage.revision()),
        (_, Some(rv)) => WatchFrom::Revision(rv),
    };

    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let started = req.server.storage.watch(&req.info().storage_key(), from);
    let stream = Stream {
        server: req.server.clone(),
        info: req.info().clone(),
        filter,
        bookmarks,
        initial_events_end: send_initial == Some(true),
        table,
        timeout,
        skip_through: match from {
            WatchFrom::Revision(rv) => rv,
            WatchFrom::Now => 0,
        },
    };
    match started {
        Ok(watch) => {
            tokio::spawn(stream.run(watch, tx));
        }
        Err(storage::Error::Expired { requested, oldest }) => {
            // Upstream answers 200 and one ERROR event; clients relist on it.
            let status =
                ApiError::expired(format!("too old resource version: {requested} ({oldest})"))
                    .to_json();
            let line = encode_event_line("ERROR", status.to_string().as_bytes());
            let _ = tx.send(line).await;
        }
        Err(err) => return Err(storage_error(req.info(), "", err).into()),
    }
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx).map_ok());
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// A stream of `Result<Bytes, Infallible>` for the response body.
trait MapOk: Sized {
    fn map_ok(
        self,
    ) -> futures::stream::Map<Self, fn(Bytes) -> Result<Bytes, std::convert::Infallible>>;
}
impl<S: futures::Stream<Item = Bytes>> MapOk for S {
    fn map_ok(
        self,
    ) -> futures::stream::Map<Self, fn(Bytes) -> Result<Bytes, std::convert::Infallible>> {
        futures::StreamExt::map(self, Ok)
    }
}

/// What a watch that sends Tables needs: the printer, and whether the column
/// definitions went out yet (they go with the first event only).
struct TableStream {
    request: TableRequest,
    printer: table::Printer,
    columns_sent: AtomicBool,
}

impl TableStream {
    /// One object as a one-row Table; its resourceVersion is the object's.
    fn encode(
        &self,
        info: &kubesim_apimachinery::ResourceInfo,
        object: &storage::Object,
    ) -> Result<Bytes, ApiError> {
        let full = match self.request.include {
            IncludeObject::Object => Some(present(info, object)?),
            IncludeObject::Metadata | IncludeObject::None => None,
        };
        let columns = !self.columns_sent.swap(true, Ordering::Relaxed);
        let value = object.value();
        let source = table::Source {
            value: &value,
            object: full,
        };
        Ok(table::encode(
            &self.request,
            &self.printer,
            &object.resource_version.to_string(),
            columns,
            jiff::Timestamp::now(),
            [source],
        ))
    }
}

/// One open watch, run as its own task until the client goes, the timeout passes, or the
/// live feed ends.
struct Stream {
    server: Arc<ApiServer>,
    info: Arc<kubesim_apimachinery::ResourceInfo>,
    filter: Filter,
    bookmarks: bool,
    initial_events_end: bool,
    /// Set when the client asked for Tables.
    table: Option<TableStream>,
    timeout: Option<Duration>,
    /// Events at or before this revision were asked not to be sent.
    skip_through: u64,
}

impl Stream {
    async fn run(self, watch: storage::Watch, tx: mpsc::Sender<Bytes>) {
        let storage::Watch {
            initial,
            revision,
            mut live,
        } = watch;
        let mut last_sent = revision;
        // An absurd timeout is no timeout rather than an overflow.
        let deadline = self
            .timeout
            .and_then(|t| tokio::time::Instant::now().checked_add(t));

        let mut batch = BytesMut::new();
        for event in &initial {
            self.append(&mut batch, event);
        }
        if self.initial_events_end {
            batch.extend_from_slice(&self.bookmark(revision, true));
        }
        if !batch.is_empty() && tx.send(batch.split().freeze()).await.is_err() {
            return;
        }

        let mut stopping = self.server.stopping.subscribe();
        if *stopping.borrow_and_update() {
            return;
        }
        let mut ticker = tokio::time::interval(
            self.server
                .config
                .bookmark_interval
                .max(Duration::from_millis(10)),
        );
        ticker.tick().await;
        loop {
            let sleep_until_deadline = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                // Whatever is waiting, up to a batch, goes out in one write.
                received = live.next(MAX_BATCH) => {
                    let events = match received {
                        Ok(events) => events,
                        // Too far behind, or the store closed watches: end, and let the
                        // client resume from the last revision it saw.
                        Err(FeedEnd::Lagged | FeedEnd::Closed) => return,
                    };
                    for event in &events {
                        last_sent = event.resource_version();
                        self.append(&mut batch, event);
                    }
                    if !batch.is_empty() && tx.send(batch.split().freeze()).await.is_err() {
                        return;
                    }
                }
                _ = ticker.tick(), if self.bookmarks => {
                    // Every event up to the store's revision has reached this watcher once
                    // its feed is drained, so that revision is a safe place to resume from.
                    if live.is_drained() {
                        last_sent = last_sent.max(self.server.storage.revision());
                    }
                    if tx.send(self.bookmark(last_sent, false)).await.is_err() {
                        return;
                    }
                }
                _ = sleep_until_deadline => return,
                _ = stopping.changed() => return,
                _ = tx.closed() => return,
            }
        }
    }

    /// Add an event to the batch if the watcher's selection sees it, as the type the
    /// selection makes of it.
    fn append(&self, batch: &mut BytesMut, event: &Event) {
        if event.resource_version() <= self.skip_through {
            return;
        }
        let now = self.filter.matches(&event.object.attrs);
        let before = event
            .previous
            .as_ref()
            .is_some_and(|p| self.filter.matches(&p.attrs));
        let kind = match (event.kind, before, now) {
            (EventType::Modified, true, false) => EventType::Deleted,
            (EventType::Modified, false, true) => EventType::Added,
            (EventType::Modified, false, false) => return,
            (EventType::Deleted, true, _) => EventType::Deleted,
            (_, _, true) => event.kind,
            _ => return,
        };
        if let Some(table) = &self.table {
            match table.encode(&self.info, &event.object) {
                Ok(bytes) => write_event_line(batch, kind.as_str(), &bytes),
                Err(err) => tracing::warn!(error = %err, "could not print a watched object"),
            }
            return;
        }
        if self.info.version == self.info.storage_version {
            write_event_line(batch, kind.as_str(), &event.object.bytes);
            return;
        }
        match present(&self.info, &event.object) {
            Ok(bytes) => write_event_line(batch, kind.as_str(), &bytes),
            Err(err) => tracing::warn!(error = %err, "could not convert a watched object"),
        }
    }

    /// A `BOOKMARK`: only `kind`, `apiVersion` and the resourceVersion to resume from.
    fn bookmark(&self, revision: u64, initial_events_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": revision.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({INITIAL_EVENTS_END: "true"});
        }
        let object = json!({"kind": self.info.kind, "apiVersion": self.info.api_version(), "metadata": metadata});
        encode_event_line("BOOKMARK", object.to_string().as_bytes())
    }
}
