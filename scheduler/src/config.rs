//! The scheduler's configuration file: the subset of `KubeSchedulerConfiguration`
//! (`kubescheduler.config.k8s.io/v1`) that applies here — profiles with their plugins
//! enabled/disabled per extension point (and `multiPoint`), score weights, `pluginConfig`
//! args, and `percentageOfNodesToScore`. Defaults are upstream v1.35's
//! (`pkg/scheduler/apis/config/v1/default_plugins.go`), without the volume and DRA plugins.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::framework::Plugin;
use crate::framework::runtime::{self, Framework, PluginSet};
use crate::plugins::registry::{self, Handle};

pub const API_VERSION: &str = "kubescheduler.config.k8s.io/v1";
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// Upstream's default multiPoint plugins, in order, with score weights.
pub const DEFAULT_PLUGINS: &[(&str, i64)] = &[
    ("NodeUnschedulable", 0),
    ("NodeName", 0),
    ("TaintToleration", 3),
    ("NodeAffinity", 2),
    ("NodePorts", 0),
    ("NodeResourcesFit", 1),
    ("PodTopologySpread", 2),
    ("InterPodAffinity", 2),
    // Before DefaultPreemption, as upstream inserts it: free an idle claim before
    // evicting a pod.
    ("DynamicResources", 0),
    ("DefaultPreemption", 0),
    ("NodeResourcesBalancedAllocation", 1),
    ("ImageLocality", 1),
    ("DefaultBinder", 0),
];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("could not parse the configuration: {0}")]
    Parse(#[source] serde_yaml_ng::Error),
    #[error("apiVersion {0:?} is not {API_VERSION}")]
    ApiVersion(String),
    #[error("profile {profile}: {source}")]
    Plugin {
        profile: String,
        source: registry::Error,
    },
    #[error("profile {profile}: {source}")]
    Framework {
        profile: String,
        source: runtime::Error,
    },
    #[error("percentageOfNodesToScore {0} must be 0..=100")]
    Percentage(i32),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct File {
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub percentage_of_nodes_to_score: Option<i32>,
    #[serde(default)]
    pub profiles: Vec<Profile>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(default)]
    pub scheduler_name: Option<String>,
    #[serde(default)]
    pub percentage_of_nodes_to_score: Option<i32>,
    #[serde(default)]
    pub plugins: Plugins,
    #[serde(default)]
    pub plugin_config: Vec<PluginConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plugins {
    #[serde(default)]
    pub multi_point: PluginList,
    #[serde(default)]
    pub pre_filter: PluginList,
    #[serde(default)]
    pub filter: PluginList,
    #[serde(default)]
    pub post_filter: PluginList,
    #[serde(default)]
    pub pre_score: PluginList,
    #[serde(default)]
    pub score: PluginList,
    #[serde(default)]
    pub bind: PluginList,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PluginList {
    #[serde(default)]
    pub enabled: Vec<PluginRef>,
    #[serde(default)]
    pub disabled: Vec<PluginRef>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PluginRef {
    pub name: String,
    #[serde(default)]
    pub weight: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PluginConfig {
    pub name: String,
    #[serde(default)]
    pub args: Value,
}

/// Parse a configuration file's text (YAML or JSON).
pub fn parse(text: &str) -> Result<File, Error> {
    let file: File = serde_yaml_ng::from_str(text).map_err(Error::Parse)?;
    if let Some(v) = file.api_version.as_deref()
        && v != API_VERSION
    {
        return Err(Error::ApiVersion(v.to_string()));
    }
    Ok(file)
}

pub fn read(path: &std::path::Path) -> Result<File, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text)
}

fn disables(list: &PluginList, name: &str) -> bool {
    list.disabled
        .iter()
        .any(|d| d.name == name || d.name == "*")
}

impl File {
    /// One framework per profile (a file without profiles has the default one).
    pub fn frameworks(&self, handle: &Handle) -> Result<Vec<Framework>, Error> {
        if let Some(p) = self
            .percentage_of_nodes_to_score
            .filter(|p| !(0..=100).contains(p))
        {
            return Err(Error::Percentage(p));
        }
        let default = [Profile::default()];
        let profiles = if self.profiles.is_empty() {
            &default[..]
        } else {
            &self.profiles[..]
        };
        profiles
            .iter()
            .map(|p| p.framework(handle, self.percentage_of_nodes_to_score))
            .collect()
    }
}

impl Profile {
    pub fn framework(
        &self,
        handle: &Handle,
        global_percentage: Option<i32>,
    ) -> Result<Framework, Error> {
        let name = self
            .scheduler_name
            .clone()
            .unwrap_or_else(|| DEFAULT_SCHEDULER_NAME.to_string());
        let percentage = self.percentage_of_nodes_to_score.or(global_percentage);
        if let Some(p) = percentage.filter(|p| !(0..=100).contains(p)) {
            return Err(Error::Percentage(p));
        }
        let multi = self.multi_point();
        let built = self.build_plugins(&name, &multi, handle)?;
        let set = self.plugin_set(&multi, &built);
        Framework::new(&name, &set, &built, percentage).map_err(|source| Error::Framework {
            profile: name.clone(),
            source,
        })
    }

    /// The multiPoint list, as upstream's `mergePluginSet`: the defaults (unless
    /// disabled), a default the profile enables again replaced in place (its weight, its
    /// position), then the profile's other plugins.
    fn multi_point(&self) -> Vec<(String, i64)> {
        let mp = &self.plugins.multi_point;
        let custom = |n: &str| mp.enabled.iter().find(|e| e.name == n);
        let mut multi: Vec<(String, i64)> = DEFAULT_PLUGINS
            .iter()
            .filter(|(n, _)| !disables(mp, n))
            .map(|(n, w)| {
                custom(n).map_or((n.to_string(), *w), |e| {
                    (e.name.clone(), e.weight.unwrap_or(0))
                })
            })
            .collect();
        for e in &mp.enabled {
            if !multi.iter().any(|(n, _)| n == &e.name) {
                multi.push((e.name.clone(), e.weight.unwrap_or(0)));
            }
        }
        multi
    }

    fn build_plugins(
        &self,
        name: &str,
        multi: &[(String, i64)],
        handle: &Handle,
    ) -> Result<BTreeMap<String, Arc<dyn Plugin>>, Error> {
        let p = &self.plugins;
        let mut names: Vec<String> = multi.iter().map(|(n, _)| n.clone()).collect();
        for list in [
            &p.pre_filter,
            &p.filter,
            &p.post_filter,
            &p.pre_score,
            &p.score,
            &p.bind,
        ] {
            names.extend(list.enabled.iter().map(|e| e.name.clone()));
        }
        names.sort();
        names.dedup();
        let args: BTreeMap<&str, &Value> = self
            .plugin_config
            .iter()
            .map(|c| (c.name.as_str(), &c.args))
            .collect();
        let mut built: BTreeMap<String, Arc<dyn Plugin>> = BTreeMap::new();
        for n in &names {
            let plugin =
                registry::build(n, args.get(n.as_str()).copied(), handle).map_err(|source| {
                    Error::Plugin {
                        profile: name.to_string(),
                        source,
                    }
                })?;
            built.insert(n.clone(), plugin);
        }
        Ok(built)
    }

    /// Each extension point's list, as upstream's `expandMultiPointPlugins`: the plugins
    /// the point enables itself that are also multiPoint ones (explicit overrides, in the
    /// point's order), then the other multiPoint plugins implementing it (unless disabled
    /// there; none after `*`), then the point's other plugins. A score weight set at the
    /// point wins over the multiPoint one; 0 or none means 1.
    fn plugin_set(
        &self,
        multi: &[(String, i64)],
        built: &BTreeMap<String, Arc<dyn Plugin>>,
    ) -> PluginSet {
        let p = &self.plugins;
        let implements = |n: &str, point: &str| {
            let Some(pl) = built.get(n).cloned() else {
                return false;
            };
            match point {
                "preFilter" => pl.as_pre_filter().is_some(),
                "filter" => pl.as_filter().is_some(),
                "postFilter" => pl.as_post_filter().is_some(),
                "preScore" => pl.as_pre_score().is_some(),
                "score" => pl.as_score().is_some(),
                _ => pl.as_bind().is_some(),
            }
        };
        let expand = |point: &str, list: &PluginList| -> Vec<(String, i64)> {
            let explicit = |n: &str| list.enabled.iter().any(|e| e.name == n);
            let from_multi: Vec<&(String, i64)> = multi
                .iter()
                .filter(|(n, _)| implements(n, point) && !disables(list, n))
                .collect();
            let overridden = |n: &str| from_multi.iter().any(|(m, _)| m == n);
            let own = |e: &PluginRef| (e.name.clone(), e.weight.unwrap_or(0));
            let mut out: Vec<(String, i64)> = list
                .enabled
                .iter()
                .filter(|e| overridden(&e.name))
                .map(own)
                .collect();
            out.extend(
                from_multi
                    .iter()
                    .filter(|(n, _)| !explicit(n))
                    .map(|p| (*p).clone()),
            );
            out.extend(
                list.enabled
                    .iter()
                    .filter(|e| !overridden(&e.name))
                    .map(own),
            );
            out
        };
        let names_of = |v: Vec<(String, i64)>| v.into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        PluginSet {
            pre_filter: names_of(expand("preFilter", &p.pre_filter)),
            filter: names_of(expand("filter", &p.filter)),
            post_filter: names_of(expand("postFilter", &p.post_filter)),
            pre_score: names_of(expand("preScore", &p.pre_score)),
            // A score plugin's weight 0 means 1, as upstream's defaulting.
            score: expand("score", &p.score)
                .into_iter()
                .map(|(n, w)| (n, if w == 0 { 1 } else { w }))
                .collect(),
            bind: names_of(expand("bind", &p.bind)),
        }
    }

    #[cfg(test)]
    fn plugin_set_for_tests(&self) -> PluginSet {
        let multi = self.multi_point();
        let built = self
            .build_plugins("test", &multi, &Handle::default())
            .expect("plugins");
        self.plugin_set(&multi, &built)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_has_upstream_weights() {
        let fws = File::default().frameworks(&Handle::default()).unwrap();
        assert_eq!(fws.len(), 1);
        assert_eq!(fws[0].scheduler_name, "default-scheduler");
        let set = plugin_set(&Profile::default());
        assert_eq!(
            set.score,
            vec![
                ("TaintToleration".to_string(), 3),
                ("NodeAffinity".to_string(), 2),
                ("NodeResourcesFit".to_string(), 1),
                ("PodTopologySpread".to_string(), 2),
                ("InterPodAffinity".to_string(), 2),
                ("NodeResourcesBalancedAllocation".to_string(), 1),
                ("ImageLocality".to_string(), 1),
            ]
        );
        assert_eq!(
            set.filter[..3],
            [
                "NodeUnschedulable".to_string(),
                "NodeName".into(),
                "TaintToleration".into()
            ]
        );
        assert_eq!(set.bind, vec!["DefaultBinder".to_string()]);
        assert_eq!(
            set.post_filter,
            vec![
                "DynamicResources".to_string(),
                "DefaultPreemption".to_string()
            ]
        );
    }

    fn plugin_set(p: &Profile) -> PluginSet {
        p.plugin_set_for_tests()
    }

    #[test]
    fn disabling_and_reweighting() {
        let file = parse(
            r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
percentageOfNodesToScore: 100
profiles:
- schedulerName: default-scheduler
  plugins:
    score:
      disabled: [{name: ImageLocality}]
      enabled: [{name: NodeResourcesFit, weight: 5}]
    filter:
      disabled: [{name: "*"}]
      enabled: [{name: NodeResourcesFit}]
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
"#,
        )
        .unwrap();
        let set = plugin_set(&file.profiles[0]);
        assert!(!set.score.iter().any(|(n, _)| n == "ImageLocality"));
        assert_eq!(
            set.score.first(),
            Some(&("NodeResourcesFit".to_string(), 5))
        );
        assert_eq!(set.filter, vec!["NodeResourcesFit".to_string()]);
        let fws = file.frameworks(&Handle::default()).unwrap();
        assert_eq!(fws[0].percentage_of_nodes_to_score, Some(100));
    }

    #[test]
    fn reconfigured_plugins_keep_or_take_upstreams_places() {
        let file = parse(
            r#"
profiles:
- plugins:
    multiPoint:
      enabled: [{name: TaintToleration, weight: 7}]
    score:
      enabled: [{name: ImageLocality, weight: 4}]
"#,
        )
        .unwrap();
        let set = plugin_set(&file.profiles[0]);
        // multiPoint: replaced in place, with its weight. A point's own: first.
        let names: Vec<&str> = set.score.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "ImageLocality",
                "TaintToleration",
                "NodeAffinity",
                "NodeResourcesFit",
                "PodTopologySpread",
                "InterPodAffinity",
                "NodeResourcesBalancedAllocation"
            ]
        );
        assert_eq!((set.score[0].1, set.score[1].1), (4, 7));
        assert_eq!(set.filter[2], "TaintToleration");
        // A point's own weight unset is 1, not the multiPoint weight.
        let file =
            parse("profiles: [{plugins: {score: {enabled: [{name: NodeAffinity}]}}}]").unwrap();
        assert_eq!(
            plugin_set(&file.profiles[0]).score[0],
            ("NodeAffinity".to_string(), 1)
        );
    }

    #[test]
    fn bad_files_are_errors() {
        assert!(matches!(
            parse("apiVersion: kubescheduler.config.k8s.io/v1beta3"),
            Err(Error::ApiVersion(_))
        ));
        let f = parse("profiles: [{plugins: {multiPoint: {enabled: [{name: Nope}]}}}]").unwrap();
        assert!(matches!(
            f.frameworks(&Handle::default()),
            Err(Error::Plugin { .. })
        ));
        let f = parse("profiles: [{pluginConfig: [{name: NodeResourcesFit, args: {scoringStrategy: {type: Random}}}]}]").unwrap();
        assert!(matches!(
            f.frameworks(&Handle::default()),
            Err(Error::Plugin { .. })
        ));
    }
}
