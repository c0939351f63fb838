//! The Overview's hourly bar chart, drawn on the server as inline SVG: no chart
//! library, no script, nothing the strict Content-Security-Policy would refuse (colours
//! come from classes in the console's stylesheet, not `style` attributes).
//!
//! Each hour is one stacked bar, succeeded below and FAILED on top, with a `<title>`
//! (a tooltip, read by screen readers) saying its counts; a sentence under the chart
//! sums the day up in words.

use maud::{Markup, html};
use serde_json::Value;

/// Width of one hour's slot, and of its bar, in SVG units.
const SLOT: i64 = 12;
const BAR: i64 = 10;
/// Height of the bars' area; the axis labels go below it.
const BARS_HEIGHT: i64 = 60;
const HEIGHT: i64 = BARS_HEIGHT + 14;

/// One hour's bucket as `GET /v1/overview` answers it.
struct Hour<'a> {
    start: &'a str,
    succeeded: i64,
    failed: i64,
}

impl<'a> Hour<'a> {
    fn of(v: &'a Value) -> Self {
        Hour {
            start: v["start"].as_str().unwrap_or(""),
            succeeded: v["succeeded"].as_i64().unwrap_or(0),
            failed: v["failed"].as_i64().unwrap_or(0),
        }
    }

    /// `14:00` of `2026-12-05T14:00:00.000Z`.
    fn clock(&self) -> &'a str {
        self.start.get(11..16).unwrap_or(self.start)
    }
}

/// The height of `n` attempts when the busiest hour had `max`; never 0 for a non-zero
/// count, so a single failure stays visible next to hundreds of successes.
fn height(n: i64, max: i64) -> i64 {
    if n == 0 {
        0
    } else {
        (n * BARS_HEIGHT / max.max(1)).max(1)
    }
}

/// "5 succeeded, 2 FAILED", or "no deliveries".
fn counts(succeeded: i64, failed: i64) -> String {
    if succeeded == 0 && failed == 0 {
        "no delivery attempts".into()
    } else {
        format!("{succeeded} succeeded, {failed} FAILED")
    }
}

/// The words under the chart: totals and the hours with failures.
pub fn summary(hours: &[Value]) -> String {
    let hours: Vec<Hour> = hours.iter().map(Hour::of).collect();
    let succeeded: i64 = hours.iter().map(|h| h.succeeded).sum();
    let failed: i64 = hours.iter().map(|h| h.failed).sum();
    let failing = hours.iter().filter(|h| h.failed > 0).count();
    let mut text = format!("Last 24 hours: {}", counts(succeeded, failed));
    if let Some(last) = hours.iter().rev().find(|h| h.failed > 0) {
        text.push_str(&format!(
            "; failures in {failing} of 24 hours, the latest in the hour from {} UTC",
            last.clock()
        ));
    }
    text.push('.');
    text
}

/// The chart of `hours` (oldest first), described by the element `described_by`.
pub fn hours_chart(hours: &[Value], described_by: &str) -> Markup {
    let hours: Vec<Hour> = hours.iter().map(Hour::of).collect();
    let max = hours
        .iter()
        .map(|h| h.succeeded + h.failed)
        .max()
        .unwrap_or(0);
    let width = SLOT * hours.len().max(1) as i64;
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (width) " " (HEIGHT) }
            width=(width * 2) height=(HEIGHT * 2)
            aria-describedby=(described_by) {
            title { "Delivery attempts per hour, last 24 hours" }
            rect.axis x="0" y=(BARS_HEIGHT) width=(width) height="1" {}
            @for (i, h) in hours.iter().enumerate() {
                @let x = i as i64 * SLOT;
                @let ok = height(h.succeeded, max);
                @let bad = height(h.failed, max);
                g.hour {
                    title { (h.clock()) " UTC: " (counts(h.succeeded, h.failed)) }
                    rect.slot x=(x) y="0" width=(SLOT) height=(BARS_HEIGHT) {}
                    @if ok > 0 {
                        rect.ok x=(x + 1) y=(BARS_HEIGHT - ok) width=(BAR) height=(ok) {}
                    }
                    @if bad > 0 {
                        rect.bad x=(x + 1) y=(BARS_HEIGHT - ok - bad) width=(BAR) height=(bad) {}
                    }
                }
            }
            @if let (Some(first), Some(last)) = (hours.first(), hours.last()) {
                text.label x="0" y=(HEIGHT - 2) { (first.clock()) }
                text.label.end x=(width) y=(HEIGHT - 2) { (last.clock()) " UTC" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    fn hours() -> Vec<serde_json::Value> {
        (0..24)
            .map(|i| {
                json!({"start": format!("2026-12-05T{:02}:00:00.000Z", i % 24),
                       "succeeded": if i == 3 { 100 } else { 0 }, "failed": if i == 20 { 1 } else { 0 }})
            })
            .collect()
    }

    #[test]
    fn a_bar_per_hour_with_its_counts_and_one_failure_stays_visible() {
        let svg = super::hours_chart(&hours(), "s").into_string();
        assert_eq!(svg.matches("<g class=\"hour\">").count(), 24);
        assert!(svg.contains("<title>03:00 UTC: 100 succeeded, 0 FAILED</title>"));
        assert!(svg.contains("<title>20:00 UTC: 0 succeeded, 1 FAILED</title>"));
        assert!(svg.contains("class=\"bad\" x=\"241\" y=\"59\" width=\"10\" height=\"1\""));
        assert!(!svg.contains("style="));
    }

    #[test]
    fn the_summary_says_the_totals_and_the_latest_failing_hour() {
        assert_eq!(
            super::summary(&hours()),
            "Last 24 hours: 100 succeeded, 1 FAILED; failures in 1 of 24 hours, the latest in the hour from 20:00 UTC."
        );
    }
}
