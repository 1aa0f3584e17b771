//! Timestamps as the REST APIs write them.

/// Epoch milliseconds as RFC 3339 (`2026-11-26T15:00:00.123Z`).
pub(crate) fn rfc3339(millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}
