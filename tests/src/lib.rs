//! Helpers for kubesim end-to-end tests.
