//! `fks evaluate-signals`: an honest walk-forward evaluation. Each decision uses only
//! knowledge available at its time, and its confidence is calibrated only on earlier decisions
//! whose outcome was known then. The report measures the confidence (Brier against the base
//! rate, a bootstrap interval of the skill score, calibration error, reliability table, hit
//! rate by confidence quintile), compares retrieval with the legacy rules and buy-and-hold,
//! and says plainly when there is no evidence of skill. Results are stored per symbol: the
//! signals carry the latest one's skill and decide with its calibration.

use super::Ctx;
use crate::core::indicators::compute_all;
use crate::core::intelligence::evaluate::{
    Evaluation, MIN_MEASURABLE, SeriesInput, WalkForwardConfig, walk_forward_many,
};
use crate::core::knowledge;
use crate::core::market::{Symbol, Timeframe};
use crate::core::store::candles;
use crate::core::time::time_arg;
use crate::output::{Outcome, Status, new_table};
use anyhow::{Result, bail};
use serde_json::{Value, json};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Symbol to evaluate (repeatable; default: the configured symbols). Symbols evaluated
    /// together pool their resolved decisions when one has too few to calibrate alone.
    #[arg(long = "symbol")]
    pub symbols: Vec<Symbol>,
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

fn f3(x: Option<f64>) -> String {
    x.map(|v| format!("{v:+.3}")).unwrap_or_else(|| "-".into())
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
    let cfg = &ctx.settings.file.intelligence;
    let tf = args.timeframe.unwrap_or(ctx.settings.file.market.timeframe);
    let symbols = if args.symbols.is_empty() {
        ctx.settings.symbols().to_vec()
    } else {
        args.symbols.clone()
    };
    // Only candles closed by the run's clock.
    let closed = crate::core::freshness::last_closed_open(tf, ctx.now_ms());
    let to = Some(args.to.map_or(closed, |x| x.min(closed)));
    let horizon = args.horizon.unwrap_or(cfg.horizon);
    let need = args.min_history + 250 + horizon;
    let mut loaded = Vec::new();
    let mut skipped = Vec::new();
    for s in &symbols {
        let bars = candles::bars(store, s, tf, args.from.map(|f| f - 1), to).await?;
        if bars.len() < need {
            skipped.push(format!(
                "{} {tf} candles for {s}: need at least {need} for this evaluation",
                bars.len()
            ));
            continue;
        }
        let ind = compute_all(&bars);
        loaded.push((s.clone(), bars, ind));
    }
    if loaded.is_empty() {
        bail!("{}", skipped.join("; "));
    }
    let wf = WalkForwardConfig {
        k: cfg.k,
        ..Default::default()
    };
    let inputs: Vec<SeriesInput<'_>> = loaded
        .iter()
        .map(|(s, b, i)| SeriesInput {
            symbol: s,
            bars: b,
            ind: i,
        })
        .collect();
    let evs = walk_forward_many(
        &inputs,
        horizon,
        args.step.unwrap_or(horizon),
        args.min_history,
        &wf,
    );
    let run_id = ctx.run_id.load(std::sync::atomic::Ordering::SeqCst);
    let run_id = (run_id > 0).then_some(run_id);
    for ev in &evs {
        knowledge::store_evaluation(store, run_id, tf, ev, ctx.now_ms()).await?;
    }

    let mut t = new_table();
    t.set_header(vec![
        "symbol",
        "method",
        "decisions",
        "BUY/SELL",
        "hit rate",
        "mean decision ret",
        "BSS BUY/SELL [95%]",
        "ECE BUY/SELL",
        "BSS all",
        "ECE all",
    ]);
    let pct = |x: Option<f64>| {
        x.map(|v| format!("{:.2}%", v * 100.0))
            .unwrap_or_else(|| "-".into())
    };
    for ev in &evs {
        for (name, m) in [("rag", &ev.rag), ("legacy", &ev.legacy)] {
            let d = &m.directional;
            t.add_row(vec![
                ev.symbol.0.clone(),
                name.to_string(),
                m.decisions.to_string(),
                (m.buys + m.sells).to_string(),
                pct(m.hit_rate),
                pct(m.mean_decision_return),
                format!(
                    "{} [{}, {}]{}",
                    f3(d.brier_skill_score),
                    f3(d.brier_skill_score_low),
                    f3(d.brier_skill_score_high),
                    if d.measurable { "" } else { " (too few)" }
                ),
                d.ece
                    .map(|e| format!("{e:.3}"))
                    .unwrap_or_else(|| "-".into()),
                f3(m.all.brier_skill_score),
                m.all
                    .ece
                    .map(|e| format!("{e:.3}"))
                    .unwrap_or_else(|| "-".into()),
            ]);
        }
    }
    let verdict = evs
        .iter()
        .map(|e| format!("{}: {}", e.symbol, e.verdict))
        .collect::<Vec<_>>()
        .join("\n");
    let skill: serde_json::Map<String, Value> = evs
        .iter()
        .map(|e| {
            (
                e.symbol.0.clone(),
                serde_json::to_value(&e.skill).unwrap_or(Value::Null),
            )
        })
        .collect();
    let mut list = Vec::new();
    for (ev, (_, bars, _)) in evs.iter().zip(&loaded) {
        list.push(evaluation_json(ev, tf, bars.len(), args.decisions)?);
    }
    let body = json!({
        "timeframe": tf,
        "horizon": horizon,
        "min_measurable": MIN_MEASURABLE,
        "bars": loaded.iter().map(|(_, b, _)| b.len()).sum::<usize>(),
        "evaluations": list,
        "skill": skill,
        "verdict": verdict,
        "stored": evs.len(),
        "skipped": skipped,
    });
    if !ctx.global.quiet && ctx.format == crate::output::Format::Table {
        eprintln!("{verdict}");
    }
    let status = if skipped.is_empty() {
        Status::Success
    } else {
        Status::Partial
    };
    Ok(Outcome::new(status, body)?.with_table(t))
}

fn evaluation_json(ev: &Evaluation, tf: Timeframe, bars: usize, decisions: bool) -> Result<Value> {
    let mut v = serde_json::to_value(ev)?;
    if !decisions && let Some(o) = v.as_object_mut() {
        o.remove("rag_decisions");
        o.remove("legacy_decisions");
    }
    v["timeframe"] = json!(tf);
    v["bars"] = json!(bars);
    Ok(v)
}
