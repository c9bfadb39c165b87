//! Hand-written inline SVG charts (equity curve, drawdown area) for the HTML report.
//!
//! The SVG scales to its container (`viewBox`, `width="100%"`). Colours are presentation
//! attributes that the page's CSS classes override (`chart-line`, `chart-grid` …), so the
//! charts follow the page's light or dark theme.

use std::fmt::Write;

use chrono::DateTime;

use super::format::compact;
use super::html::escape;
use super::metrics::thin_indices;

/// ViewBox width; the chart scales to its container.
const W: f64 = 900.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 30.0;
/// Above this many points a curve is thinned (keeping each bucket's low and high).
const MAX_POINTS: usize = 2000;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// What a chart shows; sets colours, scale and labels.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Equity,
    Drawdown,
}

/// Evenly spaced "nice" ticks covering `[lo, hi]` (1, 2, 2.5, 5 × 10^k steps).
pub(crate) fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    let span = hi - lo;
    if span.is_nan() || span <= 0.0 || !span.is_finite() {
        return vec![lo];
    }
    let raw = span / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= target as f64 + 0.5)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() * step;
    let mut ticks = Vec::new();
    let mut i = 0.0;
    loop {
        let v = first + i * step;
        if v > hi + step * 1e-9 || ticks.len() > 50 {
            break;
        }
        // avoid "-0"
        ticks.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        i += 1.0;
    }
    ticks
}

/// Y range with headroom: flat series get ±1% (or ±1), others 8% padding.
fn y_range(min: f64, max: f64) -> (f64, f64) {
    if max - min <= f64::EPSILON * max.abs().max(1.0) {
        let pad = if min.abs() > 0.0 {
            min.abs() * 0.01
        } else {
            1.0
        };
        return (min - pad, max + pad);
    }
    let pad = (max - min) * 0.08;
    (min - pad, max + pad)
}

/// Time ticks at a round step, with a label format suited to the span.
pub(crate) fn time_ticks(t0: i64, t1: i64) -> (Vec<i64>, &'static str) {
    const STEPS: &[i64] = &[
        HOUR,
        3 * HOUR,
        6 * HOUR,
        12 * HOUR,
        DAY,
        2 * DAY,
        7 * DAY,
        14 * DAY,
        30 * DAY,
        91 * DAY,
        182 * DAY,
        365 * DAY,
    ];
    let span = (t1 - t0).max(1);
    let step = STEPS
        .iter()
        .copied()
        .find(|s| span / s <= 7)
        .unwrap_or_else(|| (span / 7).max(1));
    let first = t0.div_euclid(step) * step + if t0.rem_euclid(step) == 0 { 0 } else { step };
    let ticks: Vec<i64> = (0..)
        .map(|i| first + i * step)
        .take_while(|t| *t <= t1)
        .take(60)
        .collect();
    let fmt = if step < DAY {
        "%H:%M"
    } else if span > 330 * DAY {
        "%b %Y"
    } else {
        "%b %d"
    };
    (ticks, fmt)
}

/// A number with thousands separators and no decimals (`10,150`).
fn grouped(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A point's value: the amount with 2 decimals while it stays short, else compact.
pub(crate) fn value_label(v: f64) -> String {
    if v.abs() < 1e9 {
        super::format::amount_f64(v, 2)
    } else {
        compact(v)
    }
}

fn fmt_time(t: i64, fmt: &str) -> String {
    DateTime::from_timestamp_millis(t)
        .map(|d| d.format(fmt).to_string())
        .unwrap_or_default()
}

/// Keep at most ~`max` points (see [`thin_indices`]).
fn thin(points: &[(i64, f64)], max: usize) -> Vec<(i64, f64)> {
    let values: Vec<f64> = points.iter().map(|p| p.1).collect();
    thin_indices(&values, max)
        .into_iter()
        .map(|i| points[i])
        .collect()
}

fn open_svg(out: &mut String, h: f64, label: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {W} {h}" width="100%" preserveAspectRatio="xMidYMid meet" role="img" aria-label="{0}" xmlns="http://www.w3.org/2000/svg" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" font-size="13"><title>{0}</title>"#,
        escape(label)
    );
}

