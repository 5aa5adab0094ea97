//! A classic Prometheus histogram: cumulative bucket counts, sum and count.

/// Observations against fixed upper bounds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Histogram {
    bounds: &'static [f64],
    /// Per bucket (not cumulative); the last one is `+Inf`.
    counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    /// Records one value (`le` buckets are inclusive, as in Prometheus).
    pub fn observe(&mut self, value: f64) {
        let bucket = self.bounds.partition_point(|bound| *bound < value);
        self.counts[bucket] += 1;
        self.sum += value;
        self.count += 1;
    }

    /// Adds `other`'s observations (same bounds).
    pub fn merge(&mut self, other: &Histogram) {
        debug_assert_eq!(self.bounds, other.bounds);
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.sum += other.sum;
        self.count += other.count;
    }

    /// `(le, cumulative count)` for every bucket, `+Inf` last.
    pub fn cumulative(&self) -> impl Iterator<Item = (String, u64)> + '_ {
        let mut total = 0;
        self.counts.iter().enumerate().map(move |(i, n)| {
            total += n;
            let le = match self.bounds.get(i) {
                Some(bound) => format_le(*bound),
                None => "+Inf".to_string(),
            };
            (le, total)
        })
    }
}

/// A bucket bound as Prometheus' client libraries print it (`0.002`, `1`).
fn format_le(bound: f64) -> String {
    let text = bound.to_string();
    text.strip_suffix(".0").map(str::to_string).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_inclusive_and_cumulative() {
        let mut h = Histogram::new(&[0.1, 0.2, 1.0]);
        for v in [0.05, 0.1, 0.15, 5.0] {
            h.observe(v);
        }
        let buckets: Vec<(String, u64)> = h.cumulative().collect();
        assert_eq!(
            buckets,
            vec![
                ("0.1".to_string(), 2),
                ("0.2".to_string(), 3),
                ("1".to_string(), 3),
                ("+Inf".to_string(), 4)
            ]
        );
        assert_eq!(h.count, 4);
        assert!((h.sum - 5.3).abs() < 1e-9);
    }
}
