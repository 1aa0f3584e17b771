//! Charts as SVG (`image/svg+xml`), drawn on the server: no JavaScript, a few kilobytes each,
//! so the portals can embed them with `<img>`. `GET charts/{chart}` takes the same parameters
//! as the JSON answers (and `top`'s `limit` for the bar charts):
//!
//! | chart | what |
//! |---|---|
//! | `requests.svg` | requests over time, with 4xx and 5xx |
//! | `latency.svg` | p50, p95, p99 over time (ms) |
//! | `errors.svg` | errors by code |
//! | `throttled.svg` | throttled requests over time |
//! | `top-apis.svg`, `top-applications.svg` | the largest APIs / applications by requests |
//! | `nodes.svg` | traffic per node |

use std::collections::HashMap;
use std::fmt::Write;

use axum::extract::{Path, Query as QueryParams, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use portico_analytics::TopBy;

use super::answers::{errors_of, latency_of, query, series, top_of};
use super::params;
use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::RestState;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 36.0;
/// Line colours, in order (Okabe–Ito, readable by colour-blind people).
const COLOURS: [&str; 4] = ["#0072B2", "#E69F00", "#D55E00", "#009E73"];

/// The charts there are.
const CHARTS: &[&str] = &[
    "requests.svg",
    "latency.svg",
    "errors.svg",
    "throttled.svg",
    "top-apis.svg",
    "top-applications.svg",
    "nodes.svg",
];

pub async fn chart(
    auth: Auth,
    State(state): State<RestState>,
    Path(chart): Path<String>,
    QueryParams(params): QueryParams<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    if !CHARTS.contains(&chart.as_str()) {
        return Err(ApiError::not_found(format!(
            "No chart {chart}; the charts are {}",
            CHARTS.join(", ")
        )));
    }
    let extra: &[&str] = if chart.starts_with("top-") || chart == "nodes.svg" || chart == "errors.svg" {
        &["limit"]
    } else {
        &[]
    };
    let q = query(&state, &auth, &params, extra).await?;
    let limit = params::top(&params)?.1;
    let svg = match chart.as_str() {
        "requests.svg" => {
            let (points, _) = series(&state, &q).await?;
            let x: Vec<i64> = points.iter().map(|(t, _)| *t).collect();
            #[allow(clippy::cast_precision_loss)]
            let line = |i: usize| {
                points
                    .iter()
                    .map(|(_, c)| (if i == 0 { c.count } else { c.classes[i + 1] }) as f64)
                    .collect()
            };
            lines(
                "Requests",
                "requests",
                &x,
                &[("all", line(0)), ("4xx", line(1)), ("5xx", line(2))],
            )
        }
        "throttled.svg" => {
            let (points, _) = series(&state, &q).await?;
            let x: Vec<i64> = points.iter().map(|(t, _)| *t).collect();
            #[allow(clippy::cast_precision_loss)]
            let values = points.iter().map(|(_, c)| c.throttled as f64).collect();
            lines("Throttled requests", "requests", &x, &[("throttled", values)])
        }
        "latency.svg" => {
            let (points, _) = latency_of(&state, &q).await?;
            let x: Vec<i64> = points.iter().map(|(t, _)| *t).collect();
            let pick = |f: fn(&portico_analytics::Percentiles) -> Option<f64>| {
                points.iter().map(|(_, p)| f(p).unwrap_or(0.0)).collect()
            };
            lines(
                "Latency",
                "ms",
                &x,
                &[
                    ("p50", pick(|p| p.p50)),
                    ("p95", pick(|p| p.p95)),
                    ("p99", pick(|p| p.p99)),
                ],
            )
        }
        "errors.svg" => {
            let mut list = errors_of(&state, &q).await?;
            list.truncate(limit);
            bars("Errors by code", &list)
        }
        _ => {
            let (title, by) = match chart.as_str() {
                "top-apis.svg" => ("Top APIs", TopBy::Api),
                "top-applications.svg" => ("Top applications", TopBy::Application),
                _ => ("Traffic per node", TopBy::Node),
            };
            let entries = top_of(&state, &q, by, limit).await?;
            let list: Vec<(String, u64)> = entries
                .into_iter()
                .map(|e| {
                    let label = if e.label.is_empty() { e.id } else { e.label };
                    (
                        if label.is_empty() { "(none)".to_owned() } else { label },
                        e.counts.count,
                    )
                })
                .collect();
            bars(title, &list)
        }
    };
    Ok(([(CONTENT_TYPE, "image/svg+xml"), (CACHE_CONTROL, "no-store")], svg).into_response())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn open(title: &str) -> String {
    let mut svg = String::with_capacity(4096);
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         font-family=\"sans-serif\" font-size=\"11\" role=\"img\" aria-label=\"{t}\"><title>{t}</title>\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><text x=\"{LEFT}\" y=\"18\" font-size=\"13\" font-weight=\"bold\">{t}</text>",
        t = escape(title)
    );
    svg
}

/// A round upper bound for the axis.
fn nice_max(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|m| *m >= max)
        .unwrap_or(max)
}

