//! Golden parse/print cases and malformed queries.

use crate::parse;

/// Each query parses, prints as given (its canonical form), and the print parses to the same tree.
#[test]
fn golden_queries_print_back() {
    for q in [
        r#"{namespace="a"}"#,
        r#"{namespace="a", pod=~"web-.*"} |= "error" != "timeout""#,
        r#"{namespace="a"} |= "a" or "b" |~ "err(or)?" !~ "debug""#,
        r#"{namespace="a"} |> "<_> level=error <_>" !> "<_> probe <_>""#,
        r#"{namespace="a"} | json | level="error" | line_format "{{.msg}}""#,
        r#"{namespace="a"} | json status="response.status", method | status >= 500"#,
        r#"{namespace="a"} | logfmt --strict --keep-empty | duration > 250ms and size <= 10KB or level="warn""#,
        r#"{namespace="a"} | regexp "(?P<ip>\\S+) (?P<verb>\\w+)" | pattern "<_> <path> <_>""#,
        r#"{namespace="a"} | label_format lvl=level, msg="{{.level}}: {{.message}}" | drop __error__, __error_details__"#,
        r#"{namespace="a"} | keep pod, level=~"warn|error" | decolorize | unpack"#,
        r#"count_over_time({namespace="a"} |= "error" [5m])"#,
        r#"sum by (pod) (count_over_time({namespace="a"} |= "error" [5m]))"#,
        r#"sum without (container) (rate({namespace="a"} [1m] offset 1h))"#,
        r#"topk(5, sum by (pod) (bytes_rate({namespace="a"} [5m])))"#,
        r#"quantile_over_time(0.99, {namespace="a"} | json | unwrap duration(latency) | __error__="" [5m]) by (pod)"#,
        r#"avg_over_time({namespace="a"} | logfmt | unwrap bytes(size) [1h])"#,
        r#"sum(rate({namespace="a"} [5m])) / sum(rate({namespace="b"} [5m])) * 100"#,
        r#"sum by (pod) (count_over_time({namespace="a"} [5m])) > bool 10"#,
        r#"sum by (pod) (count_over_time({namespace="a"} [5m])) / on (pod) group_left (node) sum by (pod, node) (count_over_time({namespace="a"} [5m]))"#,
        r#"(sum(count_over_time({namespace="a"} [5m])) + 1) * 2"#,
        r#"2 ^ 3 ^ 2"#,
        r#"vector(1) + vector(1)"#,
        r#"label_replace(rate({namespace="a"} [5m]), "svc", "$1", "pod", "(.*)-[0-9]+")"#,
        r#"absent_over_time({namespace="a", pod="gone"} [10m])"#,
        r#"sum(count_over_time({namespace="a"} [5m])) or vector(0)"#,
        r#"sort_desc(sum by (level) (count_over_time({namespace="a"} | json [5m])))"#,
    ] {
        let e = parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        assert_eq!(e.to_string(), q, "print of {q}");
        assert_eq!(parse(&e.to_string()).unwrap(), e, "reparse of {q}");
    }
}

