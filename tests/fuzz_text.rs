//! Text-level fuzzing of every parser Periscope exposes (PromQL, `_bulk` and
//! NDJSON, rule groups and templates, drill-down, log and Jaeger parameters,
//! OTLP/JSON): real inputs mutated
//! token by token (`common::fuzz`). The property, for each surface: never a
//! panic, never a 5xx (or an internal gRPC code) for client input, and the
//! server still answers afterwards.
//!
//! The parsers are driven directly with many cases (cheap), then every HTTP
//! and gRPC entry point with fewer, through a real Periscope in front of a
//! real Prometheus, with the embedded log store and the alerting service on.

mod common;

use common::fuzz::{mutated, run_cases, tokens};
use common::*;
use periscope_alerting::{parse_rule_file, Template, TemplateData, TenantLevel};
use periscope_config::{Limits, PromqlConfig};
use periscope_model::{ErrorKind, Scope};
use periscope_tenancy::Enforcer;
use std::collections::BTreeMap;

/// Queries of the shapes dashboards, rules and the PromQL compliance tester send.
const PROMQL: &[&str] = &[
    "up",
    r#"up{job="prometheus",instance=~"local.*"}"#,
    r#"sum by (namespace) (rate(container_cpu_usage_seconds_total{namespace="team-a"}[5m]))"#,
    r#"histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))"#,
    "rate(up[5m] offset 1h)",
    "up @ 1700000000",
    "up @ end() offset -5m",
    "max_over_time(rate(up[1m])[10m:30s])",
    r#"label_replace(up, "x", "$1", "job", "(.*)")"#,
    "topk(3, sum without (instance) (up)) > bool 0.5",
    "up / on (job) group_left (instance) count by (job) (up)",
    r#"count_values("v", up) or vector(1) unless absent(up)"#,
    r#"{__name__=~"kube_pod_.+", namespace!~"kube-.*"}"#,
    "quantile_over_time(0.5, up[1h]) - ignoring (job) -up ^ 2 % 3 atan2 up",
    "clamp_min(predict_linear(node_filesystem_free_bytes[6h], 4 * 3600), 0)",
    "sum(up) by (job) == bool 1e3",
    "time() - timestamp(up) > 3600",
    r#"sort_desc(avg by (pod) (container_memory_working_set_bytes{container!=""}))"#,
    "-(up)",
    "1 + 2 * 3",
];

/// LogQL as Grafana's Loki datasource, dashboards and Explore send it.
const LOGQL: &[&str] = &[
    r#"{namespace="team-a"}"#,
    r#"{namespace="team-a", pod=~"web-.*"} |= "error" or "fail" != "probe" |~ "(?i)timeout""#,
    r#"{k8s_namespace_name="team-a"} | json | level="error" | line_format "{{.msg | trunc 20}}""#,
    r#"{namespace="team-a"} | logfmt --strict | duration > 250ms and size <= 10KB or status=~"5..""#,
    r#"{namespace="team-a"} | pattern "<ip> - <_> \"<method> <path> <_>\"" | method="GET""#,
    r#"{namespace="team-a"} | regexp "(?P<code>\\d{3})" | label_format c=code, t="{{.code}}x" | drop __error__"#,
    r#"sum by (pod) (count_over_time({namespace="team-a"} |= "error" [5m]))"#,
    r#"sum by (level, detected_level) (count_over_time({namespace="team-a"} | drop __error__ [1m]))"#,
    r#"quantile_over_time(0.99, {namespace="team-a"} | json | unwrap duration(latency) | __error__="" [5m]) by (pod)"#,
    r#"topk(5, sum by (pod) (rate({namespace=~".+"}[1m]))) / on (pod) group_left sum by (pod) (bytes_rate({pod=~".+"}[1m]))"#,
    r#"label_replace(sum(rate({namespace="team-a"}[1m])), "x", "$1", "pod", "(.*)") > bool 0.5 or vector(0)"#,
    r#"{source=~"|events", pod="web-0"} | keep pod, reason"#,
    "vector(1)+vector(1)",
    "1 + 2 * -3 ^ 2",
];

