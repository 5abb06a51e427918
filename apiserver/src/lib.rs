//! The kubesim API server: the only component with state.
//!
//! It validates, defaults, stores, versions and streams objects — and makes nothing
//! happen by itself: every controller, the scheduler and the kubelets are its clients.
//!
//! - [`storage`]: objects with resourceVersions, a bounded event history, watches.
//! - [`strategy`]: each built-in kind's defaults and validation.
//! - [`handlers`]: the REST verbs on upstream's paths, watch streams, discovery.
//! - [`table`]: server-side printing, the `Table`s `kubectl get` shows.
//! - [`openapi`]: the OpenAPI v3 documents kubectl validates and explains with.
//! - [`audit`]: the trail of every write, for `kubesim trace`.
//! - [`kubernetes_service`]: the `default/kubernetes` Service and its endpoints, which
//!   upstream's API server also keeps itself.

pub mod allocator;
pub mod audit;
pub mod field_validation;
pub mod filter;
pub mod handlers;
pub mod kubernetes_service;
pub mod managed;
pub mod object;
pub mod openapi;
pub mod request;
pub mod response;
pub mod route;
pub mod server;
pub mod storage;
pub mod strategy;
pub mod system;
pub mod table;

pub use server::{ApiServer, Config, serve};
