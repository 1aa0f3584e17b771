//! The latency histogram of a rollup: a DDSketch (Masson, Rim and Lee, VLDB 2019) with
//! logarithmic buckets of ratio γ = (1 + α) / (1 − α), α = 1 %: a value v goes to bucket
//! ⌈log_γ v⌉, and a quantile read from the buckets is within 1 % of the true value's
//! magnitude (relative error ≤ α), at any scale from 1 µs to hours. Buckets are sparse and
//! merge by adding counts, so a minute's sketch, an hour's and a cluster's are the same thing.
//!
//! Stored as text, `index:count` pairs separated by commas, so both SQLite and PostgreSQL hold it
//! in a TEXT column.

use std::collections::BTreeMap;
use std::fmt::Write;

/// The relative error of every quantile a sketch answers.
pub const RELATIVE_ERROR: f64 = 0.01;

/// γ = (1 + α) / (1 − α).
fn gamma() -> f64 {
    (1.0 + RELATIVE_ERROR) / (1.0 - RELATIVE_ERROR)
}

/// Latencies in microseconds, as a mergeable DDSketch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatencySketch {
    /// Bucket index to count; index 0 holds values of 0 and 1 µs.
    buckets: BTreeMap<i32, u64>,
    count: u64,
}

impl LatencySketch {
    pub fn new() -> LatencySketch {
        LatencySketch::default()
    }

    /// The bucket of `micros`: ⌈log_γ v⌉ (0 for 0 and 1).
    fn index(micros: u64) -> i32 {
        if micros <= 1 {
            return 0;
        }
        // Latencies are far below 2^53 µs, so the f64 is exact enough.
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
        let index = ((micros as f64).ln() / gamma().ln()).ceil() as i32;
        index
    }

    /// The value a bucket stands for: 2γ^i / (γ + 1), within α of every value in it.
    fn value(index: i32) -> f64 {
        if index == 0 {
            return 1.0;
        }
        2.0 * gamma().powi(index) / (gamma() + 1.0)
    }

    pub fn add(&mut self, micros: u64) {
        *self.buckets.entry(Self::index(micros)).or_default() += 1;
        self.count += 1;
    }

    pub fn merge(&mut self, other: &LatencySketch) {
        for (index, count) in &other.buckets {
            *self.buckets.entry(*index).or_default() += count;
        }
        self.count += other.count;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The `q` quantile (0..=1) in microseconds, within [`RELATIVE_ERROR`]; `None` when empty.
    /// The rank is the lower one (`⌊q·(n−1)⌋`, 0-based), as nearest-rank percentiles use.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let rank = (q.clamp(0.0, 1.0) * (self.count - 1) as f64).floor() as u64;
        let mut seen = 0;
        for (index, count) in &self.buckets {
            seen += count;
            if seen > rank {
                return Some(Self::value(*index));
            }
        }
        self.buckets.keys().next_back().map(|i| Self::value(*i))
    }

    /// `index:count,index:count`.
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(self.buckets.len() * 8);
        for (i, (index, count)) in self.buckets.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            let _ = write!(text, "{index}:{count}");
        }
        text
    }

    /// Reads [`LatencySketch::encode`]'s text; pairs that do not read are skipped (a stored
    /// sketch never has any).
    pub fn decode(text: &str) -> LatencySketch {
        let mut sketch = LatencySketch::default();
        for pair in text.split(',').filter(|p| !p.is_empty()) {
            if let Some((index, count)) = pair.split_once(':')
                && let (Ok(index), Ok(count)) = (index.parse::<i32>(), count.parse::<u64>())
            {
                *sketch.buckets.entry(index).or_default() += count;
                sketch.count += count;
            }
        }
        sketch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_the_stated_relative_error() {
        let mut sketch = LatencySketch::new();
        let values: Vec<u64> = (1..=10_000).map(|i| i * 37 % 1_000_003 + 50).collect();
        for v in &values {
            sketch.add(*v);
        }
        let mut sorted = values.clone();
        sorted.sort_unstable();
        for q in [0.0, 0.5, 0.9, 0.95, 0.99, 1.0] {
            #[allow(
                clippy::cast_precision_loss,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss
            )]
            let exact = sorted[(q * (sorted.len() - 1) as f64).floor() as usize] as f64;
            let estimate = sketch.quantile(q).expect("not empty");
            assert!(
                (estimate - exact).abs() <= exact * RELATIVE_ERROR + 1e-9,
                "q{q}: {estimate} vs {exact}"
            );
        }
    }

    #[test]
    fn merged_sketches_equal_one_sketch_of_everything_and_survive_their_text() {
        let (mut a, mut b, mut all) = (LatencySketch::new(), LatencySketch::new(), LatencySketch::new());
        for v in [0, 1, 2, 900, 15_000, 15_001, 3_000_000] {
            a.add(v);
            all.add(v);
        }
        for v in [5, 700, 12_000_000] {
            b.add(v);
            all.add(v);
        }
        a.merge(&b);
        assert_eq!(a, all);
        assert_eq!(LatencySketch::decode(&a.encode()), all);
        assert_eq!(LatencySketch::new().quantile(0.5), None);
    }
}
