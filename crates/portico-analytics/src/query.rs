//! Queries over the rollups of every node: time series of counts, latency percentiles, errors
//! by code, top-N. A query is checked first ([`Window::new`]): a bounded, forward range whose
//! granularity gives at most [`MAX_POINTS`] buckets; a refusal names the parameter. Counts are
//! added up by the database; sketches and error codes are merged here.

use std::collections::BTreeMap;

use portico_store::{RollupFilter, RollupGroup, RollupSum, Store};

use crate::AnalyticsError;
use crate::event::StatusClass;
use crate::rollup::{DAY, HOUR, MINUTE, add_codes, bucket_start};
use crate::sketch::LatencySketch;

/// The most buckets one series may have (a day of minutes fits; two do not).
pub const MAX_POINTS: i64 = 1_500;

/// A bucket width queries go by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Minute,
    Hour,
    Day,
}

impl Granularity {
    pub fn parse(text: &str) -> Option<Granularity> {
        match text {
            "minute" => Some(Granularity::Minute),
            "hour" => Some(Granularity::Hour),
            "day" => Some(Granularity::Day),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Minute => "minute",
            Granularity::Hour => "hour",
            Granularity::Day => "day",
        }
    }

    /// The width in seconds (the rollups' resolution).
    pub fn seconds(self) -> i64 {
        match self {
            Granularity::Minute => MINUTE,
            Granularity::Hour => HOUR,
            Granularity::Day => DAY,
        }
    }

    /// The finest granularity that gives at most [`MAX_POINTS`] buckets over `span_ms`.
    pub fn finest_for(span_ms: i64) -> Granularity {
        [Granularity::Minute, Granularity::Hour]
            .into_iter()
            .find(|g| points(span_ms, *g) <= MAX_POINTS)
            .unwrap_or(Granularity::Day)
    }
}

fn points(span_ms: i64, granularity: Granularity) -> i64 {
    let width = granularity.seconds() * 1000;
    (span_ms + width - 1) / width
}

/// A query refused, naming the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{parameter}: {message}")]
pub struct QueryError {
    pub parameter: &'static str,
    pub message: String,
}

impl QueryError {
    pub fn new(parameter: &'static str, message: impl Into<String>) -> QueryError {
        QueryError {
            parameter,
            message: message.into(),
        }
    }
}

/// A checked time window: `[from, to)` aligned out to whole buckets of `granularity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: i64,
    pub to: i64,
    pub granularity: Granularity,
}

impl Window {
    /// Checks a range (milliseconds since the epoch) and granularity; `None` granularity picks
    /// the finest that fits.
    pub fn new(from: Option<i64>, to: Option<i64>, granularity: Option<Granularity>) -> Result<Window, QueryError> {
        let from = from.ok_or_else(|| QueryError::new("from", "is required: an unbounded time range is refused"))?;
        let to = to.ok_or_else(|| QueryError::new("to", "is required: an unbounded time range is refused"))?;
        if from < 0 {
            return Err(QueryError::new("from", "must not be before 1970"));
        }
        if to <= from {
            return Err(QueryError::new(
                "to",
                format!("{to} is not after from ({from}): a reversed or empty range"),
            ));
        }
        let granularity = granularity.unwrap_or_else(|| Granularity::finest_for(to - from));
        let width = granularity.seconds() * 1000;
        let from = bucket_start(from, granularity.seconds());
        let to = bucket_start(to + width - 1, granularity.seconds());
        let count = points(to - from, granularity);
        if count > MAX_POINTS {
            return Err(QueryError::new(
                "granularity",
                format!(
                    "{} is too fine for this range: {count} buckets, at most {MAX_POINTS} (use a coarser one)",
                    granularity.as_str()
                ),
            ));
        }
        Ok(Window { from, to, granularity })
    }

    /// The bucket starts, in order.
    pub fn buckets(&self) -> impl Iterator<Item = i64> + '_ {
        let width = self.granularity.seconds() * 1000;
        (0..points(self.to - self.from, self.granularity)).map(move |i| self.from + i * width)
    }
}

