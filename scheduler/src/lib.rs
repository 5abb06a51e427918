//! The kubesim scheduler: filter and score plugins, binding through `pods/binding`. (Issue 4.)
