//! The throughput chart: an inline SVG with one line per flow (submitted,
//! started, finished) over the intervals of the last minutes.

use maud::{Markup, html};
use switchyard_protocol::stats::{Throughput, ThroughputInterval};

use super::format;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 190.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 26.0;

/// Reads one flow's count from an interval.
type Count = fn(&ThroughputInterval) -> u64;

/// The series: name (also its CSS class and legend label) and what it counts.
const SERIES: [(&str, Count); 3] = [
    ("submitted", |i| i.submitted),
    ("started", |i| i.started),
    ("finished", |i| i.finished),
];

/// A coordinate as the chart writes it: one decimal.
fn at(v: f64) -> String {
    format!("{v:.1}")
}

/// The chart and its legend. SVG elements are closed explicitly (`{}`):
/// inside `<svg>` a start tag without its end would hold what follows.
pub fn render(throughput: &Throughput) -> Markup {
    let points = &throughput.intervals;
    let max = points
        .iter()
        .flat_map(|i| SERIES.iter().map(move |(_, get)| get(i)))
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let step = plot_w / (points.len().max(2) - 1) as f64;
    let x = |i: usize| LEFT + step * i as f64;
    let y = |v: u64| TOP + plot_h - plot_h * v as f64 / max as f64;
    // Labels on whole minutes before the current interval, and "now".
    let last = points.len().saturating_sub(1);
    let per_minute = (60 / throughput.interval_secs.max(1)).max(1) as usize;
    let window = throughput.interval_secs * points.len() as u64;
    html! {
        svg.chart viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img"
            aria-label={
                "Tasks submitted, started and finished per "
                (throughput.interval_secs) " s interval"
            } {
            @for v in [0, max.div_ceil(2), max] {
                line.grid x1=(LEFT) x2=(WIDTH - RIGHT) y1=(at(y(v))) y2=(at(y(v))) {}
                text.axis x=(LEFT - 6.0) y=(at(y(v) + 4.0)) text-anchor="end" { (v) }
            }
            @for back in (0..=last).step_by(per_minute) {
                text.axis x=(at(x(last - back))) y=(HEIGHT - 8.0) text-anchor="middle" {
                    @if back == 0 { "now" } @else { "−" (back / per_minute) " min" }
                }
            }
            // The dashed `started` line last, so it shows where it meets `finished`.
            @for (class, get) in [SERIES[0], SERIES[2], SERIES[1]] {
                @let line: Vec<String> = points
                    .iter()
                    .enumerate()
                    .map(|(i, p)| format!("{},{}", at(x(i)), at(y(get(p)))))
                    .collect();
                polyline class={ "series " (class) } points=(line.join(" ")) {
                    title { (class) }
                }
            }
        }
        p.legend {
            "Per " (throughput.interval_secs) " s interval, last "
            (format::duration(window as f64)) ": "
            @for (n, (class, get)) in SERIES.iter().enumerate() {
                @if n > 0 { " · " }
                span class={ "key " (class) } {}
                (class) " "
                b id={ "flow-" (class) } { (points.iter().map(get).sum::<u64>()) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_one_line_per_flow_and_totals() {
        let intervals = (0..30u64)
            .map(|i| ThroughputInterval {
                started_secs_ago: (30 - i) * 10,
                submitted: i,
                started: 1,
                finished: 0,
            })
            .collect();
        let html = render(&Throughput {
            interval_secs: 10,
            intervals,
        })
        .into_string();
        assert_eq!(html.matches("<polyline").count(), 3);
        assert_eq!(
            html.matches("</line>").count(),
            3,
            "every grid line is closed"
        );
        assert!(html.contains("id=\"flow-submitted\">435</b>"), "{html}");
        assert!(html.contains("id=\"flow-started\">30</b>"));
        assert!(html.contains(">now</text>"));
    }
}