/// Who may see what: every row, or those of some APIs or some applications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Only {
        apis: Vec<String>,
        applications: Vec<String>,
    },
}

/// Narrowing filters of a query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub api_id: Option<String>,
    pub application_id: Option<String>,
    pub node_id: Option<String>,
    /// Count only answers of this class.
    pub status_class: Option<StatusClass>,
}

/// A checked query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub window: Window,
    pub filters: Filters,
    pub scope: Scope,
}

/// What a bucket or a group counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests (of the filtered status class, when one is given).
    pub count: u64,
    /// By status class: 2xx, 3xx, 4xx, 5xx.
    pub classes: [u64; 4],
    pub throttled: u64,
}

impl Counts {
    fn from_sum(sum: &RollupSum, class: Option<StatusClass>) -> Counts {
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        let classes = [
            n(sum.status_2xx),
            n(sum.status_3xx),
            n(sum.status_4xx),
            n(sum.status_5xx),
        ];
        let count = match class {
            None => n(sum.request_count),
            Some(StatusClass::Success) => classes[0],
            Some(StatusClass::Redirect) => classes[1],
            Some(StatusClass::ClientError) => classes[2],
            Some(StatusClass::ServerError) => classes[3],
        };
        Counts {
            count,
            classes,
            throttled: n(sum.throttled),
        }
    }

    fn add(&mut self, other: &Counts) {
        self.count += other.count;
        for (a, b) in self.classes.iter_mut().zip(other.classes) {
            *a += b;
        }
        self.throttled += other.throttled;
    }
}

/// Latency percentiles in milliseconds (within [`crate::RELATIVE_ERROR`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

impl Percentiles {
    pub fn of(sketch: &LatencySketch) -> Percentiles {
        let ms = |q| sketch.quantile(q).map(|us| us / 1000.0);
        Percentiles {
            count: sketch.count(),
            p50: ms(0.50),
            p95: ms(0.95),
            p99: ms(0.99),
        }
    }
}

/// One entity of a top-N answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopEntry {
    pub id: String,
    pub label: String,
    pub counts: Counts,
}

/// What a top-N ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopBy {
    Api,
    Application,
    Node,
}

impl TopBy {
    pub fn parse(text: &str) -> Option<TopBy> {
        match text {
            "api" => Some(TopBy::Api),
            "application" => Some(TopBy::Application),
            "node" => Some(TopBy::Node),
            _ => None,
        }
    }
}

impl Query {
    fn filter(&self) -> RollupFilter {
        RollupFilter {
            resolution: self.window.granularity.seconds(),
            from: self.window.from,
            to: self.window.to,
            api_id: self.filters.api_id.clone(),
            application_id: self.filters.application_id.clone(),
            node_id: self.filters.node_id.clone(),
            visible: match &self.scope {
                Scope::All => None,
                Scope::Only { apis, applications } => Some((apis.clone(), applications.clone())),
            },
        }
    }

    /// Counts per bucket (every bucket of the window, empty ones as zeros) and in all.
    pub async fn series(&self, store: &Store) -> Result<(Vec<(i64, Counts)>, Counts), AnalyticsError> {
        let sums = store.sum_rollups(&self.filter(), RollupGroup::Bucket).await?;
        let class = self.filters.status_class;
        let by_bucket: BTreeMap<i64, Counts> = sums
            .iter()
            .filter_map(|s| Some((s.group_key.parse::<i64>().ok()?, Counts::from_sum(s, class))))
            .collect();
        let mut total = Counts::default();
        let series = self
            .window
            .buckets()
            .map(|bucket| {
                let counts = by_bucket.get(&bucket).copied().unwrap_or_default();
                total.add(&counts);
                (bucket, counts)
            })
            .collect();
        Ok((series, total))
    }

