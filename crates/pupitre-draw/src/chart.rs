//! Time-series charts: a line chart with its axes, threshold bands and state-change markers
//! (check and host pages), and a sparkline (lists).
//!
//! Times are milliseconds since the Unix epoch, labelled in UTC. A line breaks where two
//! points are further apart than the chart's `gap`, so a stretch without data shows as one.

use crate::svg::{Canvas, escape, fit};

/// One line of a chart.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartLine {
    pub label: String,
    /// `(ms, value)` in time order; NaN and infinite values are not drawn.
    pub points: Vec<(i64, f64)>,
}

/// A range of values drawn as a band across the chart: `warning` or `critical`.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartBand {
    /// Either end may be infinite (the band reaches the chart's edge).
    pub from: f64,
    pub to: f64,
    /// `warning` or `critical`.
    pub level: String,
}

/// A vertical mark at a time: a state change.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartMarker {
    pub at: i64,
    /// `ok`, `warning`, `critical` or `unknown`.
    pub state: String,
    /// Its tooltip.
    pub label: String,
}

/// A chart to draw.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    pub title: String,
    /// Printed after values on the axis (`ms`, `%`, `B`).
    pub unit: String,
    pub start: i64,
    pub end: i64,
    /// Points further apart than this are not joined.
    pub gap: i64,
    pub lines: Vec<ChartLine>,
    pub bands: Vec<ChartBand>,
    pub markers: Vec<ChartMarker>,
    /// A dashed line from `(t0, v0)` to `(t1, v1)`: a forecast.
    pub trend: Option<((i64, f64), (i64, f64))>,
    /// Shown when no line has a point.
    pub empty_text: String,
}

pub(crate) const STYLE: &str = "\
.pd-chart .frame{fill:none;stroke:currentColor;stroke-opacity:.35}\
.pd-chart .grid{stroke:currentColor;stroke-opacity:.12}\
.pd-chart .ln{fill:none;stroke-width:1.6;stroke-linejoin:round}\
.pd-chart .ln0{stroke:#2f6fdb}.pd-chart .ln1{stroke:#12968a}.pd-chart .ln2{stroke:#8455d4}\
.pd-chart .ln3{stroke:#d4820f}.pd-chart .ln4{stroke:#6b7485}\
.pd-chart .sw0{fill:#2f6fdb}.pd-chart .sw1{fill:#12968a}.pd-chart .sw2{fill:#8455d4}\
.pd-chart .sw3{fill:#d4820f}.pd-chart .sw4{fill:#6b7485}\
.pd-chart .band-warning{fill:#e0a106;fill-opacity:.14}\
.pd-chart .band-critical{fill:#d93025;fill-opacity:.14}\
.pd-chart .mk{stroke-width:1.4;stroke-dasharray:3 2}\
.pd-chart .mk-ok{stroke:#2e9d57}.pd-chart .mk-warning{stroke:#e0a106}\
.pd-chart .mk-critical{stroke:#d93025}.pd-chart .mk-unknown{stroke:#8455d4}\
.pd-chart .trend{fill:none;stroke:currentColor;stroke-opacity:.6;stroke-dasharray:6 4}\
.pd-spark .ln{fill:none;stroke:currentColor;stroke-width:1.2}.pd-spark .dot{fill:currentColor}\
@media (prefers-color-scheme:dark){\
.pd-chart .ln0{stroke:#6ea2ff}.pd-chart .ln1{stroke:#3fcab6}.pd-chart .ln2{stroke:#b794f6}\
.pd-chart .ln3{stroke:#f2b24c}.pd-chart .ln4{stroke:#9aa3b2}\
.pd-chart .sw0{fill:#6ea2ff}.pd-chart .sw1{fill:#3fcab6}.pd-chart .sw2{fill:#b794f6}\
.pd-chart .sw3{fill:#f2b24c}.pd-chart .sw4{fill:#9aa3b2}\
.pd-chart .band-warning{fill-opacity:.2}.pd-chart .band-critical{fill-opacity:.2}}\
@media print{.pd-chart .ln{stroke-width:1.2}.pd-chart .band-warning,.pd-chart .band-critical{fill-opacity:.1}}";

const WIDTH: i32 = 760;
const HEIGHT: i32 = 260;
const LEFT: i32 = 64;
const RIGHT: i32 = 12;
const TOP: i32 = 28;
const BOTTOM: i32 = 42;