/// Fluent Bit `es` output and Elasticsearch client `_bulk` bodies.
const BULK: &[&str] = &[
    concat!(
        r#"{"index":{"_index":"ks-logstash-log-2026.12.01","_type":"_doc"}}"#,
        "\n",
        r#"{"@timestamp":"2026-12-01T08:00:00.123Z","log":"GET /health 200\n","stream":"stdout","kubernetes":{"namespace_name":"team-a","pod_name":"web-1","container_name":"web","docker_id":"abc"}}"#,
        "\n"
    ),
    concat!(
        r#"{"create":{"_index":"logs","_id":"1"}}"#,
        "\n",
        r#"{"time":1764576000,"message":"error: boom","kubernetes_namespace_name":"team-b","kubernetes_pod_name":"db-0"}"#,
        "\n",
        r#"{"delete":{"_index":"logs","_id":"2"}}"#,
        "\n"
    ),
];

/// NDJSON ingest lines.
const NDJSON: &[&str] = &[concat!(
    r#"{"@timestamp":"2026-12-01T08:00:00Z","log":"a line","kubernetes":{"namespace_name":"team-a","pod_name":"p","container_name":"c"}}"#,
    "\n",
    r#"{"time":"1764576000.5","log":"another","kubernetes.namespace_name":"team-a","extra":{"k":[1,2,{"x":null}]}}"#,
)];

/// Tenant rule groups, with templates in their annotations.
const RULE_GROUPS: &[&str] = &[
    "interval: 1m\nrules:\n  - alert: High\n    expr: sum by (pod) (rate(up[5m])) > 0.5\n    for: 5m\n    keep_firing_for: 1m\n    labels: {severity: warning}\n    annotations:\n      summary: '{{ $labels.pod }} is at {{ $value | humanizePercentage }}'\n      description: '{{ if gt $value 1.0 }}high{{ else }}ok{{ end }} {{ printf \"%.2f\" $value }}'\n",
    "name: g\nquery_offset: 30s\nlimit: 10\nlabels: {team: a}\nrules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n    labels: {x: y}\n",
    r#"{"interval":"2m","rules":[{"alert":"A","expr":"up == 0","annotations":{"a":"{{ reReplaceAll \"(.*)\" \"$1\" $labels.job }} {{ humanizeDuration 90 }}"}}]}"#,
];

/// Alert templates as rule files carry them.
const TEMPLATES: &[&str] = &[
    "{{ $labels.instance }} of {{ $labels.job }} is down ({{ $value }})",
    "{{ if ne $labels.severity \"page\" }}{{ $value | humanize1024 }}{{ else }}{{ .Labels.pod | toUpper }}{{ end }}",
    "{{ printf \"%.4g%%\" $value }} at {{ $externalURL }} {{ humanizeTimestamp 1700000000 }}",
    "{{ reReplaceAll \"-[a-z0-9]+$\" \"\" $labels.pod | title }} {{ match \"^a\" $labels.x }}",
    "{{ $x := 1 }}{{ range . }}{{ end }}{{ with $labels }}{{ . }}{{ end }}",
];

/// Drill-down query strings.
const DRILLDOWN_QUERIES: &[&str] = &[
    "metrics=~.*_cpu_usage&page=1&limit=5",
    "metrics=~.*memory.*&time=1700000000",
    "metrics=~.*_cpu_usage,~.*_memory_usage&start=1700000000&end=1700003600&step=60s",
    "metrics=~.*_cpu_usage&resources=~.*a.*&page=2&limit=1",
];

/// Log search query strings (KubeSphere's parameter names).
const LOG_QUERIES: &[&str] = &[
    "operation=query&namespaces=team-a&log_query=error&sort=desc&from=0&size=10",
    "operation=histogram&interval=5m&start_time=1700000000&end_time=1700003600&pods=web-1,web-2",
    "operation=statistics&workloads=web&containers=web&namespace_query=team&pod_query=web",
    "operation=export&format=ndjson&cursor=abc&workspaces=ws-a",
];

