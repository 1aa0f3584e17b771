//! WSO2's ELK analytics log (`[apim.analytics] type = "elk"`): `logs/apim_metrics.log` with the
//! lines WSO2's `ELKCounterMetric` writes through its `APIM_METRICS_APPENDER`, so that WSO2's
//! Filebeat (`include_lines: ['(apimMetrics):']`) and Logstash grok pattern read it unchanged:
//!
//! ```text
//! 08:23:34,898 [-] [analytics]  INFO ELKCounterMetric apimMetrics: apim:response, properties :{"apiName":...}
//! ```
//!
//! (the appender's layout `%d{HH:mm:ss,SSS} [%X{ip}-%X{host}] [%t] %5p %c{1} %m%n`). Answers
//! the gateway made itself with a WSO2 error code are `apim:faulty` events, the others
//! `apim:response`, with the field names of WSO2's response and fault schemas. The file rolls
//! over as WSO2's appender does: daily and when it would pass a size (1000 MB by default) to
//! `apim_metrics-MM-dd-yyyy-N.log`, keeping the newest 10.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::event::Event;
use crate::rollup::{DAY, bucket_start};

pub const LOG_FILE: &str = "apim_metrics.log";

/// The rolling `apim_metrics.log`.
pub struct ElkLog {
    dir: PathBuf,
    node_id: String,
    max_bytes: u64,
    max_files: usize,
    file: BufWriter<File>,
    size: u64,
    /// The day (start, ms) the current file's lines belong to.
    day: i64,
}

impl ElkLog {
    /// Opens (appending) `dir/apim_metrics.log`.
    pub fn open(dir: &Path, node_id: &str, max_bytes: u64, max_files: usize, now_ms: i64) -> io::Result<ElkLog> {
        fs::create_dir_all(dir)?;
        let path = dir.join(LOG_FILE);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        Ok(ElkLog {
            dir: dir.to_path_buf(),
            node_id: node_id.to_owned(),
            max_bytes: max_bytes.max(1024),
            max_files: max_files.max(1),
            file: BufWriter::new(file),
            size,
            day: bucket_start(now_ms, DAY),
        })
    }

    /// Appends `event`'s line, rolling the file over first when the day changed or it is full.
    pub fn write(&mut self, event: &Event, now_ms: i64) -> io::Result<()> {
        let line = line(event, &self.node_id, now_ms);
        let day = bucket_start(now_ms, DAY);
        if day != self.day || (self.size > 0 && self.size + line.len() as u64 > self.max_bytes) {
            self.roll_over()?;
            self.day = day;
        }
        self.file.write_all(line.as_bytes())?;
        self.size += line.len() as u64;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }

    /// Renames the current file to `apim_metrics-MM-dd-yyyy-N.log` (its day, the next free N),
    /// removes the oldest rolled files past `max_files`, and starts an empty one.
    fn roll_over(&mut self) -> io::Result<()> {
        self.file.flush()?;
        let (year, month, day) = civil(self.day);
        let stem = format!("apim_metrics-{month:02}-{day:02}-{year:04}-");
        let mut index = 1;
        while self.dir.join(format!("{stem}{index}.log")).exists() {
            index += 1;
        }
        fs::rename(self.dir.join(LOG_FILE), self.dir.join(format!("{stem}{index}.log")))?;
        let mut rolled: Vec<(std::time::SystemTime, PathBuf)> = fs::read_dir(&self.dir)?
            .filter_map(Result::ok)
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with("apim_metrics-") && name.ends_with(".log")
            })
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        rolled.sort();
        while rolled.len() > self.max_files {
            let (_, oldest) = rolled.remove(0);
            fs::remove_file(oldest)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(LOG_FILE))?;
        self.file = BufWriter::new(file);
        self.size = 0;
        Ok(())
    }
}

/// One line of the log, with its newline.
pub fn line(event: &Event, node_id: &str, now_ms: i64) -> String {
    let (kind, properties) = if event.is_fault() {
        ("apim:faulty", fault_properties(event, node_id))
    } else {
        ("apim:response", response_properties(event, node_id))
    };
    let ms_of_day = now_ms.rem_euclid(DAY * 1000);
    let (h, m, s, ms) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000,
    );
    format!(
        "{h:02}:{m:02}:{s:02},{ms:03} [-] [analytics]  INFO ELKCounterMetric apimMetrics: {kind}, properties :{}\n",
        Value::Object(properties)
    )
}

