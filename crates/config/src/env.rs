//! `PERISCOPE_*` environment overrides applied to the parsed TOML table.

use crate::ConfigError;
use std::collections::HashMap;
use toml::Value;

const PREFIX: &str = "PERISCOPE_";

/// Variables that configure the process rather than the file (log level and format).
const NOT_CONFIG_KEYS: &[&str] = &[
    "PERISCOPE_LOG",
    "PERISCOPE_LOG_FORMAT",
    "PERISCOPE_PROMETHEUS_BIN",
    "PERISCOPE_PROMTOOL_BIN",
    "PERISCOPE_CONFIG",
];

/// Applies every `PERISCOPE_A__B__0__C=value` in `env` to `table`; returns whether
/// anything changed. Values are read as TOML scalars/arrays when they parse as
/// such (`30`, `true`, `["a","b"]`), else as strings.
pub(crate) fn apply_overrides(
    table: &mut toml::Table,
    env: &HashMap<String, String>,
) -> Result<bool, ConfigError> {
    let mut vars: Vec<(&String, &String)> = env
        .iter()
        .filter(|(k, _)| k.starts_with(PREFIX) && !NOT_CONFIG_KEYS.contains(&k.as_str()))
        .collect();
    vars.sort();
    for (var, raw) in &vars {
        let path: Vec<String> = var[PREFIX.len()..]
            .split("__")
            .map(|s| s.to_ascii_lowercase())
            .collect();
        if path.iter().any(String::is_empty) {
            return Err(ConfigError::Env {
                var: var.to_string(),
                reason: "empty key segment".into(),
            });
        }
        set_path(table, &path, parse_value(raw)).map_err(|reason| ConfigError::Env {
            var: var.to_string(),
            reason,
        })?;
    }
    Ok(!vars.is_empty())
}

fn parse_value(raw: &str) -> Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| Value::String(raw.to_string())),
        Err(_) => Value::String(raw.to_string()),
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: Value) -> Result<(), String> {
    let (first, rest) = path.split_first().ok_or("empty key path")?;
    if rest.is_empty() {
        table.insert(first.clone(), value);
        return Ok(());
    }
    let entry = table
        .entry(first.clone())
        .or_insert_with(|| Value::Table(toml::Table::new()));
    set_in_value(entry, rest, value)
}

fn set_in_value(target: &mut Value, path: &[String], value: Value) -> Result<(), String> {
    match target {
        Value::Table(t) => set_path(t, path, value),
        Value::Array(items) => {
            let (index, rest) = path.split_first().ok_or("empty key path")?;
            let i: usize = index
                .parse()
                .map_err(|_| format!("{index:?} is not an array index"))?;
            let len = items.len();
            let item = items
                .get_mut(i)
                .ok_or_else(|| format!("index {i} is out of range (array has {len} items)"))?;
            if rest.is_empty() {
                *item = value;
                Ok(())
            } else {
                set_in_value(item, rest, value)
            }
        }
        _ => Err(format!("{:?} is not a table or array", path[0])),
    }
}
