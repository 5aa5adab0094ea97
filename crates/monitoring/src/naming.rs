//! Span metrics under other names: the catalog's service-level templates are
//! written with Tempo's names (what Periscope generates); a cluster whose
//! span metrics come from elsewhere (the OpenTelemetry Collector's
//! spanmetrics connector, in front of Jaeger) has them renamed in the parsed
//! query — metric names, label names in matchers and groupings, and
//! millisecond latencies scaled to seconds — and its results' labels renamed
//! back.

use promql_parser::label::{Labels, Matcher, Matchers};
use promql_parser::parser::{self, Expr, LabelModifier, VectorMatchCardinality};
use std::collections::BTreeMap;

/// Tempo's span-metrics names, as the catalog writes them.
pub const TEMPO_CALLS: &str = "traces_spanmetrics_calls_total";
pub const TEMPO_LATENCY_BUCKET: &str = "traces_spanmetrics_latency_bucket";

/// Where a cluster's span metrics are, and under which names.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanMetricNames {
    pub calls: String,
    pub latency_bucket: String,
    /// Catalog label → the cluster's label (`service` → `service_name`).
    pub labels: BTreeMap<String, String>,
    /// What one unit of the latency histogram is in seconds (0.001 for ms).
    pub latency_seconds: f64,
}

impl Default for SpanMetricNames {
    fn default() -> Self {
        Self::tempo()
    }
}

impl SpanMetricNames {
    /// Tempo's metrics-generator (and Periscope's own).
    pub fn tempo() -> Self {
        Self {
            calls: TEMPO_CALLS.into(),
            latency_bucket: TEMPO_LATENCY_BUCKET.into(),
            labels: BTreeMap::new(),
            latency_seconds: 1.0,
        }
    }

    /// The OpenTelemetry Collector's spanmetrics connector as Prometheus
    /// shows it (`traces_span_metrics_calls_total{service_name}`,
    /// `traces_span_metrics_duration_milliseconds_bucket`).
    pub fn otel_collector() -> Self {
        Self {
            calls: "traces_span_metrics_calls_total".into(),
            latency_bucket: "traces_span_metrics_duration_milliseconds_bucket".into(),
            labels: BTreeMap::from([("service".to_string(), "service_name".to_string())]),
            latency_seconds: 0.001,
        }
    }

    fn is_identity(&self) -> bool {
        *self == Self::tempo()
    }

    fn label<'a>(&'a self, name: &'a str) -> &'a str {
        self.labels.get(name).map_or(name, String::as_str)
    }

    /// Renames `expr` (a rendered catalog query) to this cluster's names.
    pub fn rename(&self, expr: &mut Expr) {
        if !self.is_identity() {
            self.visit(expr);
        }
    }

    /// Renames a result's labels back to the catalog's.
    pub fn rename_back(&self, labels: &mut BTreeMap<String, String>) {
        for (catalog, own) in &self.labels {
            if let Some(v) = labels.remove(own) {
                labels.insert(catalog.clone(), v);
            }
        }
    }

    fn visit(&self, expr: &mut Expr) {
        match expr {
            Expr::Aggregate(a) => {
                self.visit(&mut a.expr);
                if let Some(p) = a.param.as_deref_mut() {
                    self.visit(p);
                }
                if let Some(m) = &mut a.modifier {
                    self.modifier(m);
                }
            }
            Expr::Unary(u) => self.visit(&mut u.expr),
            Expr::Binary(b) => {
                self.visit(&mut b.lhs);
                self.visit(&mut b.rhs);
                if let Some(m) = &mut b.modifier {
                    if let Some(matching) = &mut m.matching {
                        self.modifier(matching);
                    }
                    if let VectorMatchCardinality::ManyToOne(l)
                    | VectorMatchCardinality::OneToMany(l) = &mut m.card
                    {
                        self.labels(l);
                    }
                }
            }
            Expr::Paren(p) => self.visit(&mut p.expr),
            Expr::Subquery(s) => self.visit(&mut s.expr),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
            Expr::VectorSelector(v) => self.selector(&mut v.name, &mut v.matchers),
            Expr::MatrixSelector(m) => self.selector(&mut m.vs.name, &mut m.vs.matchers),
            Expr::Call(c) => {
                for arg in &mut c.args.args {
                    self.visit(arg);
                }
                if c.func.name == "histogram_quantile" && self.latency_seconds != 1.0 {
                    let call = std::mem::replace(
                        expr,
                        Expr::NumberLiteral(parser::NumberLiteral { val: 0.0 }),
                    );
                    *expr = self.scaled(call);
                }
            }
        }
    }