/// WSO2's fields both events share.
fn common(event: &Event, node_id: &str) -> Map<String, Value> {
    let text = |s: &str| if s.is_empty() { Value::Null } else { json!(s) };
    let mut m = Map::new();
    m.insert("apiId".into(), text(&event.api_id));
    m.insert("apiType".into(), json!("HTTP"));
    m.insert("apiName".into(), text(&event.api_name));
    m.insert("apiVersion".into(), text(&event.api_version));
    m.insert("apiCreator".into(), text(&event.api_creator));
    m.insert("apiCreatorTenantDomain".into(), json!("carbon.super"));
    m.insert("apiContext".into(), text(&event.api_context));
    m.insert("apiMethod".into(), json!(event.method));
    m.insert("apiResourceTemplate".into(), text(&event.resource));
    m.insert("keyType".into(), text(&event.key_type));
    m.insert("applicationId".into(), text(&event.application_id));
    m.insert("applicationName".into(), text(&event.application_name));
    m.insert("applicationOwner".into(), text(&event.application_owner));
    m.insert("regionId".into(), json!("default"));
    m.insert("gatewayType".into(), json!("SYNAPSE"));
    m.insert("proxyResponseCode".into(), json!(event.proxy_status));
    m.insert("targetResponseCode".into(), json!(event.backend_status.unwrap_or(0)));
    m.insert("correlationId".into(), json!(event.correlation_id));
    m.insert("userAgent".into(), json!(event.user_agent));
    m.insert("userName".into(), text(&event.end_user));
    m.insert("userIp".into(), json!(event.client_ip));
    m.insert("requestTimestamp".into(), json!(iso8601(event.timestamp_ms)));
    m.insert(
        "properties".into(),
        json!({
            "nodeId": node_id,
            "subscriptionTier": event.subscription_tier,
            "throttled": event.throttled,
            "throttlePolicy": event.throttle_policy,
            "requestSize": event.request_bytes,
            "responseSize": event.response_bytes,
        }),
    );
    m
}

fn response_properties(event: &Event, node_id: &str) -> Map<String, Value> {
    let ms = |us: u64| us / 1000;
    let mut m = common(event, node_id);
    m.insert("destination".into(), json!(event.destination));
    m.insert("responseCacheHit".into(), json!(false));
    m.insert("responseLatency".into(), json!(ms(event.total_latency_us)));
    m.insert("backendLatency".into(), json!(event.backend_latency_us.map_or(0, ms)));
    let mediation = ms(event
        .total_latency_us
        .saturating_sub(event.backend_latency_us.unwrap_or(0)));
    m.insert("requestMediationLatency".into(), json!(mediation));
    m.insert("responseMediationLatency".into(), json!(0));
    m.insert("platform".into(), json!("Other"));
    m
}

fn fault_properties(event: &Event, node_id: &str) -> Map<String, Value> {
    let mut m = common(event, node_id);
    let code = event.error_code.as_deref().unwrap_or_default();
    m.insert("errorType".into(), json!(event.error_type()));
    m.insert("errorCode".into(), json!(code.parse::<u64>().unwrap_or(0)));
    m.insert("errorMessage".into(), json!(error_message(code)));
    m
}

/// WSO2's analytics name of an error code.
fn error_message(code: &str) -> &'static str {
    match code {
        "900900" => "API_AUTH_GENERAL_ERROR",
        "900901" => "API_AUTH_INVALID_CREDENTIALS",
        "900902" => "API_AUTH_MISSING_CREDENTIALS",
        "900908" => "API_AUTH_FORBIDDEN",
        "900910" => "API_AUTH_INCORRECT_ACCESS_TOKEN_TYPE",
        "900906" => "RESOURCE_NOT_FOUND",
        "900800" | "900802" => "API_LEVEL_LIMIT_EXCEEDED",
        "900803" | "900809" => "APPLICATION_LEVEL_LIMIT_EXCEEDED",
        "900804" | "900807" => "SUBSCRIPTION_LIMIT_EXCEEDED",
        "900805" => "BLOCKED",
        "101503" => "TARGET_CONNECTIVITY_ERROR",
        "101504" => "TARGET_CONNECTIVITY_TIMEOUT",
        _ => "OTHER",
    }
}

/// `2026-12-03T17:44:01.123Z`.
fn iso8601(ms: i64) -> String {
    let (year, month, day) = civil(bucket_start(ms, DAY));
    let t = ms.rem_euclid(DAY * 1000);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        t / 3_600_000,
        t / 60_000 % 60,
        t / 1000 % 60,
        t % 1000
    )
}

/// The civil date of a day's start (ms since the epoch): Howard Hinnant's days-to-civil.
fn civil(day_start_ms: i64) -> (i64, i64, i64) {
    let z = day_start_ms.div_euclid(DAY * 1000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_wso2s_shape_and_the_file_rolls_over_by_day_and_size() {
        // 2026-12-03T17:44:01.123Z
        let now = 1_796_319_841_123;
        assert_eq!(iso8601(now), "2026-12-03T17:44:01.123Z");
        let event = Event {
            api_name: "Pizza".into(),
            proxy_status: 401,
            error_code: Some("900901".into()),
            timestamp_ms: now,
            ..Event::default()
        };
        let text = line(&event, "n1", now);
        assert!(
            text.starts_with(
                "17:44:01,123 [-] [analytics]  INFO ELKCounterMetric apimMetrics: apim:faulty, properties :{"
            ),
            "{text}"
        );
        let json: Value = serde_json::from_str(text.split(" properties :").nth(1).expect("json").trim()).expect("json");
        assert_eq!(json["errorType"], "AUTH");
        assert_eq!(json["errorCode"], 900_901);

        let dir = tempfile::tempdir().expect("dir");
        let mut log = ElkLog::open(dir.path(), "n1", 1024, 2, now).expect("open");
        for i in 0..40 {
            log.write(&event, now + i).expect("write");
        }
        log.write(&event, now + DAY * 1000).expect("next day");
        log.flush().expect("flush");
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(
            names
                .iter()
                .all(|n| n == LOG_FILE || n.starts_with("apim_metrics-12-03-2026-")),
            "{names:?}"
        );
    }
}
