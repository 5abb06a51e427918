//! kubelet-sim against a real API server: one test binary, one module per subject.

mod common;
mod faults;
mod lifecycle;
mod node_events;