fn number(value: f64) -> String {
    if value >= 100.0 || value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// `HH:MM` of a time (UTC), or `MM-DD` when the series spans days.
fn time_label(ms: i64, days: bool) -> String {
    let t = ms.rem_euclid(86_400_000);
    if days {
        let date = time::OffsetDateTime::from_unix_timestamp(ms / 1000).map(|d| (d.month() as u8, d.day()));
        return date.map_or_else(|_| String::new(), |(m, d)| format!("{m:02}-{d:02}"));
    }
    format!("{:02}:{:02}", t / 3_600_000, t / 60_000 % 60)
}

/// A line chart of `series` over the bucket times `x`.
fn lines(title: &str, unit: &str, x: &[i64], series: &[(&str, Vec<f64>)]) -> String {
    let mut svg = open(title);
    let max = nice_max(series.iter().flat_map(|(_, v)| v.iter().copied()).fold(0.0, f64::max));
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    #[allow(clippy::cast_precision_loss)]
    let step = if x.len() > 1 {
        plot_w / (x.len() - 1) as f64
    } else {
        0.0
    };
    for i in 0..=4 {
        let value = max * f64::from(i) / 4.0;
        let y = TOP + plot_h - plot_h * f64::from(i) / 4.0;
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 4.0,
            y + 4.0,
            number(value)
        );
    }
    let _ = write!(
        svg,
        "<text x=\"12\" y=\"{:.1}\" transform=\"rotate(-90 12 {:.1})\" text-anchor=\"middle\">{}</text>",
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0,
        escape(unit)
    );
    let days = x.len() > 1 && x[x.len() - 1] - x[0] > 86_400_000;
    let ticks = x.len().clamp(1, 6);
    for t in 0..ticks {
        let i = if ticks > 1 { t * (x.len() - 1) / (ticks - 1) } else { 0 };
        #[allow(clippy::cast_precision_loss)]
        let px = LEFT + step * i as f64;
        if let Some(ms) = x.get(i) {
            let _ = write!(
                svg,
                "<text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                HEIGHT - BOTTOM + 16.0,
                time_label(*ms, days)
            );
        }
    }
    for (n, (name, values)) in series.iter().enumerate() {
        let colour = COLOURS[n % COLOURS.len()];
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                #[allow(clippy::cast_precision_loss)]
                let px = LEFT + step * i as f64;
                format!("{px:.1},{:.1}", TOP + plot_h - plot_h * v / max)
            })
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>",
            points.join(" ")
        );
        #[allow(clippy::cast_precision_loss)]
        let lx = LEFT + 90.0 * n as f64 + 160.0;
        let _ = write!(
            svg,
            "<rect x=\"{lx:.0}\" y=\"9\" width=\"10\" height=\"10\" fill=\"{colour}\"/>\
             <text x=\"{:.0}\" y=\"18\">{}</text>",
            lx + 14.0,
            escape(name)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A horizontal bar chart of labelled counts.
fn bars(title: &str, items: &[(String, u64)]) -> String {
    let mut svg = open(title);
    if items.is_empty() {
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#666\">No requests in this range</text>",
            WIDTH / 2.0,
            HEIGHT / 2.0
        );
        svg.push_str("</svg>");
        return svg;
    }
    #[allow(clippy::cast_precision_loss)]
    let max = nice_max(items.iter().map(|(_, n)| *n).max().unwrap_or(0) as f64);
    let label_w = 170.0;
    let plot_w = WIDTH - label_w - RIGHT - 50.0;
    #[allow(clippy::cast_precision_loss)]
    let row = ((HEIGHT - TOP - 8.0) / items.len() as f64).min(26.0);
    for (i, (label, count)) in items.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let y = TOP + row * i as f64;
        #[allow(clippy::cast_precision_loss)]
        let w = plot_w * (*count as f64) / max;
        let shown: String = label.chars().take(28).collect();
        let _ = write!(
            svg,
            "<text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{label_w}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{count}</text>",
            label_w - 6.0,
            y + row * 0.65,
            escape(&shown),
            y + row * 0.15,
            row * 0.7,
            COLOURS[0],
            label_w + w + 4.0,
            y + row * 0.65
        );
    }
    svg.push_str("</svg>");
    svg
}
