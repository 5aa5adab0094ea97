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

/// The workload a pod name belongs to, read back from the suffix its
/// controller generated (the inverse of [`pod_pattern`]); the pod's own name
/// when it has no such suffix.
pub fn workload_of(pod: &str) -> &str {
    let Some((head, tail)) = pod.rsplit_once('-') else {
        return pod;
    };
    if head.is_empty() || tail.is_empty() {
        return pod;
    }
    let is_hash =
        |s: &str| (1..=10).contains(&s.len()) && s.chars().all(|c| HASH_CHARS.contains(c));
    let is_random = |s: &str| {
        s.len() == 5
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    };
    if tail.chars().all(|c| c.is_ascii_digit()) {
        // StatefulSet: name-<ordinal>.
        return head;
    }
    if is_random(tail) {
        // Deployment: name-<hash>-<5>; DaemonSet/Job: name-<5>.
        if let Some((name, hash)) = head.rsplit_once('-') {
            if !name.is_empty() && is_hash(hash) {
                return name;
            }
        }
        return head;
    }
    pod
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_are_read_back_from_pod_names() {
        for (pod, workload) in [
            ("web-7d9c8b6f5d-x2k4q", "web"),
            ("db-0", "db"),
            ("node-exporter-q2x8z", "node-exporter"),
            ("my-app-12", "my-app"),
            ("standalone", "standalone"),
            ("web-ABCDE", "web-ABCDE"),
        ] {
            assert_eq!(workload_of(pod), workload, "{pod}");
            let re = regex::Regex::new(&pod_pattern(workload)).unwrap();
            assert_eq!(re.is_match(pod), workload != pod, "{pod}");
        }
    }

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
