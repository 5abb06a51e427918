//! Controllers (issue 6).
