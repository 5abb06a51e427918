//! The kubeconfig `kubesim up` writes, so that kubectl needs nothing but `KUBECONFIG`.

use std::path::{Path, PathBuf};

/// `$XDG_CACHE_HOME/kubesim/kubeconfig` or `~/.cache/kubesim/kubeconfig`; the working
/// directory when neither is known.
pub fn default_path() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")));
    match cache {
        Some(dir) => dir.join("kubesim").join("kubeconfig"),
        None => PathBuf::from("kubesim.kubeconfig"),
    }
}

/// A kubeconfig with one cluster, user and context, all named `kubesim`.
pub fn render(server: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: kubesim
  cluster:
    server: {server}
users:
- name: kubesim
  user: {{}}
contexts:
- name: kubesim
  context:
    cluster: kubesim
    user: kubesim
    namespace: default
current-context: kubesim
preferences: {{}}
"
    )
}

pub fn write(path: &Path, server: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, render(server))
}
