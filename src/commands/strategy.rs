//! `fks strategy add|list|enable|disable|show`: strategies stored with their parameters,
//! symbols, timeframe and an enabled flag.

use super::Ctx;
use crate::core::backtest::{StrategyKind, StrategySpec};
use crate::core::market::{Symbol, Timeframe};
use crate::core::strategies;
use crate::output::{Outcome, Status, new_table};
use crate::vals;
use anyhow::Result;
use serde_json::json;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// `fks strategy add trend --kind sma_cross --params fast=10,slow=30 --symbols BTCUSDT,ETHUSDT`
    Add {
        /// A unique name for the strategy.
        name: String,
        /// sma_cross, ema_cross, rsi_reversion, macd_cross or bollinger_reversion.
        #[arg(long)]
        kind: String,
        /// key=value list; missing parameters take their defaults.
        #[arg(long, default_value = "")]
        params: String,
        /// Stop loss: `2%` or `1.5atr`.
        #[arg(long)]
        stop_loss: Option<String>,
        /// Take profit: `4%` or `3atr`.
        #[arg(long)]
        take_profit: Option<String>,
        /// Also trade short.
        #[arg(long)]
        long_short: bool,
        /// Symbols, comma-separated (default: the configured symbols).
        #[arg(long, value_delimiter = ',')]
        symbols: Vec<Symbol>,
        /// Candle interval (default: market.timeframe).
        #[arg(long)]
        timeframe: Option<Timeframe>,
        /// The account run-strategies trades it on (see `fks account list`).
        #[arg(long)]
        account_id: Option<i64>,
        /// Share of the account's equity it trades with, in (0, 1] (default 1 when bound).
        #[arg(long, requires = "account_id")]
        allocation: Option<rust_decimal::Decimal>,
    },
    /// Bind a strategy to an account (or change its binding), or unbind it.
    Bind {
        /// The strategy's name or id.
        strategy: String,
        /// The account run-strategies trades it on.
        #[arg(long, required_unless_present = "unbind")]
        account_id: Option<i64>,
        /// Share of the account's equity it trades with, in (0, 1] (default 1).
        #[arg(long)]
        allocation: Option<rust_decimal::Decimal>,
        /// Remove the binding: run-strategies no longer trades it.
        #[arg(long, conflicts_with_all = ["account_id", "allocation"])]
        unbind: bool,
    },
    /// List strategies.
    List,
    /// Turn a strategy on: run-backtest and validate-strategies include it again.
    Enable {
        /// The strategy's name or id.
        strategy: String,
    },
    /// Turn a strategy off (its results stay), with a reason.
    Disable {
        /// The strategy's name or id.
        strategy: String,
        /// Why, kept with the strategy and shown by `fks strategy list`.
        #[arg(long, default_value = "disabled by hand")]
        reason: String,
    },
    /// A strategy with its parameter ranges and latest results.
    Show {
        /// The strategy's name or id.
        strategy: String,
    },
}

/// A refused binding is the user's to fix (exit 2).
fn binding_usage(e: anyhow::Error) -> anyhow::Error {
    match e.downcast_ref::<strategies::BindingError>() {
        Some(b) => super::usage(b.0.clone()),
        None => e,
    }
}