    /// `call * latency_seconds`, built from a parsed template.
    fn scaled(&self, call: Expr) -> Expr {
        let mut product = parser::parse(&format!("x * {}", self.latency_seconds))
            .expect("a product with a number parses");
        if let Expr::Binary(b) = &mut product {
            *b.lhs = Expr::Paren(parser::ParenExpr {
                expr: Box::new(call),
            });
        }
        product
    }

    fn selector(&self, name: &mut Option<String>, matchers: &mut Matchers) {
        let renamed = |n: &str| match n {
            TEMPO_CALLS => Some(self.calls.clone()),
            TEMPO_LATENCY_BUCKET => Some(self.latency_bucket.clone()),
            _ => None,
        };
        let mut ours = false;
        if let Some(n) = name.as_mut() {
            if let Some(r) = renamed(n) {
                *n = r;
                ours = true;
            }
        }
        for m in matchers.matchers.iter_mut() {
            if m.name == "__name__" {
                if let Some(r) = renamed(&m.value) {
                    *m = Matcher::new(m.op.clone(), "__name__", &r);
                    ours = true;
                }
            }
        }
        if ours {
            for m in matchers.matchers.iter_mut() {
                let label = self.label(&m.name).to_string();
                if label != m.name {
                    *m = Matcher::new(m.op.clone(), &label, &m.value);
                }
            }
        }
    }

    fn modifier(&self, m: &mut LabelModifier) {
        match m {
            LabelModifier::Include(l) | LabelModifier::Exclude(l) => self.labels(l),
        }
    }

    fn labels(&self, l: &mut Labels) {
        for label in &mut l.labels {
            *label = self.label(label).to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otel_collector_names_replace_tempo_s_and_latency_is_scaled_to_seconds() {
        let names = SpanMetricNames::otel_collector();
        let mut expr = parser::parse(
            r#"histogram_quantile(0.95, sum by (namespace, service, le) (rate(traces_spanmetrics_latency_bucket{service="api", span_kind="SPAN_KIND_SERVER"}[5m])))"#,
        )
        .unwrap();
        names.rename(&mut expr);
        let text = expr.to_string();
        assert!(
            text.contains("traces_span_metrics_duration_milliseconds_bucket"),
            "{text}"
        );
        assert!(text.contains(r#"service_name="api""#), "{text}");
        assert!(text.contains("by (namespace, service_name, le)"), "{text}");
        assert!(text.ends_with("* 0.001"), "{text}");
        assert!(parser::parse(&text).is_ok(), "{text}");
        let mut calls = parser::parse(
            r#"sum by (namespace, service) (rate(traces_spanmetrics_calls_total{service="api"}[5m])) / sum by (namespace, service) (rate(other{service="x"}[5m]))"#,
        )
        .unwrap();
        names.rename(&mut calls);
        let text = calls.to_string();
        assert!(
            text.contains(r#"traces_span_metrics_calls_total{service_name="api"}"#),
            "{text}"
        );
        assert!(
            text.contains(r#"other{service="x"}"#),
            "other metrics keep their labels: {text}"
        );
        let mut labels = BTreeMap::from([("service_name".to_string(), "api".to_string())]);
        names.rename_back(&mut labels);
        assert_eq!(
            labels,
            BTreeMap::from([("service".to_string(), "api".to_string())])
        );
        let mut same = parser::parse("traces_spanmetrics_calls_total").unwrap();
        SpanMetricNames::tempo().rename(&mut same);
        assert_eq!(same.to_string(), "traces_spanmetrics_calls_total");
    }
}
