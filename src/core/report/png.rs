//! The equity curve with its drawdown beneath, as a PNG (the Discord attachment).
//!
//! Drawn with plotters into an RGB buffer and encoded with `png` (plotters'
//! `bitmap_encoder` would pull in `image`). Text uses DejaVu Sans, embedded in the binary
//! (`assets/DejaVuSans.ttf`, licence in `assets/DejaVuSans.LICENSE`) and registered with
//! plotters' `ab_glyph` backend, so no system font or fontconfig is needed.

use std::sync::OnceLock;

use anyhow::{Context, anyhow, bail};
use chrono::DateTime;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::ReportData;
use super::format::{compact, pct_plain};
use super::svg::{nice_ticks, time_ticks, value_label};
use crate::core::backtest::metrics::drawdown_pct_series;

static FONT: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");
/// The family name the embedded font is registered under.
const FAMILY: &str = "sans-serif";

const BG: RGBColor = RGBColor(255, 255, 255);
const FG: RGBColor = RGBColor(31, 35, 40);
const MUTED: RGBColor = RGBColor(101, 109, 118);
const GRID: RGBColor = RGBColor(228, 232, 236);
const BLUE: RGBColor = RGBColor(9, 105, 218);
const RED: RGBColor = RGBColor(207, 34, 46);

/// Smallest and largest accepted image sides, in pixels.
pub const MIN_SIDE: u32 = 200;
pub const MAX_SIDE: u32 = 4096;

/// Register the embedded font with plotters once per process.
fn ensure_font() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
                .map_err(|_| "the embedded DejaVuSans.ttf is not a valid font".to_string())
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

fn plot_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("draw chart: {e}")
}

/// Render the report's equity curve (top ~62%) and drawdown (below) as a PNG of
/// `width` × `height` pixels (each between [`MIN_SIDE`] and [`MAX_SIDE`]). Without
/// history the image says so instead of failing. About 30–80 KB at 1200 × 700.
pub fn render_equity_png(r: &ReportData, width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    if !(MIN_SIDE..=MAX_SIDE).contains(&width) || !(MIN_SIDE..=MAX_SIDE).contains(&height) {
        bail!(
            "chart size {width}x{height} out of range: each side must be {MIN_SIDE}..={MAX_SIDE} pixels"
        );
    }
    ensure_font()?;
    let mut buf = vec![0u8; width as usize * height as usize * 3];
    {
        let backend =
            BitMapBackend::with_buffer_and_format(&mut buf, (width, height)).map_err(plot_err)?;
        let root = backend.into_drawing_area();
        let m = &r.metrics;
        let title = format!("{} · {}", r.title(), r.period_label());
        let subtitle = format!(
            "Equity ({}) · total return {} · max drawdown {} (day closes), {} (intraday)",
            r.account.quote,
            super::format::pct(m.total_return_pct),
            pct_plain(m.max_drawdown_pct),
            pct_plain(m.max_intraday_drawdown_pct),
        );
        let pts: Vec<(i64, f64, f64)> = m
            .equity_curve
            .iter()
            .filter(|p| p.equity.is_finite() && p.drawdown_pct.is_finite())
            .map(|p| {
                (
                    p.time_ms,
                    p.equity,
                    (0.0 - p.drawdown_pct.max(0.0)).min(0.0),
                )
            })
            .collect();
        draw(
            &root,
            &title,
            &subtitle,
            &pts,
            m.start_equity,
            "No balance history in this period",
            width,
        )?;
        root.present().map_err(plot_err)?;
    }
    encode_png(&buf, width, height)
}

/// The points of a backtest chart: `(open_time, equity, drawdown %)` with the drawdown
/// NEGATIVE or zero (`-12.5` = 12.5% below the running peak; 0 at every new peak), as the
/// engine measures max drawdown ([`drawdown_pct_series`]). Non-finite equities are
/// skipped.
pub fn backtest_chart_series(points: &[(i64, f64)]) -> Vec<(i64, f64, f64)> {
    let pts: Vec<(i64, f64)> = points.iter().copied().filter(|p| p.1.is_finite()).collect();
    let equity: Vec<f64> = pts.iter().map(|p| p.1).collect();
    pts.iter()
        .zip(drawdown_pct_series(&equity))
        // `0.0 - d` so a zero drawdown is +0, never -0; never above 0 whatever the input
        .map(|(&(t, e), d)| (t, e, (0.0 - d.max(0.0)).min(0.0)))
        .collect()
}