/// The chart as an `<svg>`.
pub fn line_chart(chart: &Chart) -> String {
    let mut c = Canvas::new("pd-chart", WIDTH, HEIGHT, &chart.title, STYLE);
    c.text("hd", LEFT, 18, "start", &fit(&chart.title, 70));
    let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM);
    let span = (chart.end - chart.start).max(1);
    let x_of =
        |t: i64| x0 + ((t - chart.start) as f64 / span as f64 * f64::from(x1 - x0)).round() as i32;

    let finite = chart
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .chain(chart.trend.iter().flat_map(|((_, a), (_, b))| [*a, *b]))
        .filter(|v| v.is_finite());
    let (mut low, mut high) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
        (l.min(v), h.max(v))
    });
    let empty = !low.is_finite();
    if empty {
        (low, high) = (0.0, 1.0);
    }
    // Bands' finite edges close to the data stay in view.
    for band in &chart.bands {
        for edge in [band.from, band.to] {
            if edge.is_finite()
                && edge <= high + (high - low).abs()
                && edge >= low - (high - low).abs()
            {
                low = low.min(edge);
                high = high.max(edge);
            }
        }
    }
    if low >= 0.0 && low < (high - low) * 0.5 {
        low = 0.0;
    }
    let (step, low, high) = nice_scale(low, high, 5);
    let y_of = |v: f64| {
        let v = v.clamp(low, high);
        y1 - ((v - low) / (high - low) * f64::from(y1 - y0)).round() as i32
    };

    for band in &chart.bands {
        let (a, b) = (y_of(band.from.max(low)), y_of(band.to.min(high)));
        if band.to > low && band.from < high && a > b {
            c.rect(
                &format!("band-{}", crate::svg::class_key(&band.level)),
                x0,
                b,
                x1 - x0,
                a - b,
                0,
            );
        }
    }
    let mut v = low;
    while v <= high + step / 2.0 {
        let y = y_of(v);
        c.raw(&format!(
            "<line class=\"grid\" x1=\"{x0}\" y1=\"{y}\" x2=\"{x1}\" y2=\"{y}\"/>"
        ));
        c.text(
            "sm mut",
            x0 - 6,
            y + 4,
            "end",
            &format!("{}{}", si(v, step), chart.unit),
        );
        v += step;
    }
    let (tick, daily) = time_tick(span);
    let mut t = (chart.start + tick - 1).div_euclid(tick) * tick;
    while t <= chart.end {
        let x = x_of(t);
        c.raw(&format!(
            "<line class=\"grid\" x1=\"{x}\" y1=\"{y0}\" x2=\"{x}\" y2=\"{y1}\"/>"
        ));
        // The last label ends at the frame's edge rather than past the drawing's.
        let anchor = if x > x1 - 16 { "end" } else { "middle" };
        c.text("sm mut", x, y1 + 14, anchor, &time_label(t, daily));
        t += tick;
    }
    c.text("sm mut", x1, y1 + 30, "end", "UTC");
    c.rect("frame", x0, y0, x1 - x0, y1 - y0, 0);

    for marker in &chart.markers {
        if (chart.start..=chart.end).contains(&marker.at) {
            let x = x_of(marker.at);
            c.raw(&format!(
                "<line class=\"mk mk-{}\" x1=\"{x}\" y1=\"{y0}\" x2=\"{x}\" y2=\"{y1}\"><title>{}</title></line>",
                crate::svg::class_key(&marker.state),
                escape(&marker.label)
            ));
        }
    }
    for (i, line) in chart.lines.iter().enumerate() {
        let d = path(&line.points, chart.gap, x_of, y_of);
        if !d.is_empty() {
            c.raw(&format!(
                "<path class=\"ln ln{}\" d=\"{d}\"><title>{}</title></path>",
                i % 5,
                escape(&line.label)
            ));
        }
        // A point alone in its run would be a line of no length: a dot.
        for run in runs(&line.points, chart.gap) {
            if let [(t, v)] = run[..] {
                c.raw(&format!(
                    "<circle class=\"sw{}\" cx=\"{}\" cy=\"{}\" r=\"2.5\"/>",
                    i % 5,
                    x_of(t),
                    y_of(v)
                ));
            }
        }
    }
    if let Some(((t0, v0), (t1, v1))) = chart.trend {
        let (t1c, v1c) = if t1 > chart.end && t1 > t0 {
            let f = (chart.end - t0) as f64 / (t1 - t0) as f64;
            (chart.end, v0 + (v1 - v0) * f)
        } else {
            (t1, v1)
        };
        c.raw(&format!(
            "<path class=\"trend\" d=\"M{} {}L{} {}\"/>",
            x_of(t0.max(chart.start)),
            y_of(v0),
            x_of(t1c),
            y_of(v1c)
        ));
    }
    if empty {
        c.text(
            "mut",
            (x0 + x1) / 2,
            (y0 + y1) / 2,
            "middle",
            &chart.empty_text,
        );
    }
    // The legend, when there is more than one line.
    if chart.lines.len() > 1 {
        let mut x = x0;
        for (i, line) in chart.lines.iter().enumerate().take(5) {
            c.rect(&format!("sw{}", i % 5), x, HEIGHT - 12, 10, 4, 0);
            let label = fit(&line.label, 22);
            c.text("sm", x + 14, HEIGHT - 7, "start", &label);
            x += 14 + label.chars().count() as i32 * 6 + 16;
        }
    }
    c.finish()
}

