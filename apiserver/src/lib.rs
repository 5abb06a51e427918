//! The kubesim API server.
pub mod storage;
