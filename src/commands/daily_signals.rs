//! `fks generate-daily-rag-signals`: the daily recommendation for every configured symbol,
//! filtered by confidence (a calibrated probability); the top ones are notified with the
//! method's measured skill for each symbol; all are stored (their outcomes are filled in later
//! and become knowledge).

use super::Ctx;
use crate::core::freshness::FreshState;
use crate::core::knowledge;
use crate::core::market::{Symbol, Timeframe};
use crate::core::notify::MessageKind;
use crate::core::outbox::NewMessage;
use crate::core::time::time_arg;
use crate::output::{Outcome, Status};
use anyhow::Result;
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Comma-separated symbols (default: the configured symbols).
    #[arg(long, value_delimiter = ',')]
    pub symbols: Vec<Symbol>,
    /// Notify only recommendations at least this confident (0 to 1). Confidences are
    /// calibrated probabilities of being right, so 0.55 means "right 55% of the time" —
    /// already rare for an hourly-to-daily call; 0.7 was the default of uncalibrated scores.
    #[arg(long, default_value_t = 0.55)]
    pub min_confidence: f64,
    /// Candle interval (1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w; default: market.timeframe).
    #[arg(long)]
    pub timeframe: Option<Timeframe>,
    /// Decide as of this time, from what had closed by then (YYYY-MM-DD, RFC 3339 or milliseconds, UTC); default: now.
    #[arg(long, value_parser = time_arg)]
    pub as_of: Option<i64>,
    /// Take a deterministic share K of N of the symbols (for several hosts on one Postgres).
    #[arg(long)]
    pub shard: Option<super::Shard>,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let c = args.min_confidence;
    if !(c.is_finite() && (0.0..=1.0).contains(&c)) {
        return Err(super::usage(format!(
            "--min-confidence {c}: must be between 0 and 1"
        )));
    }
    let store = ctx.store().await?;
    let cfg = &ctx.settings.file.intelligence;
    let tf = args.timeframe.unwrap_or(ctx.settings.file.market.timeframe);
    let as_of = super::intel_common::as_of(ctx, args.as_of)?;
    let replay = super::intel_common::is_replay(ctx, as_of);
    let symbols = super::pick_symbols(ctx, &args.symbols, args.shard);
    let (ks, series) = super::intel_common::prepare(ctx, &symbols, tf, as_of).await?;
    let llm = super::intel_common::llm(ctx);
    let run_id = ctx.run_id.load(std::sync::atomic::Ordering::SeqCst);
    let mut signals = BTreeMap::new();
    let mut high = Vec::new();
    let mut methods = Vec::new();
    let (mut stale, mut missing) = (Vec::new(), Vec::new());
    for s in &symbols {
        // The freshness rule: nothing is decided, stored or notified from stale candles.
        let fresh = super::intel_common::freshness(ctx, s, &series[s], tf, as_of);
        if fresh.status == FreshState::Stale {
            stale.push(s.0.clone());
            signals.insert(s.0.clone(), fresh.to_json());
            continue;
        }
        let Some(d) = knowledge::decide(
            store,
            knowledge::Decider {
                ks: &ks,
                tf,
                cfg,
                llm: llm.as_ref(),
            },
            s,
            as_of,
            &series[s],
        )
        .await?
        else {
            missing.push(s.0.clone());
            signals.insert(s.0.clone(), json!({"status": "error", "error": format!("no {tf} candles stored for {s} before {}", crate::core::time::fmt_ms(as_of))}));
            continue;
        };
        knowledge::record_signal(
            store,
            Some(run_id),
            None,
            "generate-daily-rag-signals",
            tf,
            as_of,
            &d,
            None,
            ctx.now_ms(),
        )
        .await?;
        methods.push(d.method);
        if d.confidence >= args.min_confidence {
            high.push(d.clone());
        }
        signals.insert(
            s.0.clone(),
            json!({
                "status": "success",
                "action": d.action,
                "method": d.method,
                "recommendation": d.reasoning,
                "confidence": d.confidence,
                "skill": d.skill,
                "sources_used": d.sources_used,
                "risk_assessment": d.risk_assessment,
                "timestamp": crate::core::time::fmt_ms(as_of),
                "candle_open_time": d.candle_open_time,
            }),
        );
    }
    high.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    let top: Vec<_> = high.iter().take(5).collect();
    if !top.is_empty() && !replay {
        let body = top
            .iter()
            .map(|d| {
                format!(
                    "{} {} — confidence {:.0}% ({}; {})",
                    d.action.as_str(),
                    d.symbol,
                    d.confidence * 100.0,
                    d.method,
                    d.skill.summary
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        let mut m = NewMessage::new(
            MessageKind::Signal,
            format!("Daily signals {}", &crate::core::time::fmt_ms(as_of)[..10]),
            body,
        );
        m.dedup_key = Some(format!(
            "daily-signals:{}",
            &crate::core::time::fmt_ms(as_of)[..10]
        ));
        ctx.notify(m).await;
    }
    let ok = signals
        .values()
        .filter(|v| v["status"] == "success")
        .count();
    let status = if ok == signals.len() {
        Status::Success
    } else if ok > 0 {
        Status::Partial
    } else {
        Status::Error
    };
    let mut body = json!({
            "date": &crate::core::time::fmt_ms(as_of)[..10],
            "method": if methods.contains(&"rag") { "rag" } else { "legacy" },
            "min_confidence": args.min_confidence,
            "signals": signals,
            "high_confidence_count": high.len(),
            "high_confidence_signals": high.iter().map(|d| json!({"symbol": d.symbol, "action": d.action, "confidence": d.confidence, "method": d.method, "skill": d.skill})).collect::<Vec<_>>(),
            "knowledge_snapshots": ks.len(),
            "stale_symbols": stale,
            "replay": replay,
    });
    if replay {
        body["replay_note"] = super::intel_common::replay_note(true, "no notification queued");
    }
    if ok == 0 {
        body["error"] = json!(super::generate_signals::no_decision_reason(
            &stale, &missing, as_of
        ));
    }
    Outcome::new(status, body)
}