/// Build a spec from a kind, `key=value` parameters and the option flags.
pub fn build_spec(
    kind: &str,
    params: &str,
    stop: Option<&str>,
    take: Option<&str>,
    long_short: bool,
) -> Result<StrategySpec> {
    let mut kv: Vec<String> = params
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if let Some(s) = stop {
        kv.push(format!("stop_loss={s}"));
    }
    if let Some(t) = take {
        kv.push(format!("take_profit={t}"));
    }
    if long_short {
        kv.push("direction=long_short".into());
    }
    // Bad parameters are the user's to fix: a usage error (exit 2).
    StrategySpec::parse(kind, &kv.join(","))
        .map_err(|e| super::usage(format!("--params {params:?}: {e}")))
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
    let now = ctx.now_ms();
    match args.action {
        Action::Add {
            name,
            kind,
            params,
            stop_loss,
            take_profit,
            long_short,
            symbols,
            timeframe,
            account_id,
            allocation,
        } => {
            let spec = build_spec(
                &kind,
                &params,
                stop_loss.as_deref(),
                take_profit.as_deref(),
                long_short,
            )?;
            let syms = if symbols.is_empty() {
                ctx.settings.symbols().to_vec()
            } else {
                symbols
            };
            let tf = timeframe.unwrap_or(ctx.settings.file.market.timeframe);
            let allocation = account_id.map(|_| allocation.unwrap_or(rust_decimal::Decimal::ONE));
            if let Some(a) = account_id {
                crate::core::accounts::get(store, a).await?;
                let probe = strategies::StoredStrategy {
                    id: -1,
                    name: name.clone(),
                    spec: spec.clone(),
                    symbols: syms.clone(),
                    timeframe: tf,
                    enabled: true,
                    disabled_reason: None,
                    disabled_ms: None,
                    updated_ms: now,
                    account_id,
                    allocation,
                };
                strategies::check_binding(store, &probe)
                    .await
                    .map_err(binding_usage)?;
            }
            let mut s = strategies::add(store, &name, &spec, &syms, tf, now).await?;
            if account_id.is_some() {
                s = strategies::bind(store, s.id, account_id, allocation, now)
                    .await
                    .map_err(binding_usage)?;
            }
            Outcome::new(Status::Success, json!({ "strategy": s }))
        }
        Action::Bind {
            strategy,
            account_id,
            allocation,
            unbind,
        } => {
            let s = strategies::find(store, &strategy).await?;
            if let Some(a) = account_id {
                crate::core::accounts::get(store, a).await?;
            }
            let (account_id, allocation) = if unbind {
                (None, None)
            } else {
                (
                    account_id,
                    Some(allocation.unwrap_or(rust_decimal::Decimal::ONE)),
                )
            };
            let s = strategies::bind(store, s.id, account_id, allocation, now)
                .await
                .map_err(binding_usage)?;
            Outcome::new(Status::Success, json!({ "strategy": s }))
        }
        Action::List => {
            let list = strategies::list(store, false).await?;
            let mut t = new_table();
            t.set_header(vec![
                "id",
                "name",
                "kind",
                "params",
                "symbols",
                "timeframe",
                "enabled",
                "note",
            ]);
            for s in &list {
                t.add_row(vec![
                    s.id.to_string(),
                    s.name.clone(),
                    s.spec.kind.as_str().to_string(),
                    s.spec
                        .params
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(","),
                    s.symbols
                        .iter()
                        .map(|x| x.0.clone())
                        .collect::<Vec<_>>()
                        .join(","),
                    s.timeframe.to_string(),
                    s.enabled.to_string(),
                    s.disabled_reason.clone().unwrap_or_default(),
                ]);
            }
            Ok(Outcome::new(Status::Success, json!({ "strategies": list }))?.with_table(t))
        }
        Action::Enable { strategy } => {
            let mut s = strategies::find(store, &strategy).await?;
            s.enabled = true;
            strategies::check_binding(store, &s)
                .await
                .map_err(binding_usage)?;
            strategies::set_enabled(store, s.id, true, None, now).await?;
            Outcome::new(
                Status::Success,
                json!({ "strategy": s.name, "enabled": true }),
            )
        }
        Action::Disable { strategy, reason } => {
            let s = strategies::find(store, &strategy).await?;
            strategies::set_enabled(store, s.id, false, Some(&reason), now).await?;
            Outcome::new(
                Status::Success,
                json!({ "strategy": s.name, "enabled": false, "reason": reason }),
            )
        }
        Action::Show { strategy } => {
            let s = strategies::find(store, &strategy).await?;
            let ranges: Vec<_> = StrategyKind::params(s.spec.kind)
                .iter()
                .map(|p| json!({"name": p.name, "default": p.default, "min": p.min, "max": p.max, "grid": p.grid.values()}))
                .collect();
            let recent: Vec<serde_json::Value> = store
                .query(
                    "SELECT symbol, phase, params, metrics, created_ms FROM backtest_results WHERE strategy_id = ? ORDER BY id DESC LIMIT 10",
                    vals![s.id],
                )
                .await?
                .iter()
                .map(|r| -> Result<serde_json::Value> {
                    Ok(json!({"symbol": r.text(0)?, "phase": r.text(1)?, "spec": serde_json::from_str::<serde_json::Value>(&r.text(2)?)?,
                        "metrics": serde_json::from_str::<serde_json::Value>(&r.text(3)?)?, "time": r.int(4)?}))
                })
                .collect::<Result<_>>()?;
            let live_vs_backtest = match s.account_id {
                Some(a) => Some(side_by_side(store, &s, a, now).await?),
                None => None,
            };
            let diverged = live_vs_backtest
                .as_ref()
                .and_then(|v| v.as_object())
                .is_some_and(|m| m.values().any(|x| x["agree"] == false));
            Outcome::new(
                Status::Success,
                json!({ "strategy": s, "parameters": ranges, "recent_results": recent,
                        "live_vs_backtest": live_vs_backtest, "diverged": diverged }),
            )
        }
    }
}

