//! Loki's JSON answers, written directly (log answers can hold many lines):
//! `{"status":"success","data":{"resultType":…,"result":…,"stats":…}}` with
//! stream entries `["<unix ns>", "<line>"]` and samples `[<unix s>, "<value>"]`.

use crate::eval::{QueryValue, Series, Stream};
use crate::labels::LabelSet;
use std::fmt::Write;

/// What a query read and how long it took, for Loki's `stats.summary`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub lines: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub returned: u64,
}

/// A value as Prometheus prints it: `2`, `0.5`, `+Inf`, `NaN`.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

/// Unix ns as Loki's sample time: seconds with up to nine decimals.
pub fn format_seconds(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    if frac == 0 {
        return secs.to_string();
    }
    let digits = format!("{frac:09}");
    format!("{secs}.{}", digits.trim_end_matches('0'))
}

fn json_string(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).expect("strings serialize"));
}

fn labels_json(out: &mut String, labels: &LabelSet) {
    out.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(out, k);
        out.push(':');
        json_string(out, v);
    }
    out.push('}');
}

fn envelope(result_type: &str, result: &str, stats: &Stats) -> String {
    let mut out = String::with_capacity(result.len() + 400);
    out.push_str(r#"{"status":"success","data":{"resultType":""#);
    out.push_str(result_type);
    out.push_str(r#"","result":"#);
    out.push_str(result);
    out.push_str(r#","stats":"#);
    stats_json(&mut out, stats);
    out.push_str("}}");
    out
}

fn stats_json(out: &mut String, s: &Stats) {
    let per_second = |n: u64| {
        if s.seconds > 0.0 {
            (n as f64 / s.seconds) as u64
        } else {
            0
        }
    };
    let _ = write!(
        out,
        r#"{{"summary":{{"bytesProcessedPerSecond":{},"linesProcessedPerSecond":{},"totalBytesProcessed":{},"totalLinesProcessed":{},"execTime":{},"queueTime":0,"totalEntriesReturned":{}}}}}"#,
        per_second(s.bytes),
        per_second(s.lines),
        s.bytes,
        s.lines,
        s.seconds,
        s.returned
    );
}

/// A log query's answer (`resultType: streams`).
pub fn streams(streams: &[Stream], stats: &Stats) -> String {
    let mut result = String::from("[");
    write_streams(&mut result, streams);
    result.push(']');
    envelope("streams", &result, stats)
}

/// A range query's numbers as a `matrix`; a scalar query's points are one
/// series without labels.
pub fn matrix(value: &QueryValue, stats: &Stats) -> String {
    let owned;
    let series: &[Series] = match value {
        QueryValue::Matrix(m) => m,
        QueryValue::Scalar(points) => {
            owned = [Series {
                labels: LabelSet::default(),
                points: points.clone(),
            }];
            &owned
        }
    };
    let mut result = String::from("[");
    for (i, s) in series.iter().enumerate() {
        if i > 0 {
            result.push(',');
        }
        result.push_str(r#"{"metric":"#);
        labels_json(&mut result, &s.labels);
        result.push_str(r#","values":["#);
        for (j, (t, v)) in s.points.iter().enumerate() {
            if j > 0 {
                result.push(',');
            }
            let _ = write!(result, "[{},\"{}\"]", format_seconds(*t), format_value(*v));
        }
        result.push_str("]}");
    }
    result.push(']');
    envelope("matrix", &result, stats)
}

/// An instant query's numbers (`vector`, or `scalar`).
pub fn instant(value: &QueryValue, stats: &Stats) -> String {
    match value {
        QueryValue::Scalar(points) => {
            let (t, v) = points.first().copied().unwrap_or((0, f64::NAN));
            let result = format!("[{},\"{}\"]", format_seconds(t), format_value(v));
            envelope("scalar", &result, stats)
        }
        QueryValue::Matrix(series) => {
            let mut result = String::from("[");
            let mut first = true;
            for s in series {
                let Some((t, v)) = s.points.last() else {
                    continue;
                };
                if !first {
                    result.push(',');
                }
                first = false;
                result.push_str(r#"{"metric":"#);
                labels_json(&mut result, &s.labels);
                let _ = write!(
                    result,
                    r#","value":[{},"{}"]}}"#,
                    format_seconds(*t),
                    format_value(*v)
                );
            }
            result.push(']');
            envelope("vector", &result, stats)
        }
    }
}

/// A tail message: `{"streams":[…],"dropped_entries":null}`.
pub fn tail_message(streams: &[Stream]) -> String {
    let mut out = String::from(r#"{"streams":["#);
    write_streams(&mut out, streams);
    out.push_str(r#"],"dropped_entries":null}"#);
    out
}

fn write_streams(result: &mut String, streams: &[Stream]) {
    for (i, s) in streams.iter().enumerate() {
        if i > 0 {
            result.push(',');
        }
        result.push_str(r#"{"stream":"#);
        labels_json(result, &s.labels);
        result.push_str(r#","values":["#);
        for (j, (t, line)) in s.entries.iter().enumerate() {
            if j > 0 {
                result.push(',');
            }
            let _ = write!(result, "[\"{t}\",");
            json_string(result, line);
            result.push(']');
        }
        result.push_str("]}");
    }
}

/// `{"status":"success","data":[…]}` for label names or values.
pub fn names(values: &[String]) -> String {
    let mut out = String::from(r#"{"status":"success","data":["#);
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(&mut out, v);
    }
    out.push_str("]}");
    out
}

/// `{"status":"success","data":[{labels}, …]}` for series.
pub fn series(sets: &[LabelSet]) -> String {
    let mut out = String::from(r#"{"status":"success","data":["#);
    for (i, s) in sets.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        labels_json(&mut out, s);
    }
    out.push_str("]}");
    out
}

/// A volume answer: a Prometheus vector (or matrix for ranges) of bytes per label set.
pub fn volume_vector(samples: &[(LabelSet, f64)], at: i64) -> String {
    let mut out = String::from(r#"{"status":"success","data":{"resultType":"vector","result":["#);
    for (i, (labels, v)) in samples.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"metric":"#);
        labels_json(&mut out, labels);
        let _ = write!(
            out,
            r#","value":[{},"{}"]}}"#,
            format_seconds(at),
            format_value(*v)
        );
    }
    out.push_str("]}}");
    out
}

/// A volume range answer: a Prometheus matrix.
pub fn volume_matrix(series: &[Series]) -> String {
    let mut out = String::from(r#"{"status":"success","data":{"resultType":"matrix","result":["#);
    for (i, s) in series.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"metric":"#);
        labels_json(&mut out, &s.labels);
        out.push_str(r#","values":["#);
        for (j, (t, v)) in s.points.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            let _ = write!(out, "[{},\"{}\"]", format_seconds(*t), format_value(*v));
        }
        out.push_str("]}");
    }
    out.push_str("]}}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_values_as_loki_prints_them() {
        assert_eq!(format_seconds(4_000_000_000), "4");
        assert_eq!(format_seconds(1_700_000_000_123_000_000), "1700000000.123");
        assert_eq!(format_value(2.0), "2");
        assert_eq!(format_value(0.25), "0.25");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
    }

    #[test]
    fn stream_entries_are_string_pairs() {
        let s = Stream {
            labels: LabelSet::from_pairs([("namespace", "a")]),
            entries: vec![(5, "x \"y\"".into())],
        };
        let text = streams(&[s], &Stats::default());
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["data"]["resultType"], "streams");
        assert_eq!(v["data"]["result"][0]["stream"]["namespace"], "a");
        assert_eq!(
            v["data"]["result"][0]["values"][0],
            serde_json::json!(["5", "x \"y\""])
        );
    }
}
