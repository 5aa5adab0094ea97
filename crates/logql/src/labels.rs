//! A set of labels, sorted by name: a stream's labels, and the labels a
//! pipeline adds to a line.

use std::fmt;

/// Labels sorted by name, each name once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelSet(Vec<(String, String)>);

impl LabelSet {
    /// From pairs in any order; a later pair replaces an earlier one of the same name.
    pub fn from_pairs<I, K, V>(pairs: I) -> LabelSet
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut set = LabelSet::default();
        for (k, v) in pairs {
            set.set(k.into(), v.into());
        }
        set
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name).ok().map(|i| self.0[i].1.as_str())
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(name))
    }

    /// Sets `name`; an empty value removes it (a label with no value does not exist).
    pub fn set(&mut self, name: String, value: String) {
        if value.is_empty() {
            self.remove(&name);
            return;
        }
        match self.position(&name) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (name, value)),
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.position(name).ok().map(|i| self.0.remove(i).1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Keeps the labels for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        self.0.retain(|(k, v)| keep(k, v));
    }

    /// Only the named labels (`by`), or all but them (`without`).
    pub fn grouped(&self, names: &[String], without: bool) -> LabelSet {
        LabelSet(
            self.0
                .iter()
                .filter(|(k, _)| names.contains(k) != without)
                .cloned()
                .collect(),
        )
    }
}

impl fmt::Display for LabelSet {
    /// Prometheus' text form: `{a="b", c="d"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}={}", crate::ast::quote(v))?;
        }
        f.write_str("}")
    }
}

impl serde::Serialize for LabelSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}