/// A backtest's equity curve (close-marked, `(open_time, equity)`) with its drawdown, as a
/// 1200 x 700 PNG.
pub fn backtest_chart_png(
    label: &str,
    points: &[(i64, f64)],
    initial: f64,
) -> anyhow::Result<Vec<u8>> {
    let (width, height) = (1200u32, 700u32);
    let (buf, _) = render_backtest_rgb(label, points, initial, width, height)?;
    encode_png(&buf, width, height)
}

/// The backtest chart as RGB8 pixels, and where its panes ended up.
fn render_backtest_rgb(
    label: &str,
    points: &[(i64, f64)],
    initial: f64,
    width: u32,
    height: u32,
) -> anyhow::Result<(Vec<u8>, Layout)> {
    ensure_font()?;
    let pts = backtest_chart_series(points);
    let max_dd = pts.iter().map(|p| -p.2).fold(0.0, f64::max);
    let ret = points.last().map(|p| 100.0 * (p.1 / initial - 1.0));
    let title = format!("Backtest · {label}");
    let subtitle = format!(
        "Equity · total return {} · max drawdown {}",
        super::format::pct(ret),
        pct_plain(Some(max_dd))
    );
    let mut buf = vec![0u8; width as usize * height as usize * 3];
    let layout = {
        let backend =
            BitMapBackend::with_buffer_and_format(&mut buf, (width, height)).map_err(plot_err)?;
        let root = backend.into_drawing_area();
        let layout = draw(
            &root,
            &title,
            &subtitle,
            &pts,
            Some(initial),
            "No bars",
            width,
        )?;
        root.present().map_err(plot_err)?;
        layout
    };
    Ok((buf, layout))
}

/// Encode an RGB8 buffer as PNG.
fn encode_png(rgb: &[u8], width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(64 * 1024);
    {
        let mut enc = ::png::Encoder::new(&mut out, width, height);
        enc.set_color(::png::ColorType::Rgb);
        enc.set_depth(::png::BitDepth::Eight);
        enc.set_compression(::png::Compression::High);
        let mut w = enc.write_header().context("write PNG header")?;
        w.write_image_data(rgb).context("encode PNG")?;
        w.finish().context("finish PNG")?;
    }
    Ok(out)
}

/// Where [`draw`] put things, in pixels.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Layout {
    /// Row of the drawdown pane's 0% line (its top), when there is a drawdown pane.
    dd_zero_y: Option<i32>,
}