    /// Latency percentiles per bucket and over the whole window (every status class).
    pub async fn latency(&self, store: &Store) -> Result<(Vec<(i64, Percentiles)>, Percentiles), AnalyticsError> {
        let details = store.rollup_details(&self.filter(), RollupGroup::Bucket).await?;
        let mut by_bucket: BTreeMap<i64, LatencySketch> = BTreeMap::new();
        for detail in &details {
            if let Ok(bucket) = detail.group_key.parse::<i64>() {
                by_bucket
                    .entry(bucket)
                    .or_default()
                    .merge(&LatencySketch::decode(&detail.latency));
            }
        }
        let mut all = LatencySketch::new();
        let series = self
            .window
            .buckets()
            .map(|bucket| match by_bucket.get(&bucket) {
                Some(sketch) => {
                    all.merge(sketch);
                    (bucket, Percentiles::of(sketch))
                }
                None => (bucket, Percentiles::default()),
            })
            .collect();
        Ok((series, Percentiles::of(&all)))
    }

    /// Errors by code (WSO2's code, else the status of an error answer) over the window.
    pub async fn errors(&self, store: &Store) -> Result<BTreeMap<String, u64>, AnalyticsError> {
        let details = store.rollup_details(&self.filter(), RollupGroup::Bucket).await?;
        let mut codes = BTreeMap::new();
        for detail in &details {
            add_codes(&mut codes, &detail.error_codes);
        }
        if let Some(class) = self.filters.status_class {
            let first = match class {
                StatusClass::Success => '2',
                StatusClass::Redirect => '3',
                StatusClass::ClientError => '4',
                StatusClass::ServerError => '5',
            };
            codes.retain(|code, _| error_code_class(code) == Some(first));
        }
        Ok(codes)
    }

    /// The `limit` largest APIs, applications or nodes by count, largest first.
    pub async fn top(&self, store: &Store, by: TopBy, limit: usize) -> Result<Vec<TopEntry>, AnalyticsError> {
        let group = match by {
            TopBy::Api => RollupGroup::Api,
            TopBy::Application => RollupGroup::Application,
            TopBy::Node => RollupGroup::Node,
        };
        let sums = store.sum_rollups(&self.filter(), group).await?;
        let class = self.filters.status_class;
        let mut entries: Vec<TopEntry> = sums
            .iter()
            .map(|s| TopEntry {
                id: s.group_key.clone(),
                label: s.label.clone(),
                counts: Counts::from_sum(s, class),
            })
            .filter(|e| e.counts.count > 0)
            .collect();
        entries.sort_by(|a, b| b.counts.count.cmp(&a.counts.count).then_with(|| a.id.cmp(&b.id)));
        entries.truncate(limit);
        Ok(entries)
    }
}

/// The status class digit of an error key: an HTTP status is itself; WSO2's codes by the status
/// they are answered with.
fn error_code_class(code: &str) -> Option<char> {
    if code.len() == 3 {
        return code.chars().next();
    }
    match code {
        "101503" | "101504" | "101500" | "101501" | "101502" | "101505" | "101506" | "101507" | "101508" | "700700" => {
            Some('5')
        }
        _ if code.starts_with("90") => Some('4'),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_refuse_unbounded_reversed_and_too_fine_ranges_naming_the_parameter() {
        let day = 86_400_000;
        assert_eq!(
            Window::new(None, Some(day), None).expect_err("refused").parameter,
            "from"
        );
        assert_eq!(Window::new(Some(0), None, None).expect_err("refused").parameter, "to");
        assert_eq!(
            Window::new(Some(day), Some(0), None).expect_err("refused").parameter,
            "to"
        );
        let too_fine = Window::new(Some(0), Some(2 * day), Some(Granularity::Minute)).expect_err("refused");
        assert_eq!(too_fine.parameter, "granularity");
        let w = Window::new(Some(30_000), Some(day), Some(Granularity::Minute)).expect("a day of minutes");
        assert_eq!((w.from, w.to, w.buckets().count()), (0, day, 1440));
        assert_eq!(
            Window::new(Some(0), Some(60 * day), None).expect("auto").granularity,
            Granularity::Hour
        );
        assert_eq!(
            Window::new(Some(0), Some(90 * day), None).expect("auto").granularity,
            Granularity::Day
        );
    }
}
