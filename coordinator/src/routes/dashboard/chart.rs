//! The throughput chart: an inline SVG with one line per flow (submitted,
//! started, finished) over the intervals of the last minutes.

use std::fmt::Write;

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

/// The chart and its legend, as HTML.
pub fn render(throughput: &Throughput) -> String {
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

    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" \
         aria-label=\"Tasks submitted, started and finished per {} s interval\">",
        throughput.interval_secs
    );
    for v in [0, max.div_ceil(2), max] {
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"axis\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y(v) + 4.0,
            y = y(v),
        );
    }
    // Labels on whole minutes before the current interval, and "now".
    let last = points.len().saturating_sub(1);
    let per_minute = (60 / throughput.interval_secs.max(1)).max(1) as usize;
    for back in (0..=last).step_by(per_minute) {
        let label = match back {
            0 => "now".to_owned(),
            _ => format!("−{} min", back / per_minute),
        };
        let _ = write!(
            svg,
            "<text class=\"axis\" x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{label}</text>",
            x(last - back),
            HEIGHT - 8.0
        );
    }
    // The dashed `started` line last, so it shows where it meets `finished`.
    for (class, get) in [SERIES[0], SERIES[2], SERIES[1]] {
        let line: Vec<String> = points
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(get(p))))
            .collect();
        let _ = write!(
            svg,
            "<polyline class=\"series {class}\" points=\"{}\"><title>{class}</title></polyline>",
            line.join(" ")
        );
    }
    svg.push_str("</svg>");

    let window = throughput.interval_secs * points.len() as u64;
    let mut legend = format!(
        "<p class=\"legend\">Per {} s interval, last {}: ",
        throughput.interval_secs,
        format::duration(window as f64)
    );
    for (n, (class, get)) in SERIES.iter().enumerate() {
        let total: u64 = points.iter().map(get).sum();
        let sep = if n == 0 { "" } else { " · " };
        let _ = write!(
            legend,
            "{sep}<span class=\"key {class}\"></span>{class} <b id=\"flow-{class}\">{total}</b>"
        );
    }
    legend.push_str("</p>");
    svg + &legend
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
        });
        assert_eq!(html.matches("<polyline").count(), 3);
        assert!(html.contains("id=\"flow-submitted\">435</b>"), "{html}");
        assert!(html.contains("id=\"flow-started\">30</b>"));
        assert!(html.contains(">now</text>"));
    }
}
