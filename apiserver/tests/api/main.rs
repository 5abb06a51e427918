//! The API server's tests over its HTTP router: one test binary, one module per subject,
//! so that CI links it once.

mod apply;
mod common;
mod discovery;
mod lifecycle;
mod openapi;
mod pods;
mod rest;
mod strategic_merge;
mod table;
mod validation;
mod watch;