/// Other spellings parse to the canonical form.
#[test]
fn spellings_normalise() {
    for (q, canonical) in [
        (r#"{namespace="a"}[5m]"#, None),
        (
            r#"count_over_time({namespace="a"}[5m] |= "x")"#,
            Some(r#"count_over_time({namespace="a"} |= "x" [5m])"#),
        ),
        (
            r#"sum(count_over_time({namespace="a"}[5m])) by (pod)"#,
            Some(r#"sum by (pod) (count_over_time({namespace="a"} [5m]))"#),
        ),
        (
            r#"{namespace="a"} | a="b", c!="d" e=~"f""#,
            Some(r#"{namespace="a"} | a="b" and c!="d" and e=~"f""#),
        ),
        ("{namespace=`a`} # comment", Some(r#"{namespace="a"}"#)),
        (
            r#"sum(rate({namespace="a"}[90s]))"#,
            Some(r#"sum(rate({namespace="a"} [1m30s]))"#),
        ),
        (r#"1 + -2"#, Some("1 + -2")),
    ] {
        match canonical {
            None => assert!(parse(q).is_err(), "{q} must not parse"),
            Some(c) => assert_eq!(parse(q).unwrap().to_string(), c, "{q}"),
        }
    }
}

/// Malformed and unsupported queries are refused with the place and the construct.
#[test]
fn malformed_queries_are_named() {
    let mut wrong = Vec::new();
    for (q, offset, needle) in [
        (r#"{namespace="a""#, 14, "expected \",\" or \"}\""),
        (r#"{namespace="a"} |= "#, 19, "quoted string"),
        (r#"{namespace=~"("}"#, 12, "invalid regex"),
        (r#"{namespace="a"} |~ "(""#, 19, "invalid regex"),
        (r#"rate({namespace="a"})"#, 20, "range such as [5m]"),
        (
            r#"sum_over_time({namespace="a"}[5m])"#,
            0,
            "needs an unwrapped range",
        ),
        (
            r#"count_over_time({namespace="a"}[5m]) by (pod)"#,
            0,
            "takes no by/without",
        ),
        (
            r#"{namespace="a"} | unwrap x"#,
            18,
            "only allowed inside a range",
        ),
        (r#"sum({namespace="a"})"#, 0, "needs a metric query"),
        (
            r#"{namespace="a"} + 1"#,
            16,
            "needs metric queries on both sides",
        ),
        (
            r#"count_values("x", rate({a="b"}[1m]))"#,
            0,
            "not supported",
        ),
        (
            r#"{namespace="a"} | line_format "{{ if .a }}x{{ end }}""#,
            30,
            "not supported",
        ),
        (
            r#"{namespace="a"} | json | ip("1.2.3.4")"#,
            25,
            "| ip is not supported",
        ),
        (
            r#"{namespace="a"} | json | level"#,
            30,
            "a comparison after label",
        ),
        (
            r#"{namespace="a"} | size > ip("1.2.3.4")"#,
            25,
            "ip() label filter is not supported",
        ),
        (r#"{namespace="a"} | logfmt --fast"#, 25, "no flag --fast"),
        (r#"topk(0, rate({a="b"}[1m]))"#, 0, "at least 1"),
        (r#"1 > 2"#, 2, "must use bool"),
        (r#"vector(1) and 1"#, 10, "between a scalar and a vector"),
        (r#"frobnicate({a="b"})"#, 0, "unknown function"),
        (r#"{a="b"} | pattern "<a><b>""#, 18, "in a row"),
        (r#"{a="b"} | regexp "(\\w+)""#, 17, "named group"),
        ("{a=\"b\"} ; x", 8, "unexpected character"),
    ] {
        match parse(q) {
            Ok(e) => wrong.push(format!("{q}: parsed as {e}")),
            Err(e) if !e.message.contains(needle) || e.offset != offset => {
                wrong.push(format!("{q}: {e} (expected offset {offset}, {needle:?})"))
            }
            Err(_) => {}
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let q = format!("{}vector(1){}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(parse(&q).unwrap_err().message.contains("nests deeper"));
    let q = format!("{}vector(1)", "sum(".repeat(100));
    assert!(parse(&q).is_err());
    let q = format!(r#"{{a="b"}} | {}x="1"{}"#, "(".repeat(200), ")".repeat(200));
    assert!(parse(&q).unwrap_err().message.contains("nests deeper"));
}

mod fuzz {
    use crate::parse;
    use proptest::prelude::*;

    const PIECES: [&str; 40] = [
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        ",",
        "|",
        "|=",
        "!=",
        "|~",
        "!~",
        "=",
        "=~",
        "\"a\"",
        "`b`",
        "namespace",
        "json",
        "logfmt",
        "unwrap",
        "sum",
        "by",
        "rate",
        "count_over_time",
        "5m",
        "1.5",
        "-",
        "+",
        "or",
        "and",
        "bool",
        "on",
        "group_left",
        "line_format",
        "\"{{.a}}\"",
        "offset",
        "topk",
        "vector",
        "label_format",
        "10KB",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

        /// Any sequence of LogQL's pieces parses or is refused; a query that parses prints to a query that parses the same.
        #[test]
        fn never_panics(pieces in proptest::collection::vec(0..PIECES.len(), 0..30)) {
            let q: Vec<&str> = pieces.iter().map(|i| PIECES[*i]).collect();
            let q = q.join(" ");
            if let Ok(e) = parse(&q) {
                let printed = e.to_string();
                prop_assert_eq!(parse(&printed).expect("a printed query parses"), e);
            }
        }

        /// Arbitrary text never panics the parser.
        #[test]
        fn arbitrary_text(q in "\\PC{0,80}") {
            let _ = parse(&q);
        }
    }
}

mod evaluation {
    use crate::ast::Expr;
    use crate::eval::{Entry, Limits, LogQuery, MetricQuery, QueryValue};
    use crate::{parse, LabelSet};

    const S: i64 = 1_000_000_000;
    const LIMITS: Limits = Limits { max_series: 100 };

    fn streams() -> Vec<LabelSet> {
        vec![
            LabelSet::from_pairs([("namespace", "a"), ("pod", "web-1")]),
            LabelSet::from_pairs([("namespace", "a"), ("pod", "web-2")]),
            LabelSet::from_pairs([("namespace", "b"), ("pod", "db-1")]),
        ]
    }

    /// (stream, second, line), in time order.
    fn lines() -> Vec<(usize, i64, &'static str)> {
        vec![
            (
                0,
                1,
                r#"{"level":"error","msg":"boom","latency":"250ms","namespace":"b"}"#,
            ),
            (1, 2, r#"{"level":"info","msg":"ok","latency":"10ms"}"#),
            (0, 3, r#"{"level":"error","msg":"again","latency":"1s"}"#),
            (
                2,
                4,
                r#"{"level":"error","msg":"other tenant","latency":"5s"}"#,
            ),
            (1, 11, r#"{"level":"error","msg":"late","latency":"30ms"}"#),
            (0, 12, "not json at all error"),
        ]
    }

    fn metric(q: &str, start: i64, end: i64, step: i64) -> Result<QueryValue, String> {
        let Expr::Metric(m) = parse(q).unwrap() else {
            panic!("{q} is a log query")
        };
        let streams = streams();
        let mut eval = MetricQuery::new(&m, start * S, end * S, step * S, LIMITS);
        let selections = eval.selections();
        for (i, sel) in selections.iter().enumerate() {
            for (s, t, line) in lines() {
                if t * S >= sel.from && t * S <= sel.to {
                    let e = Entry {
                        time: t * S,
                        line,
                        stream: &streams[s],
                        stream_id: s as u64,
                    };
                    eval.push(i, e).map_err(|e| e.to_string())?;
                }
            }
        }
        eval.finish().map_err(|e| e.to_string())
    }

    fn points(v: &QueryValue) -> Vec<(String, Vec<(i64, f64)>)> {
        match v {
            QueryValue::Matrix(m) => m
                .iter()
                .map(|s| {
                    (
                        s.labels.to_string(),
                        s.points.iter().map(|(t, v)| (t / S, *v)).collect(),
                    )
                })
                .collect(),
            QueryValue::Scalar(p) => vec![(
                "scalar".into(),
                p.iter().map(|(t, v)| (t / S, *v)).collect(),
            )],
        }
    }

    #[test]
    fn counts_per_window_by_hand() {
        // Windows of 5s ending at 5, 10, 15: (0,5], (5,10], (10,15].
        let v = metric(
            r#"sum by (pod) (count_over_time({namespace="a"} |= "error" [5s]))"#,
            5,
            15,
            5,
        )
        .unwrap();
        assert_eq!(
            points(&v),
            vec![
                (r#"{pod="web-1"}"#.into(), vec![(5, 2.0), (15, 1.0)]),
                (r#"{pod="web-2"}"#.into(), vec![(15, 1.0)]),
            ]
        );
        let v = metric(r#"sum(rate({namespace="a"} [4s]))"#, 4, 4, 0).unwrap();
        assert_eq!(points(&v), vec![("{}".into(), vec![(4, 0.75)])]);
        let v = metric(
            r#"sum(bytes_over_time({namespace="a", pod="web-2"} [20s]))"#,
            20,
            20,
            0,
        )
        .unwrap();
        let expected = (lines()[1].2.len() + lines()[4].2.len()) as f64;
        assert_eq!(points(&v), vec![("{}".into(), vec![(20, expected)])]);
    }

    #[test]
    fn unwrap_durations_and_pipeline_errors() {
        let q = r#"max_over_time({namespace="a"} | json | __error__="" | unwrap duration(latency) [20s]) by (pod)"#;
        let v = metric(q, 20, 20, 0).unwrap();
        assert_eq!(
            points(&v),
            vec![
                (r#"{pod="web-1"}"#.into(), vec![(20, 1.0)]),
                (r#"{pod="web-2"}"#.into(), vec![(20, 0.03)])
            ]
        );
        // The non-JSON line makes the metric query fail, naming the fix.
        let e = metric(
            r#"count_over_time({namespace="a"} | json [20s])"#,
            20,
            20,
            0,
        )
        .unwrap_err();
        assert!(
            e.contains("JSONParserErr") && e.contains(r#"__error__="""#),
            "{e}"
        );
    }

    #[test]
    fn scalars_vectors_and_matching() {
        let v = metric("vector(1)+vector(1)", 4, 4, 0).unwrap();
        assert_eq!(points(&v), vec![("{}".into(), vec![(4, 2.0)])]);
        let v = metric("1 + 2 * 3", 4, 4, 0).unwrap();
        assert_eq!(points(&v), vec![("scalar".into(), vec![(4, 7.0)])]);
        let q = r#"sum by (pod) (count_over_time({namespace="a"} |= "error" [20s])) / on (pod) sum by (pod) (count_over_time({namespace="a"} [20s]))"#;
        let v = metric(q, 20, 20, 0).unwrap();
        assert_eq!(
            points(&v),
            vec![
                (r#"{pod="web-1"}"#.into(), vec![(20, 1.0)]),
                (r#"{pod="web-2"}"#.into(), vec![(20, 0.5)])
            ]
        );
        let v = metric(
            r#"sum by (pod) (count_over_time({namespace="a"} [20s])) > 2"#,
            20,
            20,
            0,
        )
        .unwrap();
        assert_eq!(
            points(&v),
            vec![(r#"{pod="web-1"}"#.into(), vec![(20, 3.0)])]
        );
        let v = metric(
            r#"topk(1, sum by (pod) (count_over_time({namespace="a"} [20s])))"#,
            20,
            20,
            0,
        )
        .unwrap();
        assert_eq!(
            points(&v),
            vec![(r#"{pod="web-1"}"#.into(), vec![(20, 3.0)])]
        );
        let v = metric(
            r#"absent_over_time({namespace="a", pod="web-9"} [20s])"#,
            20,
            20,
            0,
        )
        .unwrap();
        assert_eq!(
            points(&v),
            vec![(r#"{namespace="a", pod="web-9"}"#.into(), vec![(20, 1.0)])]
        );
    }

    #[test]
    fn series_limit_is_named() {
        let Expr::Metric(m) = parse(r#"count_over_time({namespace=~".+"} [1m])"#).unwrap() else {
            panic!()
        };
        let streams = streams();
        let limits = Limits { max_series: 2 };
        let mut eval = MetricQuery::new(&m, 60 * S, 60 * S, 0, limits);
        for (s, t, line) in lines() {
            let e = Entry {
                time: t * S,
                line,
                stream: &streams[s],
                stream_id: s as u64,
            };
            eval.push(0, e).unwrap();
        }
        let e = eval.finish().unwrap_err().to_string();
        assert!(e.contains("maximum of series (2)"), "{e}");
    }

    #[test]
    fn log_queries_keep_stream_labels() {
        let Expr::Log(l) = parse(r#"{namespace="a"} | json | level="error" | line_format "{{.msg}} ({{.namespace}}, {{.namespace_extracted}})""#).unwrap() else {
            panic!()
        };
        let streams = streams();
        let mut q = LogQuery::new(&l, 2);
        for (s, t, line) in lines().into_iter().rev() {
            if !q.push(Entry {
                time: t * S,
                line,
                stream: &streams[s],
                stream_id: s as u64,
            }) {
                break;
            }
        }
        let out = q.finish();
        // Newest first, two lines; db-1 (namespace b) never matches the selector.
        let got: Vec<(String, Vec<&str>)> = out
            .iter()
            .map(|s| {
                (
                    s.labels.get("pod").unwrap().to_string(),
                    s.entries.iter().map(|e| e.1.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("web-1".to_string(), vec!["again (a, )"]),
                ("web-2".to_string(), vec!["late (a, )"]),
            ]
        );
        // A line claiming another namespace keeps its stream's; the claim is `namespace_extracted`.
        let Expr::Log(l) = parse(r#"{namespace="a"} | json | msg="boom""#).unwrap() else {
            panic!()
        };
        let mut q = LogQuery::new(&l, 10);
        for (s, t, line) in lines() {
            q.push(Entry {
                time: t * S,
                line,
                stream: &streams[s],
                stream_id: s as u64,
            });
        }
        let out = q.finish();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].labels.get("namespace"), Some("a"));
        assert_eq!(out[0].labels.get("namespace_extracted"), Some("b"));
    }
}
