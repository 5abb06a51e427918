//! Plugin names → constructors, as upstream's `plugins/registry.go`, plus the plugins a
//! program built on this crate adds ([`OutOfTree`], upstream's `app.WithPlugin`).

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::Client;
use serde_json::Value;

use super::*;
use crate::framework::Plugin;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown plugin {0:?}")]
    Unknown(String),
    #[error("invalid args for {plugin}: {message}")]
    InvalidArgs { plugin: String, message: String },
}

/// Builds a plugin from its `pluginConfig` args.
pub type Factory =
    Arc<dyn Fn(Option<&Value>, &Handle) -> Result<Arc<dyn Plugin>, Error> + Send + Sync>;

/// Plugins built outside this crate, by name: they can be enabled in the configuration as
/// the in-tree ones are (an in-tree name keeps its in-tree plugin).
#[derive(Clone, Default)]
pub struct OutOfTree(pub BTreeMap<String, Factory>);

impl std::fmt::Debug for OutOfTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// What constructors may use.
#[derive(Clone, Default)]
pub struct Handle {
    pub client: Option<Client>,
    pub out_of_tree: OutOfTree,
}

/// Every plugin name kubesim knows.
pub const NAMES: &[&str] = &[
    node_unschedulable::NAME,
    node_name::NAME,
    taint_toleration::NAME,
    node_affinity::NAME,
    node_ports::NAME,
    node_resources_fit::NAME,
    pod_topology_spread::NAME,
    inter_pod_affinity::NAME,
    default_preemption::NAME,
    balanced_allocation::NAME,
    image_locality::NAME,
    default_binder::NAME,
];

fn args<T: serde::de::DeserializeOwned + Default>(
    plugin: &str,
    args: Option<&Value>,
) -> Result<T, Error> {
    match args {
        None | Some(Value::Null) => Ok(T::default()),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| Error::InvalidArgs {
            plugin: plugin.to_string(),
            message: e.to_string(),
        }),
    }
}

/// Build the plugin `name` from its `pluginConfig` args.
pub fn build(
    name: &str,
    plugin_args: Option<&Value>,
    handle: &Handle,
) -> Result<Arc<dyn Plugin>, Error> {
    let invalid = |e: &dyn std::fmt::Display| Error::InvalidArgs {
        plugin: name.to_string(),
        message: e.to_string(),
    };
    Ok(match name {
        node_unschedulable::NAME => Arc::new(node_unschedulable::NodeUnschedulable),
        node_name::NAME => Arc::new(node_name::NodeName),
        taint_toleration::NAME => Arc::new(taint_toleration::TaintToleration),
        node_affinity::NAME => Arc::new(node_affinity::NodeAffinity),
        node_ports::NAME => Arc::new(node_ports::NodePorts),
        node_resources_fit::NAME => {
            let a: node_resources_fit::Args = args(name, plugin_args)?;
            Arc::new(node_resources_fit::NodeResourcesFit::new(a).map_err(|e| invalid(&e))?)
        }
        balanced_allocation::NAME => {
            #[derive(serde::Deserialize, Default)]
            struct A {
                #[serde(default)]
                resources: Option<Vec<node_resources_fit::ResourceSpec>>,
            }
            let a: A = args(name, plugin_args)?;
            Arc::new(balanced_allocation::BalancedAllocation::new(
                a.resources
                    .unwrap_or_else(node_resources_fit::default_resources),
            ))
        }
        image_locality::NAME => Arc::new(image_locality::ImageLocality),
        inter_pod_affinity::NAME => Arc::new(inter_pod_affinity::InterPodAffinity),
        pod_topology_spread::NAME => Arc::new(pod_topology_spread::PodTopologySpread),
        dynamic_resources::NAME => Arc::new(dynamic_resources::DynamicResources),
        default_preemption::NAME => {
            let a: default_preemption::Args = args(name, plugin_args)?;
            Arc::new(default_preemption::DefaultPreemption::new(a).map_err(|e| invalid(&e))?)
        }
        default_binder::NAME => Arc::new(default_binder::DefaultBinder::new(handle.client.clone())),
        other => match handle.out_of_tree.0.get(other) {
            Some(factory) => factory(plugin_args, handle)?,
            None => return Err(Error::Unknown(other.to_string())),
        },
    })
}