fn empty_chart(h: f64, label: &str, message: &str) -> String {
    let mut out = String::new();
    open_svg(&mut out, h, label);
    let _ = write!(
        out,
        r##"<rect class="chart-frame" x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="none" stroke="#d0d7de" stroke-dasharray="4 4"/><text class="chart-muted" x="{}" y="{}" text-anchor="middle" fill="#6e7781" font-size="15">{}</text></svg>"##,
        W - LEFT - RIGHT,
        h - TOP - BOTTOM,
        W / 2.0,
        h / 2.0,
        escape(message)
    );
    out
}

/// The scales of one chart: time on x, value on y, in viewBox units.
struct Plot {
    kind: Kind,
    t0: i64,
    t1: i64,
    y0: f64,
    y1: f64,
    /// Plot area height.
    ph: f64,
    ticks: Vec<f64>,
}

impl Plot {
    /// Time range (widened to a day around a single instant) and value range with its ticks.
    fn new(pts: &[(i64, f64)], h: f64, kind: Kind, baseline: Option<f64>) -> Plot {
        let (mut t0, mut t1) = (pts[0].0, pts[pts.len() - 1].0);
        if t1 <= t0 {
            t0 -= 12 * HOUR;
            t1 += 12 * HOUR;
        }
        let (mut vmin, mut vmax) = pts
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                (a.min(p.1), b.max(p.1))
            });
        if let Some(b) = baseline.filter(|b| b.is_finite()) {
            vmin = vmin.min(b);
            vmax = vmax.max(b);
        }
        let (y0, y1) = match kind {
            Kind::Equity => y_range(vmin, vmax),
            // drawdown values are <= 0; keep 0 at the top and at least 1% of depth
            Kind::Drawdown => (vmin.min(-1.0) * 1.1, 0.0),
        };
        let ticks = nice_ticks(y0, y1, 5);
        let (y0, y1) = (y0.min(ticks[0]), y1.max(ticks[ticks.len() - 1]));
        Plot {
            kind,
            t0,
            t1,
            y0,
            y1,
            ph: h - TOP - BOTTOM,
            ticks,
        }
    }

    fn x(&self, t: i64) -> f64 {
        LEFT + (t - self.t0) as f64 / (self.t1 - self.t0) as f64 * (W - LEFT - RIGHT)
    }

    fn y(&self, v: f64) -> f64 {
        TOP + (self.y1 - v) / (self.y1 - self.y0) * self.ph
    }

    /// Line class and colour of the curve.
    fn style(&self) -> (&'static str, &'static str) {
        match self.kind {
            Kind::Equity => ("chart-line", "#0969da"),
            Kind::Drawdown => ("chart-dd-line", "#cf222e"),
        }
    }

    /// Horizontal grid and value labels.
    fn value_grid(&self, out: &mut String) {
        out.push_str(r##"<g class="chart-grid" stroke="#d0d7de" stroke-width="1">"##);
        for &v in &self.ticks {
            let _ = write!(
                out,
                r#"<line x1="{LEFT}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}"/>"#,
                W - RIGHT,
                yy = self.y(v)
            );
        }
        out.push_str("</g>");
        out.push_str(r##"<g class="chart-muted" fill="#6e7781" text-anchor="end">"##);
        // Compact labels ("10.2k") unless two ticks would read the same; then whole numbers.
        let labels: Vec<String> = self.ticks.iter().map(|&v| compact(v)).collect();
        let distinct = labels.windows(2).all(|w| w[0] != w[1]);
        for (i, &v) in self.ticks.iter().enumerate() {
            let text = match (self.kind, distinct) {
                (Kind::Equity, true) => labels[i].clone(),
                (Kind::Equity, false) => grouped(v),
                (Kind::Drawdown, _) => format!("{}%", compact(v)),
            };
            let _ = write!(
                out,
                r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
                LEFT - 8.0,
                self.y(v) + 4.0,
                escape(&text)
            );
        }
        out.push_str("</g>");
    }

    /// Time ticks and the axis line.
    fn time_axis(&self, out: &mut String) {
        let ph = self.ph;
        let (tt, fmt) = time_ticks(self.t0, self.t1);
        out.push_str(r##"<g class="chart-muted" fill="#6e7781" text-anchor="middle">"##);
        for &t in &tt {
            let xx = self.x(t);
            let _ = write!(
                out,
                r##"<line class="chart-tick" x1="{xx:.1}" x2="{xx:.1}" y1="{:.1}" y2="{:.1}" stroke="#d0d7de"/><text x="{xx:.1}" y="{:.1}">{}</text>"##,
                TOP + ph,
                TOP + ph + 5.0,
                TOP + ph + 19.0,
                escape(&fmt_time(t, fmt))
            );
        }
        out.push_str("</g>");
        let _ = write!(
            out,
            r##"<line class="chart-axis" x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#8c959f"/>"##,
            W - RIGHT,
            TOP + ph,
            TOP + ph
        );
    }

    /// The start equity, dashed.
    fn baseline(&self, out: &mut String, baseline: Option<f64>) {
        if let Some(b) = baseline.filter(|b| b.is_finite()) {
            let _ = write!(
                out,
                r##"<line class="chart-baseline" x1="{LEFT}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#8c959f" stroke-dasharray="5 4"/>"##,
                W - RIGHT,
                yy = self.y(b)
            );
        }
    }

    /// The curve and its shaded area (a dot for a single point).
    fn curve(&self, out: &mut String, pts: &[(i64, f64)]) {
        let (line_class, stroke) = self.style();
        if pts.len() == 1 {
            let (t, v) = pts[0];
            let _ = write!(
                out,
                r#"<circle class="{line_class}-dot" cx="{:.1}" cy="{:.1}" r="4" fill="{stroke}"/>"#,
                self.x(t),
                self.y(v)
            );
            return;
        }
        let mut d = String::with_capacity(pts.len() * 16);
        for (i, &(t, v)) in pts.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { "L" },
                self.x(t),
                self.y(v)
            );
        }
        // area: down to the bottom (equity) or up to 0 (drawdown)
        let floor = match self.kind {
            Kind::Equity => self.y(self.y0),
            Kind::Drawdown => self.y(0.0),
        };
        let area_class = match self.kind {
            Kind::Equity => "chart-area",
            Kind::Drawdown => "chart-dd-area",
        };
        let _ = write!(
            out,
            r#"<path class="{area_class}" d="{d}L{:.1},{floor:.1}L{:.1},{floor:.1}Z" fill="{stroke}" fill-opacity="0.12" stroke="none"/>"#,
            self.x(pts[pts.len() - 1].0),
            self.x(pts[0].0)
        );
        let _ = write!(
            out,
            r#"<path class="{line_class}" d="{d}" fill="none" stroke="{stroke}" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"/>"#
        );
    }

    /// Labels the last value (equity) or the deepest point (drawdown).
    fn value_label(&self, out: &mut String, pts: &[(i64, f64)]) {
        let (line_class, stroke) = self.style();
        let kind = self.kind;
        let (lt, lv) = match kind {
            Kind::Equity => pts[pts.len() - 1],
            Kind::Drawdown => pts
                .iter()
                .copied()
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap_or(pts[0]),
        };
        let text = match kind {
            Kind::Equity => value_label(lv),
            Kind::Drawdown => format!("max {}%", compact(lv)),
        };
        if kind == Kind::Drawdown && lv == 0.0 {
            return;
        }
        let (lx, ly) = (self.x(lt), self.y(lv));
        let anchor = if lx > W - RIGHT - 110.0 {
            "end"
        } else {
            "start"
        };
        let dx = if anchor == "end" { -8.0 } else { 8.0 };
        let dy = if kind == Kind::Drawdown { 14.0 } else { -8.0 };
        let _ = write!(
            out,
            r##"<circle class="{line_class}-dot" cx="{lx:.1}" cy="{ly:.1}" r="3.5" fill="{stroke}"/><text class="chart-value {line_class}-text" x="{:.1}" y="{:.1}" text-anchor="{anchor}" font-weight="600" fill="{stroke}" stroke="#ffffff" stroke-width="4" stroke-linejoin="round" paint-order="stroke">{}</text>"##,
            lx + dx,
            (ly + dy).clamp(TOP + 10.0, TOP + self.ph - 4.0),
            escape(&text)
        );
    }
}