/// A small line of `points` over `[start, end]`, for lists; the range of values is the
/// points' own. Empty when no point has a value.
pub fn sparkline(points: &[(i64, f64)], start: i64, end: i64, gap: i64) -> String {
    let (w, h) = (120, 24);
    let (low, high) = points
        .iter()
        .map(|p| p.1)
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, hi), v| {
            (l.min(v), hi.max(v))
        });
    if !low.is_finite() {
        return String::new();
    }
    let (low, high) = if high > low {
        (low, high)
    } else {
        (low - 1.0, high + 1.0)
    };
    let span = (end - start).max(1);
    let x_of = |t: i64| 1 + ((t - start) as f64 / span as f64 * f64::from(w - 2)).round() as i32;
    let y_of = |v: f64| h - 2 - ((v - low) / (high - low) * f64::from(h - 4)).round() as i32;
    let d = path(points, gap, x_of, y_of);
    // Points alone in their run are dots.
    let dots: String = runs(points, gap)
        .iter()
        .filter_map(|run| match run[..] {
            [(t, v)] => Some(format!(
                "<circle class=\"dot\" cx=\"{}\" cy=\"{}\" r=\"1.5\"/>",
                x_of(t),
                y_of(v)
            )),
            _ => None,
        })
        .collect();
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"pd pd-spark\" viewBox=\"0 0 {w} {h}\" \
         width=\"{w}\" height=\"{h}\" role=\"img\" aria-hidden=\"true\"><path class=\"ln\" d=\"{d}\"/>{dots}</svg>"
    )
}

/// The stretches of finite points no further apart than `gap`: a line breaks at a gap and
/// at a value that is not finite.
fn runs(points: &[(i64, f64)], gap: i64) -> Vec<Vec<(i64, f64)>> {
    let mut runs: Vec<Vec<(i64, f64)>> = Vec::new();
    let mut open = false;
    for &(t, v) in points {
        if !v.is_finite() {
            open = false;
            continue;
        }
        match runs.last_mut() {
            Some(run) if open && run.last().is_some_and(|p| t - p.0 <= gap.max(1)) => {
                run.push((t, v))
            }
            _ => runs.push(vec![(t, v)]),
        }
        open = true;
    }
    runs
}

/// An SVG path through the finite points, broken where they are more than `gap` apart (a
/// lone point is a segment of no length; the chart draws it as a dot).
fn path(
    points: &[(i64, f64)],
    gap: i64,
    x_of: impl Fn(i64) -> i32,
    y_of: impl Fn(f64) -> i32,
) -> String {
    let mut d = String::new();
    for run in runs(points, gap) {
        for (k, &(t, v)) in run.iter().enumerate() {
            let (x, y) = (x_of(t), y_of(v));
            if k == 0 {
                d.push_str(&format!("M{x} {y}h0.1"));
            } else {
                d.push_str(&format!("L{x} {y}"));
            }
        }
    }
    d
}

/// A step of 1, 2 or 5 × 10^n giving about `ticks` lines over `[low, high]`, and the range
/// widened to whole steps.
fn nice_scale(low: f64, high: f64, ticks: i32) -> (f64, f64, f64) {
    // One value (or none): a scale around it, as fine as the value itself.
    let span = if high > low {
        high - low
    } else if low != 0.0 {
        low.abs()
    } else {
        1.0
    };
    let raw = span / f64::from(ticks);
    let magnitude = 10_f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let low = (low / step).floor() * step;
    let mut high = (high / step).ceil() * step;
    if high <= low {
        high = low + step;
    }
    (step, low, high)
}

/// A value with an SI prefix, with as many decimals as `step` needs.
fn si(v: f64, step: f64) -> String {
    let (div, prefix) = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, "")]
        .into_iter()
        .find(|(d, _)| step.abs().max(v.abs()) >= *d && step >= *d / 10.0)
        .unwrap_or((1.0, ""));
    let scaled_step = step / div;
    let decimals = if scaled_step >= 1.0 {
        0
    } else {
        (-scaled_step.log10().floor()) as usize
    };
    format!("{:.*}{prefix}", decimals.min(6), v / div)
}

