//! The controllers against a real API server: one test binary, one module per controller,
//! so that CI links it once.

mod common;
mod deployment;
mod garbage_collector;
mod node_lifecycle;
mod podgc;
mod replicaset;
mod root_ca_publisher;