fn chart(points: &[(i64, f64)], h: f64, kind: Kind, label: &str, baseline: Option<f64>) -> String {
    let pts: Vec<(i64, f64)> = points.iter().copied().filter(|p| p.1.is_finite()).collect();
    if pts.is_empty() {
        return empty_chart(h, label, "No balance history in this period");
    }
    let pts = thin(&pts, MAX_POINTS);
    let plot = Plot::new(&pts, h, kind, baseline);
    let mut out = String::new();
    open_svg(&mut out, h, label);
    plot.value_grid(&mut out);
    plot.time_axis(&mut out);
    plot.baseline(&mut out, baseline);
    plot.curve(&mut out, &pts);
    plot.value_label(&mut out, &pts);
    out.push_str("</svg>");
    out
}

/// Equity curve: `points` are `(time_ms, equity)`; `start` draws a dashed start-equity line.
pub fn equity_svg(points: &[(i64, f64)], start: Option<f64>, label: &str) -> String {
    chart(points, 280.0, Kind::Equity, label, start)
}

/// Drawdown area: `points` are `(time_ms, drawdown %)` with drawdowns POSITIVE (as
/// [`super::EquityPoint::drawdown_pct`]); drawn below a zero line.
pub fn drawdown_svg(points: &[(i64, f64)], label: &str) -> String {
    // a drawdown is never a gain: anything below 0 is drawn at 0, never above the zero line
    let neg: Vec<(i64, f64)> = points.iter().map(|&(t, d)| (t, 0.0 - d.max(0.0))).collect();
    chart(&neg, 180.0, Kind::Drawdown, label, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ticks_are_round() {
        assert_eq!(
            nice_ticks(0.0, 100.0, 5),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(
            nice_ticks(-12.0, 0.0, 5),
            vec![-10.0, -7.5, -5.0, -2.5, 0.0]
        );
        assert_eq!(nice_ticks(99.0, 131.0, 5), vec![100.0, 110.0, 120.0, 130.0]);
        assert_eq!(nice_ticks(5.0, 5.0, 5), vec![5.0]);
    }

    #[test]
    fn time_ticks_pick_a_round_step() {
        let (t, f) = time_ticks(0, 30 * DAY);
        assert_eq!(f, "%b %d");
        assert!(t.len() <= 8 && t.len() >= 4, "{t:?}");
        let (t, f) = time_ticks(0, DAY);
        assert_eq!(f, "%H:%M");
        assert_eq!(t[1] - t[0], 6 * HOUR);
    }

    #[test]
    fn thinning_keeps_extremes_and_the_last_point() {
        let pts: Vec<(i64, f64)> = (0..10_000)
            .map(|i| (i, if i == 5000 { -1e9 } else { i as f64 }))
            .collect();
        let t = thin(&pts, 1000);
        assert!(t.len() <= 1001);
        assert!(t.iter().any(|p| p.1 == -1e9));
        assert_eq!(t.last(), pts.last());
    }

    #[test]
    fn empty_and_single_point_charts_render() {
        let e = equity_svg(&[], None, "Equity");
        assert!(e.contains("No balance history"));
        let one = equity_svg(&[(0, 100.0)], Some(100.0), "Equity");
        assert!(one.contains("<circle"));
        assert!(!one.contains("NaN"));
        let flat = equity_svg(&[(0, 100.0), (DAY, 100.0)], Some(100.0), "Equity");
        assert!(!flat.contains("NaN") && flat.contains("<path"));
        let neg = drawdown_svg(&[(0, 0.0), (DAY, 0.0)], "Drawdown");
        assert!(!neg.contains("NaN"));
    }

    /// The y coordinates of the `chart-dd-line` path.
    fn line_ys(svg: &str) -> Vec<f64> {
        let at = svg
            .find(r#"class="chart-dd-line" d=""#)
            .expect("a drawdown line")
            + 26;
        let d = &svg[at..at + svg[at..].find('"').unwrap()];
        d.split(['M', 'L'])
            .filter(|p| !p.is_empty())
            .map(|p| p.split(',').nth(1).unwrap().parse().unwrap())
            .collect()
    }

    #[test]
    fn the_drawdown_line_stays_at_or_below_its_zero_line() {
        // 0 at new peaks, dips between them; a negative value (bad input) is drawn at 0
        let pts: Vec<(i64, f64)> = (0..500)
            .map(|i| {
                (
                    i * HOUR,
                    if i % 5 == 0 {
                        0.0
                    } else {
                        (i % 5) as f64 * 0.7
                    },
                )
            })
            .chain([(500 * HOUR, -3.0)])
            .collect();
        let svg = drawdown_svg(&pts, "Drawdown");
        let ys = line_ys(&svg);
        assert_eq!(ys.len(), 501);
        // the zero tick is the top of the plot: no point of the line is above it
        let top = ys.iter().copied().fold(f64::INFINITY, f64::min);
        assert!((top - TOP).abs() < 0.05, "{top}");
        assert!(
            svg.contains(&format!(r#"y1="{TOP:.1}" y2="{TOP:.1}""#)),
            "0% gridline at the top"
        );
        assert_eq!(ys[500], ys[0], "a negative drawdown is drawn at 0");
    }
}