/// OTLP/JSON trace requests as the OpenTelemetry exporters send them.
const OTLP_JSON: &[&str] = &[
    r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","startTimeUnixNano":1700000000000000000,"endTimeUnixNano":1700000000000000001}]}]}]}"#,
    r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"k8s.namespace.name","value":{"stringValue":"team-a"}}]},"scopeSpans":[]}]}"#,
    r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}},{"key":"k8s.namespace.name","value":{"stringValue":"team-a"}}]},"scopeSpans":[{"scope":{"name":"lib","version":"1"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","parentSpanId":"eee19b7ec3c1b173","name":"GET /","kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000100000000","attributes":[{"key":"http.status_code","value":{"intValue":"500"}},{"key":"a","value":{"arrayValue":{"values":[{"doubleValue":1.5},{"boolValue":true}]}}}],"events":[{"timeUnixNano":"1700000000050000000","name":"e","attributes":[{"key":"k","value":{"kvlistValue":{"values":[{"key":"x","value":{"bytesValue":"AAE="}}]}}}]}],"links":[{"traceId":"5b8efff798038103d269b633813fc60d","spanId":"eee19b7ec3c1b175"}],"status":{"code":2,"message":"boom"}}]}]}]}"#,
];

/// Jaeger search query strings as Grafana's Jaeger datasource sends them.
const JAEGER_QUERIES: &[&str] = &[
    r#"service=api&operation=GET%20%2F&tags=%7B%22error%22%3A%22true%22%7D&minDuration=10ms&maxDuration=1.5s&limit=20&start=1700000000000000&end=1700003600000000&lookback=custom"#,
    "traceID=5b8efff798038103d269b633813fc60c&traceID=d269b633813fc60c",
    "service=db&tag=http.status_code:500&spanKind=server&endTs=1700003600000&lookback=3600000",
];

const SCOPE: [&str; 2] = ["team-a", "team-a-dev"];

#[test]
fn tokens_cover_the_text_and_split_where_parsers_do() {
    let q = r#"sum by (pod) (rate(x{a="b\"c"}[5m])) > 1e3"#;
    assert_eq!(tokens(q).concat(), q);
    assert!(tokens(q).contains(&"\"b\\\"c\""));
    assert!(tokens(q).contains(&"5m"));
    assert!(tokens(q).contains(&"1e3"));
    assert_eq!(tokens("é🙂").len(), 2);
}

#[test]
fn promql_text_never_panics_the_enforcer_nor_makes_it_fail_inside() {
    let enforcer = Enforcer::from_config(&PromqlConfig::default());
    let tenant = Scope::namespaces(SCOPE.map(String::from));
    let limits = Limits::default();
    let mut accepted = 0;
    run_cases(3000, mutated(PROMQL, &[]), |query| {
        for scope in [&tenant, &Scope::ClusterWide] {
            match enforcer.enforce_query(&query, scope, &limits) {
                Ok(_) => accepted += 1,
                Err(e) => assert_ne!(e.kind(), ErrorKind::Internal, "{query:?}: {e}"),
            }
            if let Err(e) = enforcer.enforce_match(&query, scope) {
                assert_ne!(e.kind(), ErrorKind::Internal, "{query:?}: {e}");
            }
        }
    });
    // The mutations keep many queries valid, so the rewriting paths run too.
    assert!(accepted > 500, "only {accepted} accepted");
}

#[test]
fn rule_groups_and_rule_files_never_panic_their_parsers() {
    let level = TenantLevel::Namespace("team-a".into());
    let limits = Limits::default();
    run_cases(1500, mutated(RULE_GROUPS, PROMQL), |text| {
        let _ = periscope_alerting::tenant::validate_tenant_group(&level, "g", &text, &limits);
        let file = format!("groups:\n- name: g\n{}", indent(&text));
        let _ = parse_rule_file("fuzz.yaml", &file);
    });
}

/// Conditions of kube-events' default rules, KubeSphere auditing's and the
/// audit pack's (Falco fields, lists, macros).
const CONDITIONS: &[&str] = &[
    r#"type="Warning" and involvedObject.kind="Pod" and reason="BackOff" and involvedObject.fieldPath != "" and count>3"#,
    r#"type="Warning" and involvedObject.kind in ("Pod","ReplicaSet","DaemonSet","StatefulSet","Job") and reason="FailedCreate""#,
    r#"not reason in("Pulled") and message contains "restarting" or metadata.namespace like "ks*""#,
    r#"RequestObject.spec.containers[*].ports[*].hostPort > 0 or RequestObject.spec.initContainers[0:2].ports[*].hostPort > 0"#,
    r#"${pod} and ${create} and ObjectRef.Subresource in ("exec", "attach") and Verb not in ${action}"#,
    r#"(kevt_started or kevt) and ka.target.subresource in (exec_subresources) and ka.verb in (create, get)"#,
    r#"ka.req.role.rules.resources intersects ("*") and not ka.user.name startswith "system:" and ka.uri endswith "/x""#,
    r#"involvedObject.name regex "^web-[0-9]+$" and source.component exists and related not exists"#,
];

#[test]
fn event_and_audit_conditions_and_groups_never_panic_their_parsers() {
    use periscope_record_rules::{parse_group, Condition, Context, Dialect, Fields, Literal};
    let mut context = Context {
        fields: Fields::Audit,
        ..Default::default()
    };
    context
        .lists
        .insert("action".into(), vec![Literal::Text("create".into())]);
    context.lists.insert(
        "exec_subresources".into(),
        vec![Literal::Text("exec".into())],
    );
    for name in ["pod", "create", "kevt", "kevt_started"] {
        let m = Condition::parse_in(r#"Verb = "get""#, &context).unwrap();
        context.macros.insert(name.into(), m);
    }
    let record = serde_json::json!({
        "type": "Warning", "reason": "BackOff", "count": 5, "message": "x",
        "involvedObject": {"kind": "Pod", "name": "web-1"},
        "RequestObject": {"spec": {"containers": [{"ports": [{"hostPort": "not a number"}]}]}},
        "ObjectRef": {"Subresource": "exec"}, "Verb": "get", "User": {"username": "system:x"}
    });
    let mut parsed = 0;
    run_cases(
        3000,
        mutated(CONDITIONS, &["(", ")", "not", "[*]", "${", "\\", "\""]),
        |text| {
            for dialect in [Dialect::KubeEvents, Dialect::Strict] {
                context.dialect = dialect;
                if let Ok(c) = Condition::parse_in(&text, &context) {
                    parsed += 1;
                    let _ = c.matches_in(&record, dialect);
                }
            }
            let group = format!(
            "type: audit\nmacros: {{m: 'Verb = \"x\"'}}\nrules:\n  - alert: A\n    condition: {text:?}\n    annotations: {{summary: \"%ka.user.name {{{{ $value }}}}\"}}\n"
        );
            let _ = parse_group(&group, Some("g"));
        },
    );
    assert!(parsed > 500, "only {parsed} parsed");
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

#[test]
fn templates_never_panic_when_parsed_or_expanded() {
    let labels = BTreeMap::from([
        ("instance".to_string(), "node-1:9100".to_string()),
        ("pod".to_string(), "web-7d4b9c-x2".to_string()),
    ]);
    let mut parsed = 0;
    run_cases(
        3000,
        mutated(TEMPLATES, &["$", ".", "|", "-}}", "{{-"]),
        |text| {
            if let Ok(template) = Template::parse(&text) {
                parsed += 1;
                for value in [f64::NAN, f64::INFINITY, -1e300, 0.5] {
                    let _ = template.expand(&TemplateData {
                        labels: Some(&labels),
                        external_labels: None,
                        external_url: "http://periscope",
                        value,
                    });
                }
            }
        },
    );
    assert!(parsed > 500, "only {parsed} parsed");
}

#[test]
fn bulk_bodies_and_documents_never_panic_their_parsers() {
    run_cases(3000, mutated(BULK, NDJSON), |body| {
        let _ = periscope_logs::bulk::parse_bulk(body.as_bytes(), Some("logs"), 0);
        for line in body.lines() {
            let _ = periscope_logs::LogRecord::from_json(line.as_bytes(), 0);
        }
    });
}

#[test]
fn otlp_requests_never_panic_their_decoder() {
    let attributes = periscope_traces::otlp::PlaceAttributes::default();
    for seed in OTLP_JSON {
        if let Err(e) = periscope_traces::otlp::decode_json(seed.as_bytes()) {
            panic!("seed does not decode: {e}: {seed}");
        }
    }
    let mut decoded = 0;
    run_cases(
        3000,
        mutated(OTLP_JSON, &["\"traceId\"", "\"spanId\"", "\"kind\"", "-5"]),
        |body| {
            if let Ok(request) = periscope_traces::otlp::decode_json(body.as_bytes()) {
                decoded += 1;
                let spans = periscope_traces::otlp::spans(request.clone(), &attributes);
                let _ = spans.response();
                let bytes = prost::Message::encode_to_vec(&request);
                let again = periscope_traces::otlp::decode_protobuf(&bytes)
                    .expect("its own encoding decodes");
                assert_eq!(again, request);
            }
            let _ = periscope_traces::otlp::decode_protobuf(body.as_bytes());
        },
    );
    // Almost every token of compact JSON is structural, so most mutations are
    // refused by the decoder (about 1 %); some must pass for the conversion to
    // spans to run on odd values too.
    assert!(decoded > 5, "only {decoded} decoded");
}

#[test]
fn jaeger_query_parameters_never_panic() {
    run_cases(3000, mutated(JAEGER_QUERIES, &[]), |query| {
        let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let _ = periscope_traces::TraceRequest::parse(&params, 1_700_000_000_000_000_000);
        let _ = periscope_traces::query::dependency_window(&params, i64::MAX);
        let _ = periscope_traces::query::dependency_window(&params, i64::MIN);
    });
}

#[test]
fn log_query_parameters_never_panic_nor_fail_inside() {
    let tenant = Scope::namespaces(SCOPE.map(String::from));
    run_cases(3000, mutated(LOG_QUERIES, &[]), |query| {
        let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        for scope in [&tenant, &Scope::ClusterWide] {
            if let Err(e) =
                periscope_logs::LogRequest::parse(&params, scope, 1_700_000_000_000_000_000)
            {
                assert_ne!(e.kind(), ErrorKind::Internal, "{query:?}: {e}");
            }
        }
    });
}

#[test]
fn logql_never_panics_parser_enforcement_or_evaluation() {
    use periscope_logql::eval::{Entry, Limits, LogQuery, MetricQuery};
    use periscope_logql::{Expr, LabelSet};
    let tenant = Scope::namespaces(SCOPE.map(String::from));
    let streams = [
        LabelSet::from_pairs([("namespace", "team-a"), ("pod", "web-0")]),
        LabelSet::from_pairs([("namespace", "team-b"), ("pod", "db-0")]),
    ];
    let lines = [
        r#"{"level":"error","msg":"boom","latency":"250ms"}"#,
        "level=info duration=12ms size=3KB status=503 msg=\"a b\"",
        "10.0.0.1 - - \"GET /api 200\" 404",
        "\u{1b}[31mERROR\u{1b}[0m timeout",
    ];
    let limits = Limits { max_series: 50 };
    run_cases(3000, mutated(LOGQL, &[]), |query| {
        let Ok(mut expr) = periscope_logql::parse(&query) else {
            return;
        };
        periscope_logql::streams::canonicalize(&mut expr);
        if let Err(e) = periscope_tenancy::logql::enforce_logql(&mut expr, &tenant) {
            assert_ne!(e.kind(), ErrorKind::Internal, "{query:?}: {e}");
            return;
        }
        let entries = || {
            (0..8).map(|i| Entry {
                time: 1_700_000_000_000_000_000 + i as i64 * 10_000_000_000,
                line: lines[i % lines.len()],
                stream: &streams[i % 2],
                stream_id: (i % 2) as u64,
            })
        };
        match &expr {
            Expr::Log(l) => {
                let mut q = LogQuery::new(l, 5);
                for e in entries() {
                    q.push(e);
                }
                // team-b's stream never gets through the scoped selector.
                for s in q.finish() {
                    if let Some(namespace) = s.labels.get("namespace") {
                        assert_eq!(namespace, "team-a", "{query:?}");
                    }
                    assert_ne!(s.labels.get("pod"), Some("db-0"), "{query:?}");
                }
            }
            Expr::Metric(m) => {
                let start = 1_700_000_000_000_000_000;
                let mut q =
                    MetricQuery::new(m, start, start + 60_000_000_000, 15_000_000_000, limits);
                let n = q.selections().len();
                for i in 0..n {
                    for e in entries() {
                        if q.push(i, e).is_err() {
                            return;
                        }
                    }
                }
                let _ = q.finish();
            }
        }
    });
}

/// Percent-encodes what a URL cannot carry as it is (controls, spaces,
/// non-ASCII, `#`), leaving `%`, `&` and `=` so broken escapes and
/// parameter shapes reach the server as written.
fn raw_query(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_graphic() && b != b'#' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Fails the test on a 5xx; returns the status.
fn no_server_error(status: u16, surface: &str, input: &str, body: &str) -> u16 {
    assert!(
        status < 500,
        "{surface} answered {status} for {input:?}: {body}"
    );
    status
}

/// Every HTTP and gRPC entry point, mutated inputs for each, one Periscope.
#[test]
fn every_entry_point_answers_mutated_input_without_a_server_error() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "{}\n[alerting]\nbuiltin_rules = false\nbuiltin_event_rules = false\nbuiltin_audit_rules = false\ndata_dir = {:?}\n",
        logs_config(&dir.path().join("logs")),
        dir.path().join("alerting").display().to_string()
    );
    let p = runtime.block_on(periscope_with(&extra));
    let time = eval_time();
    let http = &p.http;
    // Per surface: (answers, successes), so a surface refusing everything
    // (a wrong token, a missing route) cannot pass unnoticed.
    let tally = std::cell::RefCell::new(BTreeMap::<String, (u32, u32)>::new());
    let status = |request: reqwest::RequestBuilder, surface: &str, input: &str| {
        let code = runtime.block_on(async {
            let a = answer(
                request
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{surface}: no answer for {input:?}: {e}")),
            )
            .await;
            no_server_error(a.status, surface, input, &a.raw)
        });
        let mut tally = tally.borrow_mut();
        let entry = tally.entry(surface.to_string()).or_default();
        entry.0 += 1;
        entry.1 += u32::from((200..300).contains(&code));
    };
    let url = |path: &str| format!("{}{path}", p.base);

    run_cases(200, mutated(PROMQL, &[]), |query| {
        for tenant in ["alice", "admin"] {
            let q = http
                .get(url("/prometheus/api/v1/query"))
                .query(&[("query", query.as_str()), ("time", &time)])
                .bearer_auth(token(tenant));
            status(q, "query", &query);
            let r = http
                .post(url("/prometheus/api/v1/query_range"))
                .form(&[
                    ("query", query.as_str()),
                    ("start", &time),
                    ("end", &time),
                    ("step", "15"),
                ])
                .bearer_auth(token(tenant));
            status(r, "query_range", &query);
        }
        for path in ["/prometheus/api/v1/series", "/prometheus/api/v1/labels"] {
            let s = http
                .get(url(path))
                .query(&[("match[]", query.as_str())])
                .bearer_auth(token("alice"));
            status(s, path, &query);
        }
    });

    let mut grpc = runtime.block_on(async {
        let channel = tonic::transport::Channel::from_shared(format!("http://{}", p.grpc))
            .unwrap()
            .connect()
            .await
            .unwrap();
        periscope_proto::v1::metrics_client::MetricsClient::new(channel)
    });
    let t = prometheus().sample().eval_time() as f64;
    run_cases(100, mutated(PROMQL, &[]), |query| {
        let mut request = tonic::Request::new(periscope_proto::v1::QueryRequest {
            query: query.clone(),
            time: Some(t),
            ..Default::default()
        });
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", token("alice")).parse().unwrap(),
        );
        if let Err(e) = runtime.block_on(grpc.query(request)) {
            use tonic::Code;
            assert!(
                !matches!(e.code(), Code::Internal | Code::Unknown | Code::Unavailable),
                "gRPC Query {query:?}: {e:?}"
            );
        }
    });

    run_cases(150, mutated(LOGQL, &[]), |query| {
        let window = [
            ("start", "1700000000"),
            ("end", "1700003600"),
            ("step", "60"),
        ];
        let r = http
            .get(url("/loki/api/v1/query_range"))
            .query(&[("query", query.as_str())])
            .query(&window)
            .bearer_auth(token("alice"));
        status(r, "loki query_range", &query);
        let i = http
            .get(url("/loki/api/v1/query"))
            .query(&[("query", query.as_str()), ("time", "1700000000")])
            .bearer_auth(token("admin"));
        status(i, "loki query", &query);
        let l = http
            .get(url("/loki/api/v1/labels"))
            .query(&[("query", query.as_str())])
            .bearer_auth(token("alice"));
        status(l, "loki labels", &query);
    });

    run_cases(150, mutated(BULK, NDJSON), |body| {
        let b = http
            .post(url("/_bulk"))
            .header("content-type", "application/x-ndjson")
            .bearer_auth(SHIPPER_TOKEN)
            .body(body.clone());
        status(b, "_bulk", &body);
    });
    run_cases(150, mutated(NDJSON, BULK), |body| {
        let b = http
            .post(url("/api/v1/logs/ingest"))
            .bearer_auth(SHIPPER_TOKEN)
            .body(body.clone());
        status(b, "NDJSON ingest", &body);
    });

    // Compact JSON rarely survives a mutation, so the seeds go first as they are.
    let otlp = |body: &str| {
        let t = http
            .post(url("/v1/traces"))
            .header("content-type", "application/json")
            .bearer_auth(SHIPPER_TOKEN)
            .body(body.to_string());
        status(t, "OTLP/HTTP", body);
    };
    OTLP_JSON.iter().for_each(|seed| otlp(seed));
    run_cases(150, mutated(OTLP_JSON, &[]), |body| otlp(&body));
    run_cases(150, mutated(JAEGER_QUERIES, &[]), |query| {
        for tenant in ["alice", "admin"] {
            let j = http
                .get(format!(
                    "{}?{}",
                    url("/jaeger/api/traces"),
                    raw_query(&query)
                ))
                .bearer_auth(token(tenant));
            status(j, "Jaeger traces", &query);
        }
        let d = http
            .get(format!(
                "{}?{}",
                url("/jaeger/api/dependencies"),
                raw_query(&query)
            ))
            .bearer_auth(token("alice"));
        status(d, "Jaeger dependencies", &query);
    });

    run_cases(150, mutated(RULE_GROUPS, PROMQL), |text| {
        let g = http
            .put(url("/api/v1/alerting/namespaces/team-a/groups/fuzz"))
            .bearer_auth(token("alice"))
            .body(text.clone());
        status(g, "tenant rule group", &text);
    });

    let pages = [
        "/api/v1/namespaces",
        "/api/v1/namespaces/team-a/pods",
        "/api/v1/namespaces/team-a/workloads/deployment",
        "/api/v1/workspaces/ws-a",
    ];
    run_cases(150, mutated(DRILLDOWN_QUERIES, &[]), |query| {
        for (i, path) in pages.iter().enumerate() {
            let tenant = if i % 2 == 0 { "alice" } else { "admin" };
            let d = http
                .get(format!("{}?{}", url(path), raw_query(&query)))
                .bearer_auth(token(tenant));
            status(d, path, &query);
        }
    });

    run_cases(150, mutated(LOG_QUERIES, &[]), |query| {
        for tenant in ["alice", "admin"] {
            let l = http
                .get(format!("{}?{}", url("/api/v1/logs"), raw_query(&query)))
                .bearer_auth(token(tenant));
            status(l, "logs", &query);
        }
    });

    // Still answering, and every surface accepted some of its inputs.
    let up = runtime.block_on(p.query("alice", "up"));
    assert_eq!(up.status, 200, "{}", up.raw);
    let tally = tally.into_inner();
    assert_eq!(tally.len(), 18, "{tally:?}");
    for (surface, (answers, successes)) in &tally {
        assert!(
            *successes > 0,
            "{surface}: none of {answers} inputs succeeded"
        );
    }
}