fn draw(
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
    title: &str,
    subtitle: &str,
    pts: &[(i64, f64, f64)],
    start_equity: Option<f64>,
    empty: &str,
    width: u32,
) -> anyhow::Result<Layout> {
    root.fill(&BG).map_err(plot_err)?;
    let scale = (f64::from(width) / 1200.0).clamp(0.5, 2.5);
    let px = |v: f64| (v * scale).round().max(1.0) as u32;
    let font = |size: f64, color: &'static RGBColor| {
        TextStyle::from((FAMILY, size * scale).into_font()).color(color)
    };

    root.draw(&Text::new(
        title.to_string(),
        (px(24.0) as i32, px(16.0) as i32),
        font(24.0, &FG),
    ))
    .map_err(plot_err)?;
    root.draw(&Text::new(
        subtitle.to_string(),
        (px(24.0) as i32, px(48.0) as i32),
        font(16.0, &MUTED),
    ))
    .map_err(plot_err)?;
    let body = root.margin(px(78.0), px(12.0), px(12.0), px(24.0));

    if pts.is_empty() {
        let (w, h) = body.dim_in_pixel();
        let style = font(22.0, &MUTED).pos(Pos::new(HPos::Center, VPos::Center));
        body.draw(&Text::new(
            empty.to_string(),
            (w as i32 / 2, h as i32 / 2),
            style,
        ))
        .map_err(plot_err)?;
        return Ok(Layout::default());
    }

    let (mut t0, mut t1) = (pts[0].0, pts[pts.len() - 1].0);
    if t1 <= t0 {
        t0 -= 12 * 3_600_000;
        t1 += 12 * 3_600_000;
    }
    let (tticks, tfmt) = time_ticks(t0, t1);
    // x in ms since t0 as f64: plotters' i64 coordinates overflow on epoch milliseconds
    let span = (t1 - t0) as f64;
    let xs = |t: i64| (t - t0) as f64;
    let fmt_t = |t: &i64| {
        DateTime::from_timestamp_millis(*t)
            .map(|d| d.format(tfmt).to_string())
            .unwrap_or_default()
    };

    let body_h = body.dim_in_pixel().1;
    let (top, bottom) = body.split_vertically((f64::from(body_h) * 0.64) as u32);

    // equity
    let (mut lo, mut hi) = pts
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.1), b.max(p.1))
        });
    if let Some(s) = start_equity.filter(|s| s.is_finite()) {
        lo = lo.min(s);
        hi = hi.max(s);
    }
    let (y0, y1) = if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        let pad = if lo != 0.0 { lo.abs() * 0.01 } else { 1.0 };
        (lo - pad, hi + pad)
    } else {
        let pad = (hi - lo) * 0.08;
        (lo - pad, hi + pad)
    };
    let label_area = px(76.0);
    let mut eq = ChartBuilder::on(&top)
        .margin_right(px(16.0))
        .x_label_area_size(px(8.0))
        .y_label_area_size(label_area)
        .build_cartesian_2d(0.0..span, y0..y1)
        .map_err(plot_err)?;
    let yticks = nice_ticks(y0, y1, 5);
    eq.configure_mesh()
        .disable_x_mesh()
        .disable_y_mesh()
        .x_labels(0)
        .y_labels(0)
        .axis_style(MUTED)
        .draw()
        .map_err(plot_err)?;
    draw_grid(&mut eq, &yticks, &tticks, y0, y1, t0, span)?;
    // y labels drawn by hand at the nice ticks
    for &v in &yticks {
        let (x, y) = eq.backend_coord(&(0.0, v));
        root.draw(&Text::new(
            compact(v),
            (x - px(8.0) as i32, y),
            font(14.0, &MUTED).pos(Pos::new(HPos::Right, VPos::Center)),
        ))
        .map_err(plot_err)?;
    }
    if let Some(s) = start_equity.filter(|s| s.is_finite()) {
        eq.draw_series(DashedLineSeries::new(
            [(0.0, s), (span, s)],
            px(6.0),
            px(5.0),
            MUTED.stroke_width(1),
        ))
        .map_err(plot_err)?;
    }
    if pts.len() == 1 {
        eq.draw_series(std::iter::once(Circle::new(
            (xs(pts[0].0), pts[0].1),
            px(5.0),
            BLUE.filled(),
        )))
        .map_err(plot_err)?;
    } else {
        let mut poly: Vec<(f64, f64)> = pts.iter().map(|p| (xs(p.0), p.1)).collect();
        poly.push((xs(pts[pts.len() - 1].0), y0));
        poly.push((xs(pts[0].0), y0));
        eq.draw_series(std::iter::once(Polygon::new(poly, BLUE.mix(0.12).filled())))
            .map_err(plot_err)?;
        let line: Vec<(i32, i32)> = pts
            .iter()
            .map(|p| eq.backend_coord(&(xs(p.0), p.1.clamp(y0, y1))))
            .collect();
        stroke(root, &line, px(2.0), &BLUE)?;
    }
    let last = pts[pts.len() - 1];
    let (lx, ly) = eq.backend_coord(&(xs(last.0), last.1));
    root.draw(&Circle::new((lx, ly), px(4.0), BLUE.filled()))
        .map_err(plot_err)?;
    let right_edge = eq.backend_coord(&(span, y1)).0;
    let at_right = lx > right_edge - px(130.0) as i32;
    let (hpos, dx) = if at_right {
        (HPos::Right, -(px(8.0) as i32))
    } else {
        (HPos::Left, px(8.0) as i32)
    };
    // the last value on a white box, so gridlines and the start line do not cross it
    let label = value_label(last.1);
    let style = font(15.0, &BLUE).pos(Pos::new(hpos, VPos::Center));
    let (tw, th) = root.estimate_text_size(&label, &style).map_err(plot_err)?;
    let (tw, th) = (tw as i32, th as i32);
    let ty = (ly - px(16.0) as i32).max(th);
    let x_left = if at_right { lx + dx - tw } else { lx + dx };
    let pad = px(3.0) as i32;
    root.draw(&Rectangle::new(
        [
            (x_left - pad, ty - th / 2 - pad),
            (x_left + tw + pad, ty + th / 2 + pad),
        ],
        BG.filled(),
    ))
    .map_err(plot_err)?;
    root.draw(&Text::new(label, (lx + dx, ty), style))
        .map_err(plot_err)?;

    // drawdown
    let dmin = pts.iter().map(|p| p.2).fold(0.0f64, f64::min);
    let (d0, d1) = (dmin.min(-1.0) * 1.1, 0.0);
    let mut dd = ChartBuilder::on(&bottom)
        .margin_top(px(30.0))
        .margin_right(px(16.0))
        .x_label_area_size(px(34.0))
        .y_label_area_size(label_area)
        .build_cartesian_2d(0.0..span, d0..d1)
        .map_err(plot_err)?;
    dd.configure_mesh()
        .disable_x_mesh()
        .disable_y_mesh()
        .x_labels(0)
        .y_labels(0)
        .axis_style(MUTED)
        .draw()
        .map_err(plot_err)?;
    let dticks = nice_ticks(d0, d1, 3);
    draw_grid(&mut dd, &dticks, &tticks, d0, d1, t0, span)?;
    for &v in &dticks {
        let (x, y) = dd.backend_coord(&(0.0, v));
        root.draw(&Text::new(
            format!("{}%", compact(v)),
            (x - px(8.0) as i32, y),
            font(14.0, &MUTED).pos(Pos::new(HPos::Right, VPos::Center)),
        ))
        .map_err(plot_err)?;
    }
    for t in &tticks {
        let (x, y) = dd.backend_coord(&(xs(*t), d0));
        root.draw(&Text::new(
            fmt_t(t),
            (x, y + px(8.0) as i32),
            font(14.0, &MUTED).pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(plot_err)?;
    }
    if pts.len() > 1 {
        // drawdowns are <= 0; clamp anyway so nothing is drawn above the 0% line
        let ddv = |p: &(i64, f64, f64)| p.2.clamp(d0, d1);
        let mut poly: Vec<(f64, f64)> = pts.iter().map(|p| (xs(p.0), ddv(p))).collect();
        poly.push((xs(pts[pts.len() - 1].0), 0.0));
        poly.push((xs(pts[0].0), 0.0));
        dd.draw_series(std::iter::once(Polygon::new(poly, RED.mix(0.18).filled())))
            .map_err(plot_err)?;
        let line: Vec<(i32, i32)> = pts
            .iter()
            .map(|p| dd.backend_coord(&(xs(p.0), ddv(p))))
            .collect();
        stroke(root, &line, px(1.5), &RED)?;
    }
    // pane title just above the drawdown plot, in the label column's right edge
    let (px0, py0) = dd.backend_coord(&(0.0, d1));
    root.draw(&Text::new(
        "Drawdown (% below peak)",
        (px0, py0 - px(8.0) as i32),
        font(14.0, &MUTED).pos(Pos::new(HPos::Left, VPos::Bottom)),
    ))
    .map_err(plot_err)?;
    Ok(Layout {
        dd_zero_y: Some(py0),
    })
}

/// Draw a polyline (pixel coordinates) `width` pixels thick with a square brush: the union
/// of 1-pixel polylines shifted across a `width` x `width` square, lying on and below/right
/// of the path. plotters draws wider paths as one polygon with mitred joins, and at sharp
/// turns (a dip and its recovery within a pixel or two, as near every new equity peak)
/// those joins spike far beyond the data: the drawdown line rose above 0% and crossed
/// into the equity pane. A brush never strays more than `width` pixels from the data.
fn stroke(
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
    line: &[(i32, i32)],
    width: u32,
    color: &RGBColor,
) -> anyhow::Result<()> {
    let mut path: Vec<(i32, i32)> = Vec::with_capacity(line.len());
    for &p in line {
        if path.last() != Some(&p) {
            path.push(p);
        }
    }
    let w = width.max(1) as i32;
    let lo = -((w - 1) / 2);
    for dx in lo..lo + w {
        for dy in 0..w {
            let shifted: Vec<(i32, i32)> = path.iter().map(|&(x, y)| (x + dx, y + dy)).collect();
            root.draw(&PathElement::new(shifted, color.stroke_width(1)))
                .map_err(plot_err)?;
        }
    }
    Ok(())
}

type Chart<'a, 'b> = ChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// Light gridlines at the given value and time ticks.
fn draw_grid(
    chart: &mut Chart<'_, '_>,
    yticks: &[f64],
    tticks: &[i64],
    y0: f64,
    y1: f64,
    t0: i64,
    span: f64,
) -> anyhow::Result<()> {
    chart
        .draw_series(
            yticks
                .iter()
                .map(|&v| PathElement::new(vec![(0.0, v), (span, v)], GRID)),
        )
        .map_err(plot_err)?;
    chart
        .draw_series(tticks.iter().map(|&t| {
            let x = (t - t0) as f64;
            PathElement::new(vec![(x, y0), (x, y1)], GRID)
        }))
        .map_err(plot_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::backtest::metrics::max_drawdown_pct;

    const H: i64 = 3_600_000;

    /// A curve that keeps making new peaks, each followed by a sharp one-bar dip: the
    /// shape that drew the drawdown line above 0% in the demo.
    fn peaky(n: usize) -> Vec<(i64, f64)> {
        let mut e = 10_000.0;
        (0..n)
            .map(|i| {
                e *= match i % 7 {
                    0 => 1.004,
                    3 => 0.985,
                    4 => 1.016,
                    _ => 1.0 + ((i * 37 % 11) as f64 - 5.0) * 0.0004,
                };
                (1_700_000_000_000 + i as i64 * H, e)
            })
            .collect()
    }

    #[test]
    fn the_drawdown_series_is_never_positive_and_zero_at_new_peaks() {
        let pts = peaky(2000);
        let s = backtest_chart_series(&pts);
        assert_eq!(s.len(), pts.len());
        let mut peak = f64::MIN;
        for (&(t, e), &(t2, e2, d)) in pts.iter().zip(&s) {
            assert_eq!((t, e), (t2, e2));
            assert!(d <= 0.0, "drawdown {d} above 0 at {t}");
            assert!(!(d == 0.0 && d.is_sign_negative()), "-0 at {t}");
            if e >= peak {
                peak = e;
                assert_eq!(d, 0.0, "a new peak is 0% below the peak");
            } else {
                assert!((d + (peak - e) / peak * 100.0).abs() < 1e-9);
            }
        }
        let equity: Vec<f64> = pts.iter().map(|p| p.1).collect();
        let deepest = s.iter().map(|p| p.2).fold(0.0, f64::min);
        assert!((deepest + max_drawdown_pct(&equity)).abs() < 1e-12);
        // non-finite equities are left out; a curve below zero (liquidation) stays <= 0
        let odd = [(0, 100.0), (H, f64::NAN), (2 * H, -5.0), (3 * H, 50.0)];
        let s = backtest_chart_series(&odd);
        assert_eq!(s.len(), 3);
        assert!(s.iter().all(|p| p.2 <= 0.0));
        assert!(backtest_chart_series(&[]).is_empty());
    }

    #[test]
    fn the_drawdown_line_is_drawn_below_its_zero_line() {
        let pts = peaky(2000);
        let (w, h) = (1200u32, 700u32);
        let (rgb, layout) = render_backtest_rgb("t", &pts, 10_000.0, w, h).unwrap();
        let zero = layout.dd_zero_y.unwrap();
        let (r, g, b) = (RED.0, RED.1, RED.2);
        let mut above = Vec::new();
        for y in 0..(zero - 1).max(0) {
            for x in 0..w as i32 {
                let i = (y as usize * w as usize + x as usize) * 3;
                if rgb[i] == r && rgb[i + 1] == g && rgb[i + 2] == b {
                    above.push((x, y));
                }
            }
        }
        assert!(
            above.is_empty(),
            "{} drawdown pixels above the 0% line (row {zero}), e.g. {:?}",
            above.len(),
            &above[..above.len().min(5)]
        );
        // and the line is there: red pixels on and below the zero row
        let below = (zero..h as i32)
            .flat_map(|y| (0..w as i32).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let i = (y as usize * w as usize + x as usize) * 3;
                rgb[i] == r && rgb[i + 1] == g && rgb[i + 2] == b
            })
            .count();
        assert!(below > 1000, "{below}");
    }
}