/// The account's record of a bound strategy beside a backtest of the same bars (the same
/// money settings: the account's cash, fee and slippage, the allocation as the position
/// fraction), per symbol, with every difference flagged: times must be equal, prices equal,
/// sizes within one lot step (paper: 1e-8).
async fn side_by_side(
    store: &crate::core::store::Store,
    s: &strategies::StoredStrategy,
    account_id: i64,
    now: i64,
) -> Result<serde_json::Value> {
    use crate::core::backtest::{BacktestConfig, run_backtest};
    let acct = crate::core::accounts::get(store, account_id).await?;
    let f = |d: rust_decimal::Decimal| d.to_string().parse::<f64>().unwrap_or(f64::NAN);
    let cfg = BacktestConfig {
        initial_cash: f(acct.initial_cash),
        position_fraction: f(s.allocation.unwrap_or(rust_decimal::Decimal::ONE)),
        fee_rate: f(acct.fee_rate),
        slippage_bps: f(acct.slippage_bps),
        ..BacktestConfig::default()
    };
    let mut out = serde_json::Map::new();
    for sym in &s.symbols {
        let (first, live) = strategies::live_record(store, s.id, account_id, sym).await?;
        let Some(first) = first else {
            out.insert(
                sym.0.clone(),
                json!({"agree": true, "note": "run-strategies has not decided on it yet"}),
            );
            continue;
        };
        let closed = crate::core::freshness::last_closed_open(s.timeframe, now);
        let bars =
            crate::core::store::candles::bars(store, sym, s.timeframe, None, Some(closed)).await?;
        if bars.len() < 2 {
            out.insert(
                sym.0.clone(),
                json!({"agree": live.is_empty(), "note": "too few candles to backtest"}),
            );
            continue;
        }
        let r = run_backtest(&bars, s.timeframe, &s.spec, &cfg)?;
        // The backtest's fills after the first bar run-strategies decided on.
        let mut bt: Vec<(i64, f64, f64, &str)> = Vec::new();
        for t in &r.trades {
            if t.entry_time <= first {
                continue;
            }
            bt.push((t.entry_time, t.entry_price, t.size, "entry"));
            if t.exit_kind != crate::core::backtest::engine::ExitKind::EndOfData {
                bt.push((t.exit_time, t.exit_price, t.size, t.exit_kind.as_str()));
            }
        }
        let mut rows = Vec::new();
        let mut differences = 0;
        for i in 0..live.len().max(bt.len()) {
            let l = live.get(i);
            let b = bt.get(i);
            let why = match (l, b) {
                (Some(l), Some(b)) => {
                    let (lp, lq) = (f(l.2), f(l.3));
                    if l.0 != b.0 {
                        Some("time")
                    } else if (lp - b.1).abs() > 1e-9 * b.1.abs() {
                        Some("price")
                    } else if (lq - b.2).abs() > 1e-8 + 1e-9 * b.2 {
                        Some("size")
                    } else {
                        None
                    }
                }
                (Some(_), None) => Some("only live"),
                (None, Some(_)) => Some("only in the backtest"),
                (None, None) => None,
            };
            differences += usize::from(why.is_some());
            rows.push(json!({
                "live": l.map(|l| json!({"time": l.0, "side": l.1, "price": l.2.normalize().to_string(), "quantity": l.3.normalize().to_string()})),
                "backtest": b.map(|b| json!({"time": b.0, "price": b.1.to_string(), "quantity": b.2.to_string(), "fill": b.3})),
                "differs": why,
            }));
        }
        out.insert(
            sym.0.clone(),
            json!({"agree": differences == 0, "since_bar": first, "differences": differences, "fills": rows}),
        );
    }
    Ok(serde_json::Value::Object(out))
}
