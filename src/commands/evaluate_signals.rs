//! `fks evaluate-signals`: an honest walk-forward evaluation. Each decision uses only
//! knowledge available at its time; the report compares retrieval with the legacy rules and
//! buy-and-hold, with calibration and Brier scores, and says plainly when it does not win.

use super::Ctx;
use crate::core::indicators::compute_all;
use crate::core::intelligence::evaluate::{WalkForwardConfig, walk_forward};
use crate::core::market::{Symbol, Timeframe};
use crate::core::store::candles;
use crate::core::time::time_arg;
use crate::output::{Outcome, Status, new_table};
use anyhow::{Result, bail};
use serde_json::json;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Symbol to evaluate (BTCUSDT).
    #[arg(long)]
    pub symbol: Symbol,
    /// Candle interval (1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w; default: market.timeframe).
    #[arg(long)]
    pub timeframe: Option<Timeframe>,
    /// First decision time (YYYY-MM-DD, RFC 3339 or milliseconds, UTC).
    #[arg(long, value_parser = time_arg)]
    pub from: Option<i64>,
    /// Last decision time (YYYY-MM-DD, RFC 3339 or milliseconds, UTC).
    #[arg(long, value_parser = time_arg)]
    pub to: Option<i64>,
    /// Bars ahead each decision is judged on (default: intelligence.horizon).
    #[arg(long)]
    pub horizon: Option<usize>,
    /// Bars between decisions (default: the horizon, so outcomes do not overlap).
    #[arg(long)]
    pub step: Option<usize>,
    /// Snapshots with known outcomes needed before the first decision.
    #[arg(long, default_value_t = 500)]
    pub min_history: usize,
    /// Include every decision in the JSON.
    #[arg(long)]
    pub decisions: bool,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
    let cfg = &ctx.settings.file.intelligence;
    let tf = args.timeframe.unwrap_or(ctx.settings.file.market.timeframe);
    // Only candles closed by the run's clock.
    let closed = crate::core::freshness::last_closed_open(tf, ctx.now_ms());
    let to = Some(args.to.map_or(closed, |x| x.min(closed)));
    let bars = candles::bars(store, &args.symbol, tf, args.from.map(|f| f - 1), to).await?;
    let horizon = args.horizon.unwrap_or(cfg.horizon);
    if bars.len() < args.min_history + 250 + horizon {
        bail!(
            "{} {tf} candles for {}: need at least {} for this evaluation",
            bars.len(),
            args.symbol,
            args.min_history + 250 + horizon
        );
    }
    let ind = compute_all(&bars);
    let wf = WalkForwardConfig {
        k: cfg.k,
        ..Default::default()
    };
    let ev = walk_forward(
        &bars,
        &ind,
        &args.symbol,
        horizon,
        args.step.unwrap_or(horizon),
        args.min_history,
        &wf,
    );
    let mut t = new_table();
    t.set_header(vec![
        "method",
        "decisions",
        "BUY",
        "SELL",
        "hit rate",
        "avg ret BUY",
        "avg ret SELL",
        "mean decision ret",
        "Brier (dir.)",
    ]);
    let pct = |x: Option<f64>| {
        x.map(|v| format!("{:.2}%", v * 100.0))
            .unwrap_or_else(|| "-".into())
    };
    for (name, m) in [("rag", &ev.rag), ("legacy", &ev.legacy)] {
        t.add_row(vec![
            name.to_string(),
            m.decisions.to_string(),
            m.buys.to_string(),
            m.sells.to_string(),
            pct(m.hit_rate),
            pct(m.avg_return_buy),
            pct(m.avg_return_sell),
            pct(m.mean_decision_return),
            m.brier_directional
                .map(|b| format!("{b:.3}"))
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    t.add_row(vec![
        "buy & hold".into(),
        ev.buy_and_hold.evaluated.to_string(),
        "-".into(),
        "-".into(),
        pct(ev.buy_and_hold.hit_rate),
        "-".into(),
        "-".into(),
        pct(ev.buy_and_hold.avg_forward_return),
        "-".into(),
    ]);
    let mut v = serde_json::to_value(&ev)?;
    if !args.decisions
        && let Some(o) = v.as_object_mut()
    {
        o.remove("rag_decisions");
        o.remove("legacy_decisions");
    }
    v["timeframe"] = json!(tf);
    v["bars"] = json!(bars.len());
    if !ctx.global.quiet && ctx.format == crate::output::Format::Table {
        eprintln!("{}", ev.verdict);
    }
    Ok(Outcome::new(Status::Success, v)?.with_table(t))
}
