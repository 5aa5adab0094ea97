//! Log lines carry a pod name, not a workload: a workload filter becomes the
//! pod names its controllers generate (as KubeSphere matches them).

/// Characters of a ReplicaSet's pod-template hash (`rand.SafeEncodeString`).
const HASH_CHARS: &str = "bcdfghjklmnpqrstvwxz2456789";

/// An anchored regular expression matching the pods of workload `name`:
/// Deployment `name-<hash>-<5>`, StatefulSet `name-<n>`, DaemonSet/Job `name-<5>`.
pub fn pod_pattern(name: &str) -> String {
    let name = regex::escape(name);
    format!("^{name}-(?:[{HASH_CHARS}]{{1,10}}-[a-z0-9]{{5}}|[0-9]+|[a-z0-9]{{5}})$")
}

/// The same pattern in Lucene's regular expression syntax (Elasticsearch's
/// `regexp` query: always anchored, no `(?:`), the name's reserved
/// characters escaped.
pub fn lucene_pod_pattern(name: &str) -> String {
    let mut escaped = String::with_capacity(name.len());
    for c in name.chars() {
        if ".?+*|{}[]()\"\\#@&<>~".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    format!("{escaped}-([{HASH_CHARS}]{{1,10}}-[a-z0-9]{{5}}|[0-9]+|[a-z0-9]{{5}})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_of_each_controller_match_and_others_do_not() {
        let re = regex::Regex::new(&pod_pattern("web")).unwrap();
        for pod in ["web-7d9c8b6f5d-x2k4q", "web-0", "web-12", "web-q2x8z"] {
            assert!(re.is_match(pod), "{pod}");
        }
        for pod in [
            "web",
            "webapp-0",
            "web-7d9c8b6f5d-x2k4q-extra",
            "other-web-0",
            "web-ABCDE",
        ] {
            assert!(!re.is_match(pod), "{pod}");
        }
        // Regex characters in the name are literal.
        let dotted = regex::Regex::new(&pod_pattern("a.b")).unwrap();
        assert!(dotted.is_match("a.b-0") && !dotted.is_match("axb-0"));
        assert_eq!(
            lucene_pod_pattern("a.b"),
            "a\\.b-([bcdfghjklmnpqrstvwxz2456789]{1,10}-[a-z0-9]{5}|[0-9]+|[a-z0-9]{5})"
        );
    }
}
