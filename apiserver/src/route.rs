//! Parsing request paths into what they address, as upstream's `RequestInfoFactory` does.

use std::sync::Arc;

use kubesim_apimachinery::{Registry, ResourceInfo};

/// What a request path addresses.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// `/api`: the legacy core group's versions.
    CoreVersions,
    /// `/apis`: every API group.
    Groups,
    /// `/apis/<group>`: one group's versions.
    Group(String),
    /// `/api/v1`, `/apis/<group>/<version>`: the resources of a group/version.
    Resources { group: String, version: String },
    /// A resource collection, object or subresource.
    Resource(Target),
}

/// A resource, and within it perhaps a namespace, an object and a subresource.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub info: Arc<ResourceInfo>,
    /// The namespace in the path; `None` for cluster-scoped resources and for
    /// all-namespaces collections.
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// Addressed under the deprecated `/watch/` prefix.
    pub watch_prefix: bool,
}

const MAX_SEGMENTS: usize = 9;

/// Parse a path; `None` means 404.
pub fn parse(registry: &Registry, path: &str) -> Option<Route> {
    // The longest path is `/apis/<group>/<version>/watch/namespaces/<ns>/<plural>/<name>/
    // <subresource>`; anything longer addresses nothing.
    let mut buffer = [""; MAX_SEGMENTS];
    let mut count = 0;
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        *buffer.get_mut(count)? = segment;
        count += 1;
    }
    match &buffer[..count] {
        ["api"] => Some(Route::CoreVersions),
        ["apis"] => Some(Route::Groups),
        ["api", version, rest @ ..] => resource_route(registry, "", version, rest),
        ["apis", group] => registry
            .all()
            .iter()
            .any(|r| r.group == *group)
            .then(|| Route::Group(group.to_string())),
        ["apis", group, version, rest @ ..] => resource_route(registry, group, version, rest),
        _ => None,
    }
}

fn resource_route(registry: &Registry, group: &str, version: &str, rest: &[&str]) -> Option<Route> {
    let (watch_prefix, rest) = match rest {
        ["watch", tail @ ..] => (true, tail),
        _ => (false, rest),
    };
    let target = |info: Arc<ResourceInfo>, namespace: Option<&str>, tail: &[&str]| {
        if tail.len() > 2 {
            return None;
        }
        Some(Route::Resource(Target {
            info,
            namespace: namespace.map(str::to_string),
            name: tail.first().map(|s| s.to_string()),
            subresource: tail.get(1).map(|s| s.to_string()),
            watch_prefix,
        }))
    };
    match rest {
        // A resource found below proves the group/version is served.
        [] if !watch_prefix && registry.serves_group_version(group, version) => {
            Some(Route::Resources {
                group: group.into(),
                version: version.into(),
            })
        }
        [] => None,
        // `namespaces/<ns>/<resource>...` when <resource> is a namespaced resource here;
        // otherwise `namespaces/<name>/<subresource>` addresses a namespace itself.
        ["namespaces", namespace, plural, tail @ ..] => {
            match registry.get(group, version, plural) {
                Some(info) if info.namespaced => target(info, Some(namespace), tail),
                _ => {
                    let info = registry.get(group, version, "namespaces")?;
                    target(info, None, &rest[1..])
                }
            }
        }
        [plural, tail @ ..] => {
            let info = registry.get(group, version, plural)?;
            // A namespaced object needs its namespace in the path; only its collection
            // may be addressed across all namespaces.
            if info.namespaced && !tail.is_empty() {
                return None;
            }
            target(info, None, tail)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(path: &str) -> Target {
        match parse(&Registry::with_builtins(), path) {
            Some(Route::Resource(t)) => t,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn parses_upstream_paths() {
        let pods = target("/api/v1/namespaces/default/pods");
        assert_eq!(
            (
                pods.info.plural.as_str(),
                pods.namespace.as_deref(),
                pods.name
            ),
            ("pods", Some("default"), None)
        );
        let status = target("/apis/apps/v1/namespaces/ns1/deployments/web/status");
        assert_eq!(status.name.as_deref(), Some("web"));
        assert_eq!(status.subresource.as_deref(), Some("status"));
        let all = target("/api/v1/pods");
        assert_eq!(all.namespace, None);
        let ns = target("/api/v1/namespaces/kube-system");
        assert_eq!(
            (ns.info.plural.as_str(), ns.name.as_deref()),
            ("namespaces", Some("kube-system"))
        );
        let finalize = target("/api/v1/namespaces/x/finalize");
        assert_eq!(finalize.subresource.as_deref(), Some("finalize"));
        let node = target("/api/v1/nodes/n1/status");
        assert_eq!(
            (node.name.as_deref(), node.subresource.as_deref()),
            (Some("n1"), Some("status"))
        );
        let watched = target("/api/v1/watch/namespaces/default/pods/web");
        assert!(watched.watch_prefix);
        // The longest path there is: nine segments.
        let longest = target("/apis/apps/v1/watch/namespaces/a/deployments/b/status");
        assert_eq!(longest.subresource.as_deref(), Some("status"));
        assert_eq!(
            parse(&Registry::with_builtins(), "/apis/apps/v1"),
            Some(Route::Resources {
                group: "apps".into(),
                version: "v1".into()
            })
        );
    }

    #[test]
    fn unknown_paths_are_none() {
        let registry = Registry::with_builtins();
        for path in [
            "/api/v2/pods",
            "/apis/apps/v1/pods",
            "/api/v1/pods/web",
            "/api/v1/namespaces/a/pods/b/c/d",
            "/apis/apps/v1/watch/namespaces/a/deployments/b/status/x",
            "/apis/nope",
            "/apis/nope/v1",
            "/apis/apps/v9",
            "/apis/apps/v9/namespaces/a/deployments",
            "/api/v1/watch",
            "/x",
        ] {
            assert_eq!(parse(&registry, path), None, "{path}");
        }
    }
}
