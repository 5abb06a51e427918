//! Label and field selectors, parsed and matched as upstream does
//! (`k8s.io/apimachinery/pkg/labels`, `pkg/fields`).
//!
//! (Being written; see the helper task.)
