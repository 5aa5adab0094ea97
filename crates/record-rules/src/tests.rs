//! Golden cases from kube-events' documented and default rules
//! (kubesphere/kube-events `config/crs/cluster-rules-default.yaml`, the
//! event-rule-engine README) and the semantics its visitor has.

use crate::Condition;
use serde_json::{json, Value};

fn backoff() -> Value {
    json!({
        "type": "Warning", "reason": "BackOff", "count": 5,
        "message": "Back-off restarting failed container",
        "metadata": {"namespace": "team-a", "name": "web-1.17c"},
        "involvedObject": {"kind": "Pod", "namespace": "team-a", "name": "web-1", "fieldPath": "spec.containers{web}"},
        "source": {"component": "kubelet", "host": "node-1"}
    })
}

fn check(condition: &str, record: &Value) -> bool {
    Condition::parse(condition)
        .unwrap_or_else(|e| panic!("{condition}: {e}"))
        .matches(record)
        .unwrap_or_else(|e| panic!("{condition}: {e}"))
}

#[test]
fn kube_events_default_rules_match_as_they_do_there() {
    let e = backoff();
    // From cluster-rules-default.yaml.
    assert!(check(
        r#"type="Warning" and involvedObject.kind="Pod" and reason="BackOff""#,
        &e
    ));
    assert!(check(
        r#"type="Warning" and involvedObject.kind="Pod" and reason="BackOff" and involvedObject.fieldPath != "" and count>3"#,
        &e
    ));
    assert!(!check(
        r#"type="Warning" and involvedObject.kind="Pod" and reason="FailedScheduling""#,
        &e
    ));
    assert!(check(
        r#"reason in ("BackOff", "Failed") and source.component = "kubelet""#,
        &e
    ));
    assert!(check(
        r#"message contains "restarting" and not reason in ("Pulled")"#,
        &e
    ));
    assert!(check(r#"metadata.namespace like "team-*""#, &e));
    assert!(check(r#"involvedObject.name regex "^web-[0-9]+$""#, &e));
    assert!(check("count >= 5 and count < 6 and count != 4", &e));
}

#[test]
fn and_or_share_one_precedence_left_to_right_and_not_takes_the_rest() {
    let e = backoff();
    // (true or true) and false = false; SQL would say true or (true and false) = true.
    assert!(!check(
        r#"reason = "BackOff" or type = "Warning" and count > 10"#,
        &e
    ));
    assert!(check(
        r#"reason = "BackOff" or (type = "Warning" and count > 10)"#,
        &e
    ));
    // not (true and false) = true.
    assert!(check(r#"not reason = "BackOff" and count > 10"#, &e));
    assert!(!check(r#"not reason = "BackOff""#, &e));
    assert!(check(r#"! reason = "Pulled""#, &e));
}

#[test]
fn a_missing_field_makes_every_comparison_false_but_not_exists() {
    let e = backoff();
    for condition in [
        r#"related.name = "x""#,
        r#"related.name != "x""#,
        r#"related.name not in ("x")"#,
        r#"related.name not contains "x""#,
        r#"related.name not like "x*""#,
        r#"related.name not regex "x""#,
        "related.count > 0",
        "related.name exists",
    ] {
        assert!(!check(condition, &e), "{condition}");
    }
    assert!(check("related.name not exists", &e));
    assert!(check("involvedObject exists", &e));
    // The prefix not negates the whole comparison, so it holds.
    assert!(check(r#"not related.name = "x""#, &e));
}

#[test]
fn like_and_regex_are_unanchored() {
    let e = json!({"metadata": {"namespace": "my-ks-x"}});
    assert!(check(r#"metadata.namespace like "ks*""#, &e));
    assert!(check(r#"metadata.namespace regex "ks""#, &e));
    assert!(check(r#"metadata.namespace like "my-?s-x""#, &e));
    assert!(
        !check(r#"metadata.namespace like "^ks""#, &e),
        "like escapes regex syntax"
    );
}

#[test]
fn array_paths_reach_any_element_an_index_or_a_slice() {
    // KubeSphere auditing's hostPort rule.
    let audit = json!({"RequestObject": {"spec": {"containers": [
        {"name": "a", "ports": [{"hostPort": 0}]},
        {"name": "b", "ports": [{"hostPort": 8080}], "securityContext": {"privileged": true}}
    ]}}, "User": {"groups": ["system:authenticated", "devs"]}});
    assert!(check(
        "RequestObject.spec.containers[*].ports[*].hostPort > 0",
        &audit
    ));
    assert!(!check(
        "RequestObject.spec.containers[0].ports[*].hostPort > 0",
        &audit
    ));
    assert!(check(
        "RequestObject.spec.containers[1:2].ports[*].hostPort > 0",
        &audit
    ));
    assert!(check(
        "RequestObject.spec.containers[*].securityContext.privileged = true",
        &audit
    ));
    assert!(check(
        "RequestObject.spec.containers[*].securityContext.privileged",
        &audit
    ));
    assert!(check(r#"User.groups contains "devs""#, &audit));
    assert!(check(r#"User.groups[*] contains "devs""#, &audit));
    assert!(
        !check(r#"User.groups contains "dev""#, &audit),
        "an array contains whole elements"
    );
}

#[test]
fn malformed_conditions_are_refused_with_where_and_never_panic() {
    for (condition, expected) in [
        ("", "empty"),
        (r#"reason = "BackOff"#, "not closed"),
        (r#"reason = "a" and"#, "field name"),
        (r#"(reason = "a""#, "expected )"),
        (r#"reason in "a""#, "expected ("),
        (r#"reason in ("a" "b")"#, "expected , or )"),
        (r#"reason regex "(""#, "regex"),
        ("count > true", "booleans"),
        ("reason = ", "expected a string"),
        (r#"reason = "a" reason = "b""#, "expected and, or"),
        ("a[x] = 1", "index"),
        ("a[3:1] = 1", "slice"),
        ("reason not = 1", "after not"),
        ("# = 1", "unexpected"),
    ] {
        let e = Condition::parse(condition).unwrap_err();
        assert!(e.message.contains(expected), "{condition:?}: {e}");
    }
    let deep = "(".repeat(100) + "a = 1" + &")".repeat(100);
    assert!(Condition::parse(&deep)
        .unwrap_err()
        .message
        .contains("nested"));
    // A number literal against text that is not a number is an error of the evaluation.
    let c = Condition::parse("reason > 3").unwrap();
    assert!(c.matches(&backoff()).unwrap_err().contains("not a number"));
}

#[test]
fn no_input_panics() {
    // A deterministic sweep of short inputs over the grammar's alphabet.
    let alphabet: Vec<&str> = vec![
        "a", ".", "[", "]", "*", "0", ":", "(", ")", "\"", "\\", "=", "!", "<", ">", " ", "not",
        "and", "or", "in", ",", "like", "exists", "-", "1e9", "true",
    ];
    let mut seed: u64 = 7;
    for _ in 0..20_000 {
        let mut text = String::new();
        for _ in 0..(seed % 12) {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            text.push_str(alphabet[(seed >> 33) as usize % alphabet.len()]);
        }
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        if let Ok(c) = Condition::parse(&text) {
            let _ = c.matches(&backoff());
        }
    }
}

fn exec_audit() -> Value {
    // An exec into a pod as the apiserver audits it over a websocket (verb
    // get), stored in KubeSphere's PascalCase shape.
    json!({
        "AuditID": "a1", "Stage": "ResponseStarted", "Verb": "get",
        "RequestURI": "/api/v1/namespaces/team-c/pods/db-0/exec?command=sh&container=db",
        "User": {"username": "carol", "groups": ["devs", "system:authenticated"]},
        "ObjectRef": {"Resource": "pods", "Namespace": "team-c", "Name": "db-0", "Subresource": "exec"},
        "ResponseStatus": {"code": 101},
        "Annotations": {"authorization.k8s.io/decision": "allow"}
    })
}

fn audit_context() -> crate::Context {
    let mut context = crate::Context {
        fields: crate::Fields::Audit,
        ..Default::default()
    };
    context.lists.insert(
        "exec_subresources".into(),
        vec![
            crate::Literal::Text("exec".into()),
            crate::Literal::Text("attach".into()),
        ],
    );
    for (name, text) in [
        (
            "pod_subresource",
            r#"ka.target.resource = "pods" and ka.target.subresource exists"#,
        ),
        ("kcreate", r#"ka.verb = "create""#),
        ("kget", r#"ka.verb = "get""#),
    ] {
        let m = Condition::parse_in(text, &context).unwrap();
        context.macros.insert(name.into(), m);
    }
    context
        .aliases
        .insert("user".into(), crate::falco_field("ka.user.name").unwrap());
    context
}

fn check_in(condition: &str, context: &crate::Context, record: &Value) -> bool {
    Condition::parse_in(condition, context)
        .unwrap_or_else(|e| panic!("{condition}: {e}"))
        .matches_in(record, context.dialect)
        .unwrap_or_else(|e| panic!("{condition}: {e}"))
}

#[test]
fn falco_fields_lists_and_macros_read_the_stored_audit_document() {
    let context = audit_context();
    let e = exec_audit();
    // Falco's Attach/Exec Pod, with its macros and a list by bare name.
    assert!(check_in(
        "pod_subresource and (kcreate or kget) and ka.target.subresource in (exec_subresources)",
        &context,
        &e
    ));
    // Falco's bare list items, and `intersects` on a multi-valued field.
    assert!(check_in(
        "ka.target.subresource in (exec, attach) and ka.user.groups intersects (devs)",
        &context,
        &e
    ));
    assert!(check_in(r#"ka.auth.decision = "allow""#, &context, &e));
    assert!(check_in("ka.response.code startswith 10", &context, &e));
    assert!(check_in(
        r#"not ka.user.name startswith "system:""#,
        &context,
        &e
    ));
    assert!(check_in(r#"ka.uri endswith "container=db""#, &context, &e));
    // KubeSphere's `${name}` references and PascalCase paths in one condition.
    assert!(check_in(
        r#"${kget} and ObjectRef.Subresource in ${exec_subresources} and ${user} = "carol""#,
        &context,
        &e
    ));
    assert!(!check_in("kcreate", &context, &e));
    for (bad, expected) in [
        ("${nothing} and kget", "no macro or alias named \"nothing\""),
        ("Verb in ${nothing}", "no list named \"nothing\""),
        ("Verb in ${kget", "not closed"),
        (
            "ka.req.pod.containers.image.repository = \"x\"",
            "not a Falco k8saudit field Periscope knows",
        ),
    ] {
        let err = Condition::parse_in(bad, &context).unwrap_err();
        assert!(err.message.contains(expected), "{bad}: {err}");
    }
    // Without the audit vocabulary, ka.* is just a path that is not there.
    assert!(!check(r#"ka.verb = "get""#, &e));
}

#[test]
fn the_strict_dialect_reads_as_most_people_expect() {
    let strict = crate::Context {
        dialect: crate::Dialect::Strict,
        ..Default::default()
    };
    let e = backoff();
    // `and` binds tighter than `or`: true or (true and false).
    assert!(check_in(
        r#"reason = "BackOff" or type = "Warning" and count > 10"#,
        &strict,
        &e
    ));
    // `not` takes the next term only: (not true) and ... = false.
    assert!(!check_in(
        r#"not reason = "Pulled" and count > 10"#,
        &strict,
        &e
    ));
    assert!(check_in(
        r#"not reason = "Pulled" and count > 3"#,
        &strict,
        &e
    ));
    // Negated operators hold on a missing field.
    for condition in [
        r#"related.name != "x""#,
        r#"related.name not in ("x")"#,
        r#"related.name not contains "x""#,
        r#"related.name not like "x*""#,
    ] {
        assert!(check_in(condition, &strict, &e), "{condition}");
    }
    // Matching is anchored; text against a number is false, not an error.
    assert!(!check_in(r#"metadata.namespace like "team""#, &strict, &e));
    assert!(check_in(r#"metadata.namespace like "team-*""#, &strict, &e));
    assert!(!check_in("reason > 3", &strict, &e));
}

const KUBE_EVENTS_PACK: &str = include_str!("../../../alert-rules/records/kube-events.yaml");
const AUDIT_PACK: &str = include_str!("../../../alert-rules/records/audit.yaml");

/// The rules of a pack that `record` matches.
fn fired(pack: &str, record: &Value) -> Vec<String> {
    let group = crate::parse_group(pack, None).unwrap_or_else(|e| panic!("{e}"));
    group
        .rules
        .iter()
        .filter(|r| r.enabled && r.condition.matches_in(record, group.dialect).unwrap())
        .map(|r| r.alert.clone())
        .collect()
}

#[test]
fn the_built_in_packs_parse_and_match_what_they_are_about() {
    let events = crate::parse_group(KUBE_EVENTS_PACK, None).unwrap();
    assert_eq!(events.kind, crate::RecordKind::Event);
    assert_eq!(events.rules.len(), 63);
    assert_eq!(events.rules.iter().filter(|r| !r.enabled).count(), 1);
    for rule in &events.rules {
        for key in ["summary", "description", "message"] {
            assert!(
                rule.annotations.contains_key(key),
                "{} has no {key}",
                rule.alert
            );
        }
    }
    assert_eq!(fired(KUBE_EVENTS_PACK, &backoff()), ["ContainerBackoff"]);
    let mut pulled = backoff();
    pulled["reason"] = json!("Pulled");
    pulled["type"] = json!("Normal");
    assert!(fired(KUBE_EVENTS_PACK, &pulled).is_empty());

    let audit = crate::parse_group(AUDIT_PACK, None).unwrap();
    assert_eq!(audit.dialect, crate::Dialect::Strict);
    assert!(audit.rules.len() >= 12);
    assert_eq!(fired(AUDIT_PACK, &exec_audit()), ["AttachOrExecPod"]);
    let mut received = exec_audit();
    received["Stage"] = json!("RequestReceived");
    assert!(fired(AUDIT_PACK, &received).is_empty(), "one stage only");
    let privileged = json!({
        "Stage": "ResponseComplete", "Verb": "create", "User": {"username": "mallory"},
        "ObjectRef": {"Resource": "pods", "Namespace": "team-a", "Name": "x"},
        "ResponseStatus": {"code": 201},
        "RequestObject": {"spec": {"hostPID": true, "containers": [
            {"name": "c", "image": "busybox", "securityContext": {"privileged": true}}
        ], "volumes": [{"name": "root", "hostPath": {"path": "/etc"}}]}}
    });
    assert_eq!(
        fired(AUDIT_PACK, &privileged),
        [
            "CreatePrivilegedPod",
            "CreateHostNamespacePod",
            "CreateSensitiveMountPod"
        ]
    );
    let secret_read = |user: &str| {
        json!({"Stage": "ResponseComplete", "Verb": "get", "User": {"username": user},
               "ObjectRef": {"Resource": "secrets", "Namespace": "a", "Name": "db"},
               "ResponseStatus": {"code": 200}})
    };
    assert_eq!(
        fired(AUDIT_PACK, &secret_read("bob")),
        ["SecretReadByNonSystemUser"]
    );
    assert!(fired(
        AUDIT_PACK,
        &secret_read("system:serviceaccount:kube-system:x")
    )
    .is_empty());
    let binding = json!({"Stage": "ResponseComplete", "Verb": "create", "User": {"username": "bob"},
        "ObjectRef": {"Resource": "clusterrolebindings", "Name": "oops"},
        "RequestObject": {"roleRef": {"name": "cluster-admin"}, "subjects": [{"kind": "User", "name": "bob"}]}});
    assert_eq!(fired(AUDIT_PACK, &binding), ["AttachToClusterAdminRole"]);
    let wildcard = json!({"Stage": "ResponseComplete", "Verb": "create", "User": {"username": "bob"},
        "ObjectRef": {"Resource": "clusterroles", "Name": "all"},
        "RequestObject": {"rules": [{"resources": ["*"], "verbs": ["get"]}]}});
    assert_eq!(fired(AUDIT_PACK, &wildcard), ["WildcardRoleCreated"]);
    let anonymous = |uri: &str| {
        json!({"Stage": "ResponseComplete", "Verb": "get", "RequestURI": uri,
               "User": {"username": "system:anonymous"},
               "Annotations": {"authorization.k8s.io/decision": "allow"}})
    };
    assert_eq!(
        fired(AUDIT_PACK, &anonymous("/api/v1/pods")),
        ["AnonymousRequestAllowed"]
    );
    assert!(fired(AUDIT_PACK, &anonymous("/healthz")).is_empty());
    let deletion = json!({"Stage": "ResponseComplete", "Verb": "delete", "User": {"username": "bob"},
        "ObjectRef": {"Resource": "namespaces", "Namespace": "team-a", "Name": "team-a"},
        "ResponseStatus": {"code": 200}});
    assert_eq!(fired(AUDIT_PACK, &deletion), ["NamespaceDeleted"]);
}

#[test]
fn groups_are_validated_with_every_problem_named_by_its_place() {
    let text = r#"
name: g
type: event
interval: 0s
dialect: loose
labels: {"bad-label": x}
macros:
  broken: 'reason = '
rules:
  - alert: A
    condition: 'reason = "BackOff" and'
  - alert: A
    condition: reason = "X"
    threshold: {count: 0, window: 2d, by: ["not a label"]}
    quiet: soon
    labels: {alertname: x}
"#;
    let e = crate::parse_group(text, Some("g")).unwrap_err().0;
    for expected in [
        "interval: must be more than zero",
        "dialect: \"loose\" is neither kube-events nor strict",
        "labels: \"bad-label\" is not a valid label name",
        "macros.broken: condition, at",
        "rules[0].condition: condition, at",
        "rules[1].threshold.count: 0 is not between 1 and 10000",
        "rules[1].threshold.window",
        "rules[1].threshold.by: \"not a label\"",
        "rules[1].quiet",
        "rules[1].labels: \"alertname\"",
    ] {
        assert!(
            e.iter().any(|m| m.contains(expected)),
            "{expected:?} not in {e:?}"
        );
    }
    let renamed =
        crate::parse_group("name: other\ntype: audit\nrules: []\n", Some("g")).unwrap_err();
    assert!(renamed.0[0].contains("differs from the one in the path"));
    let untyped = crate::parse_group("rules: []\n", Some("g")).unwrap_err();
    assert!(untyped.0[0].contains("type"), "{untyped}");
    assert_eq!(
        crate::declared_kind("type: audit\nrules: []\n"),
        Some(crate::RecordKind::Audit)
    );
    assert_eq!(
        crate::declared_kind("rules:\n- alert: x\n  expr: up\n"),
        None
    );
}

fn installed(text: &str, reach: crate::Reach) -> Vec<crate::InstalledRule> {
    let group = std::sync::Arc::new(crate::parse_group(text, None).unwrap());
    (0..group.rules.len())
        .map(|index| crate::InstalledRule {
            group: std::sync::Arc::clone(&group),
            index,
            reach: reach.clone(),
        })
        .collect()
}

fn events(lines: &[Value]) -> Vec<periscope_events::EventRecord> {
    let body: Vec<String> = lines.iter().map(Value::to_string).collect();
    periscope_events::parse_body(&body.join("\n"), "c1", 1 << 20)
        .unwrap()
        .records
}

fn event(namespace: &str, pod: &str, reason: &str, count: u64) -> Value {
    json!({"metadata": {"name": format!("{pod}.{reason}"), "namespace": namespace, "uid": format!("{namespace}-{pod}-{reason}")},
           "involvedObject": {"kind": "Pod", "namespace": namespace, "name": pod, "fieldPath": "spec.containers{app}"},
           "reason": reason, "message": format!("{reason} of {pod}"), "type": "Warning", "count": count,
           "lastTimestamp": "2026-12-01T10:00:00Z"})
}

#[test]
fn the_rule_set_checks_indexed_rules_only_for_their_records_and_keeps_to_each_reach() {
    let tenant = "name: t\ntype: event\nrules:\n  - alert: AnyWarning\n    condition: 'metadata.namespace like \"*\" or type = \"Warning\"'\n    labels: {reason: '%reason'}\n    annotations: {summary: '%message'}\n";
    let mut rules = installed(KUBE_EVENTS_PACK, crate::Reach::All);
    let cluster_rules = rules.len();
    rules.extend(installed(tenant, crate::Reach::Namespace("team-a".into())));
    rules.extend(installed(tenant, crate::Reach::Workspace("ws".into())));
    let set = crate::RuleSet::new::<periscope_events::EventRecord>(rules);
    let (indexed, always) = set.index_sizes();
    assert_eq!(
        always, 2,
        "only the tenant rules have no equality to file under"
    );
    assert_eq!(indexed, cluster_rules);
    let in_ws = |ws: &str, ns: &str| ws == "ws" && ns == "team-b";
    let records = events(&[
        event("team-a", "web-1", "BackOff", 5),
        event("team-b", "api-1", "Pulled", 1),
        event("team-c", "db-0", "Unhealthy", 2),
    ]);
    let found = set.evaluate(&records, &in_ws);
    assert!(found.errors.is_empty(), "{:?}", found.errors);
    let names: Vec<(String, String)> = found
        .matches
        .iter()
        .map(|m| {
            let r = &set.rules()[m.rule];
            (r.rule().alert.clone(), m.labels["namespace"].clone())
        })
        .collect();
    assert_eq!(
        names,
        [
            ("ContainerBackoff".to_string(), "team-a".to_string()),
            ("AnyWarning".to_string(), "team-a".to_string()),
            ("AnyWarning".to_string(), "team-b".to_string()),
        ],
        "team-c's record reaches no tenant rule, and count 2 is below ContainerBackoff's"
    );
    let backoff = &found.matches[0];
    assert_eq!(backoff.labels["pod"], "web-1");
    assert_eq!(backoff.labels["container"], "app");
    assert_eq!(backoff.labels["alerttype"], "event");
    assert_eq!(backoff.labels["cluster"], "c1");
    assert_eq!(
        found.matches[1].labels["reason"], "BackOff",
        "a %field label"
    );
    assert_eq!(found.matches[1].fields, ["BackOff of web-1"]);
}
