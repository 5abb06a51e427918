//! API machinery shared by kubesim's components, as `k8s.io/apimachinery` is upstream.
//!
//! - [`registry`]: which resources exist, their group/version/kind, scope, short names and
//!   subresources. One registry drives routing, discovery and storage, and takes new
//!   resources at run time.
//! - [`status`]: every API error as a `meta/v1 Status` with upstream's reason, code and
//!   message shape, and field errors for `422 Invalid`.
//! - [`selector`]: label and field selectors, parsed and matched as upstream does.
//! - [`validation`]: upstream's name and value checks (`k8s.io/apimachinery/pkg/util/validation`),
//!   with upstream's messages.
//! - [`meta`]: reading and writing `metadata` on objects kept as JSON.
//! - [`encoding`]: what upstream's Go JSON encoder writes for a built-in object (empty
//!   `omitempty` fields left out, non-pointer structs always written).
//! - [`strategic_merge`]: strategic merge patch, with the merge keys and patch strategies
//!   of the built-in types.
//!
//! Nothing here does I/O or knows HTTP.

pub mod apply;
pub mod encoding;
pub mod meta;
pub mod protobuf;
pub mod registry;
pub mod selector;
pub mod status;
pub mod strategic_merge;
pub mod validation;

pub use registry::{Registry, ResourceInfo};
pub use status::{ApiError, FieldError};
