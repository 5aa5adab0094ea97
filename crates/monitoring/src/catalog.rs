//! The named-metric catalog: data (`catalog.toml`, embedded; an operator may
//! load their own), validated on load.

use crate::template::Template;
use crate::Level;
use regex::Regex;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// The built-in catalog text.
pub const BUILTIN_CATALOG: &str = include_str!("../catalog.toml");

/// Snippet expansion stops after this many rounds (snippets may nest).
const MAX_SNIPPET_DEPTH: usize = 8;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    snippets: BTreeMap<String, String>,
    levels: BTreeMap<Level, LevelFile>,
    #[serde(default)]
    metrics: Vec<MetricFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LevelFile {
    inventory: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricFile {
    name: String,
    level: Level,
    unit: String,
    help: String,
    query: String,
    /// The workspace metric that sums this namespace metric.
    workspace: Option<String>,
}

/// One named metric.
#[derive(Debug, Clone)]
pub struct MetricDef {
    pub name: String,
    pub level: Level,
    pub unit: String,
    pub help: String,
    /// For a namespace-level template; workspace metrics reuse their namespace
    /// metric's template and sum its values per workspace.
    pub template: Template,
}

/// The catalog: metrics by level and the inventory query of each level.
#[derive(Debug, Clone)]
pub struct Catalog {
    metrics: Vec<MetricDef>,
    by_name: HashMap<String, usize>,
    inventories: BTreeMap<Level, Template>,
}

/// Why a catalog was refused; names the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogError(pub String);

impl std::fmt::Display for CatalogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CatalogError {}

impl Catalog {
    /// The catalog shipped in the binary.
    pub fn builtin() -> Self {
        Self::from_toml(BUILTIN_CATALOG).expect("the built-in catalog is valid (tested)")
    }

    /// Parses and validates a catalog.
    pub fn from_toml(text: &str) -> Result<Self, CatalogError> {
        let file: CatalogFile =
            toml::from_str(text).map_err(|e| CatalogError(format!("invalid catalog: {e}")))?;
        let expand = |what: &str, text: &str| expand_snippets(what, text, &file.snippets);
        let mut inventories = BTreeMap::new();
        for (level, l) in &file.levels {
            if matches!(level, Level::Cluster | Level::Workspace) {
                return Err(CatalogError(format!(
                    "levels.{level}: the {level} level has no inventory query (workspaces come from the tenancy model)"
                )));
            }
            let text = expand(&format!("levels.{level}.inventory"), &l.inventory)?;
            let template = Template::parse(&text).map_err(|e| {
                CatalogError(format!("levels.{level}.inventory does not parse: {e}"))
            })?;
            inventories.insert(*level, template);
        }
        for level in [
            Level::Node,
            Level::Namespace,
            Level::Workload,
            Level::Pod,
            Level::Container,
        ] {
            if !inventories.contains_key(&level) {
                return Err(CatalogError(format!("levels.{level}.inventory is missing")));
            }
        }
        let name_pattern = Regex::new("^[a-z][a-z0-9_]*$").expect("valid regex");
        let mut catalog = Catalog {
            metrics: Vec::new(),
            by_name: HashMap::new(),
            inventories,
        };
        for m in file.metrics {
            let what = format!("metric {:?}", m.name);
            if !name_pattern.is_match(&m.name) {
                return Err(CatalogError(format!(
                    "{what}: names are lower-case letters, digits and underscores"
                )));
            }
            if m.level == Level::Workspace {
                return Err(CatalogError(format!(
                    "{what}: workspace metrics are declared with `workspace = \"...\"` on a namespace metric"
                )));
            }
            if m.unit.is_empty() || m.help.is_empty() {
                return Err(CatalogError(format!("{what}: unit and help are required")));
            }
            let text = expand(&what, &m.query)?;
            let template = Template::parse(&text)
                .map_err(|e| CatalogError(format!("{what}: query does not parse: {e}")))?;
            let def = MetricDef {
                name: m.name.clone(),
                level: m.level,
                unit: m.unit,
                help: m.help,
                template,
            };
            if let Some(rollup) = m.workspace {
                if def.level != Level::Namespace {
                    return Err(CatalogError(format!(
                        "{what}: only namespace metrics can name a workspace metric"
                    )));
                }
                if !name_pattern.is_match(&rollup) {
                    return Err(CatalogError(format!(
                        "{what}: invalid workspace metric name {rollup:?}"
                    )));
                }
                let help = format!("{} Summed over the workspace's namespaces.", def.help);
                catalog.add(MetricDef {
                    name: rollup,
                    level: Level::Workspace,
                    help,
                    ..def.clone()
                })?;
            }
            catalog.add(def)?;
        }
        Ok(catalog)
    }

    fn add(&mut self, def: MetricDef) -> Result<(), CatalogError> {
        if self.by_name.contains_key(&def.name) {
            return Err(CatalogError(format!(
                "metric {:?} is declared twice",
                def.name
            )));
        }
        self.by_name.insert(def.name.clone(), self.metrics.len());
        self.metrics.push(def);
        Ok(())
    }

    /// Every metric, in catalog order.
    pub fn all(&self) -> &[MetricDef] {
        &self.metrics
    }

    /// The metrics of `level`, in catalog order.
    pub fn level(&self, level: Level) -> impl Iterator<Item = &MetricDef> {
        self.metrics.iter().filter(move |m| m.level == level)
    }

    /// A metric by name.
    pub fn get(&self, name: &str) -> Option<&MetricDef> {
        self.by_name.get(name).map(|&i| &self.metrics[i])
    }

    /// The query listing the resources of `level` (none for cluster and
    /// workspace).
    pub fn inventory(&self, level: Level) -> Option<&Template> {
        self.inventories.get(&level)
    }
}

/// Replaces `{{name}}` with the snippet's text, repeatedly (snippets nest).
fn expand_snippets(
    what: &str,
    text: &str,
    snippets: &BTreeMap<String, String>,
) -> Result<String, CatalogError> {
    let mut out = text.to_string();
    for _ in 0..MAX_SNIPPET_DEPTH {
        let Some(start) = out.find("{{") else {
            return Ok(out);
        };
        let end = out[start..]
            .find("}}")
            .map(|e| start + e)
            .ok_or_else(|| CatalogError(format!("{what}: unterminated {{{{ in the query")))?;
        let name = out[start + 2..end].trim().to_string();
        let snippet = snippets
            .get(&name)
            .ok_or_else(|| CatalogError(format!("{what}: unknown snippet {{{{{name}}}}}")))?;
        out = out.replace(&format!("{{{{{name}}}}}"), snippet);
    }
    if out.contains("{{") {
        return Err(CatalogError(format!(
            "{what}: snippets nest deeper than {MAX_SNIPPET_DEPTH}"
        )));
    }
    Ok(out)
}