/// The time between vertical lines for a span, and whether labels are dates.
fn time_tick(span: i64) -> (i64, bool) {
    const MINUTE: i64 = 60_000;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    let candidates = [
        (MINUTE, false),
        (5 * MINUTE, false),
        (10 * MINUTE, false),
        (30 * MINUTE, false),
        (HOUR, false),
        (3 * HOUR, false),
        (6 * HOUR, false),
        (12 * HOUR, false),
        (DAY, true),
        (2 * DAY, true),
        (7 * DAY, true),
        (14 * DAY, true),
        (30 * DAY, true),
        (91 * DAY, true),
    ];
    candidates
        .into_iter()
        .find(|(tick, _)| span / tick <= 8)
        .unwrap_or((365 * DAY, true))
}

/// `HH:MM`, or `MM-DD` for daily ticks, in UTC.
fn time_label(t: i64, daily: bool) -> String {
    let days = t.div_euclid(86_400_000);
    let ms = t.rem_euclid(86_400_000);
    if daily {
        let (_, month, day) = civil_from_days(days);
        format!("{month:02}-{day:02}")
    } else {
        format!("{:02}:{:02}", ms / 3_600_000, ms % 3_600_000 / 60_000)
    }
}

/// Year, month and day of a day count since 1970-01-01 (proleptic Gregorian; H. Hinnant's
/// algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart() -> Chart {
        Chart {
            title: "rta on <core-sw1>".into(),
            unit: "ms".into(),
            start: 0,
            end: 3_600_000,
            gap: 120_000,
            lines: vec![ChartLine {
                label: "rta".into(),
                points: vec![
                    (0, 1.0),
                    (60_000, 2.0),
                    (600_000, 3.0),
                    (660_000, f64::NAN),
                    (720_000, 4.0),
                ],
            }],
            bands: vec![
                ChartBand {
                    from: 3.5,
                    to: 5.0,
                    level: "warning".into(),
                },
                ChartBand {
                    from: 5.0,
                    to: f64::INFINITY,
                    level: "critical".into(),
                },
            ],
            markers: vec![ChartMarker {
                at: 600_000,
                state: "critical".into(),
                label: "CRITICAL: \"down\"".into(),
            }],
            trend: None,
            empty_text: "No data".into(),
        }
    }

    #[test]
    fn lines_break_at_gaps_and_text_is_escaped() {
        let svg = line_chart(&chart());
        assert!(svg.contains("rta on &lt;core-sw1&gt;"), "{svg}");
        assert!(svg.contains("CRITICAL: &quot;down&quot;"));
        // Three runs: the first two points, the one after the gap, the one after NaN.
        let d = svg
            .split("class=\"ln ln0\" d=\"")
            .nth(1)
            .unwrap_or("")
            .split('"')
            .next()
            .unwrap_or("");
        assert_eq!(d.matches('M').count(), 3, "{d}");
        assert_eq!(d.matches('L').count(), 1, "{d}");
        assert!(svg.contains("band-warning") && svg.contains("band-critical"));
        assert!(svg.contains("mk mk-critical"));
        assert!(svg.contains(">00:10<"), "{svg}");
        // The point alone between the gap and the NaN is a dot.
        assert_eq!(svg.matches("<circle class=\"sw0\"").count(), 2, "{svg}");
        assert_eq!(
            svg,
            line_chart(&chart()),
            "the same input draws the same chart"
        );
    }

    #[test]
    fn an_empty_chart_says_so_and_scales_and_dates_are_readable() {
        let mut empty = chart();
        empty.lines[0].points.clear();
        assert!(line_chart(&empty).contains("No data"));
        assert_eq!(nice_scale(0.0, 97.0, 5), (20.0, 0.0, 100.0));
        // One small value: a scale as fine as it, not 0 to 1.
        let (step, low, high) = nice_scale(0.000108, 0.000108, 5);
        assert!(step < 0.0001 && low <= 0.000108 && (0.000108..0.001).contains(&high));
        assert_eq!(si(2_500_000_000.0, 500_000_000.0), "2.5G");
        assert_eq!(si(40.0, 20.0), "40");
        assert_eq!(si(0.25, 0.05), "0.25");
        assert_eq!(civil_from_days(20_787), (2026, 11, 30));
        assert_eq!(time_label(1_796_000_000_000, true), "11-30");
        assert!(sparkline(&[(0, 1.0), (10, 2.0)], 0, 10, 20).contains("<path"));
        assert!(sparkline(&[(0, 1.0)], 0, 10, 20).contains("<circle class=\"dot\""));
        assert_eq!(sparkline(&[(0, f64::NAN)], 0, 10, 20), "");
    }
}
