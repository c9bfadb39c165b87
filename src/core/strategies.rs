//! Stored strategies: a name, a validated spec (kind, parameters, options), the symbols and
//! timeframe they trade, and an enabled flag with the reason and time of a disable.

use crate::core::backtest::{Metrics, StrategySpec};
use crate::core::config::BacktestSettings;
use crate::core::market::{Symbol, Timeframe};
use crate::core::store::{Row, Store, Tx};
use crate::vals;
use anyhow::{Context, Result, bail};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct StoredStrategy {
    pub id: i64,
    pub name: String,
    pub spec: StrategySpec,
    pub symbols: Vec<Symbol>,
    pub timeframe: Timeframe,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub disabled_ms: Option<i64>,
    pub updated_ms: i64,
    /// The account the strategy trades (run-strategies), if bound.
    pub account_id: Option<i64>,
    /// The share of the account's equity it trades with (the backtest's position fraction).
    #[serde(with = "rust_decimal::serde::str_option")]
    pub allocation: Option<rust_decimal::Decimal>,
}

const COLS: &str = "id, name, spec, symbols, timeframe, enabled, disabled_reason, disabled_ms, updated_ms, account_id, allocation";

fn from_row(r: &Row) -> Result<StoredStrategy> {
    Ok(StoredStrategy {
        id: r.int(0)?,
        name: r.text(1)?,
        spec: serde_json::from_str(&r.text(2)?).context("stored strategy spec")?,
        symbols: r
            .text(3)?
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| Symbol(s.to_string()))
            .collect(),
        timeframe: r.text(4)?.parse()?,
        enabled: r.bool(5)?,
        disabled_reason: r.opt_text(6)?,
        disabled_ms: r.opt_int(7)?,
        updated_ms: r.int(8)?,
        account_id: r.opt_int(9)?,
        allocation: r.opt_dec(10)?,
    })
}

/// A bad binding (the user's to fix): an allocation outside (0, 1], or a symbol another
/// enabled strategy already trades on the account.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BindingError(pub String);

/// Check that `s`, enabled and bound, trades no symbol another enabled strategy trades on
/// the same account.
pub async fn check_binding(store: &Store, s: &StoredStrategy) -> Result<()> {
    if let Some(a) = s.allocation
        && !(a > rust_decimal::Decimal::ZERO && a <= rust_decimal::Decimal::ONE)
    {
        return Err(BindingError(format!(
            "--allocation {a}: must be above 0 and at most 1 (a share of the account's equity)"
        ))
        .into());
    }
    let Some(account) = s.account_id else {
        return Ok(());
    };
    if !s.enabled {
        return Ok(());
    }
    for other in list(store, true).await? {
        if other.id == s.id || other.account_id != Some(account) {
            continue;
        }
        if let Some(sym) = s.symbols.iter().find(|x| other.symbols.contains(x)) {
            return Err(BindingError(format!(
                "strategy {} already trades {sym} on account {account}: two enabled strategies may not trade one symbol on one account",
                other.name
            ))
            .into());
        }
    }
    Ok(())
}

/// Bind a strategy to an account with an allocation (or unbind it: `None`), refused when it
/// would share a symbol with another enabled strategy on that account.
pub async fn bind(
    store: &Store,
    id: i64,
    account_id: Option<i64>,
    allocation: Option<rust_decimal::Decimal>,
    now_ms: i64,
) -> Result<StoredStrategy> {
    let mut s = find(store, &id.to_string()).await?;
    s.account_id = account_id;
    s.allocation = allocation;
    check_binding(store, &s).await?;
    store
        .exec(
            "UPDATE strategies SET account_id = ?, allocation = ?, updated_ms = ? WHERE id = ?",
            vals![account_id, allocation, now_ms, id],
        )
        .await?;
    find(store, &id.to_string()).await
}

/// The enabled strategy that owns `symbol` on `account_id`, if one does: rebalancing leaves
/// it out, manual orders need `--force`, its stops are the strategy's.
pub async fn owner_of(store: &Store, account_id: i64, symbol: &Symbol) -> Result<Option<String>> {
    Ok(list(store, true)
        .await?
        .into_iter()
        .find(|s| s.account_id == Some(account_id) && s.symbols.contains(symbol))
        .map(|s| s.name))
}

pub async fn add(
    store: &Store,
    name: &str,
    spec: &StrategySpec,
    symbols: &[Symbol],
    tf: Timeframe,
    now_ms: i64,
) -> Result<StoredStrategy> {
    if name.trim().is_empty() {
        bail!("a strategy needs a name");
    }
    if find(store, name).await.is_ok() {
        bail!("a strategy named {name:?} already exists");
    }
    let syms = symbols
        .iter()
        .map(|s| s.0.as_str())
        .collect::<Vec<_>>()
        .join(",");
    store
        .exec(
            "INSERT INTO strategies (name, kind, spec, symbols, timeframe, enabled, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
            vals![name, spec.kind.as_str(), serde_json::to_string(spec)?, syms, tf, now_ms, now_ms],
        )
        .await?;
    find(store, name).await
}

pub async fn list(store: &Store, only_enabled: bool) -> Result<Vec<StoredStrategy>> {
    store
        .query(
            &format!("SELECT {COLS} FROM strategies WHERE (? = 0 OR enabled = 1) ORDER BY id"),
            vals![only_enabled],
        )
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// By name or numeric id.
pub async fn find(store: &Store, name_or_id: &str) -> Result<StoredStrategy> {
    let row = match store
        .query_opt(
            &format!("SELECT {COLS} FROM strategies WHERE name = ?"),
            vals![name_or_id],
        )
        .await?
    {
        Some(r) => Some(r),
        None => match name_or_id.parse::<i64>() {
            Ok(id) => {
                store
                    .query_opt(
                        &format!("SELECT {COLS} FROM strategies WHERE id = ?"),
                        vals![id],
                    )
                    .await?
            }
            Err(_) => None,
        },
    };
    from_row(&row.with_context(|| format!("no strategy {name_or_id:?} (see `fks strategy list`)"))?)
}

pub async fn set_enabled(
    store: &Store,
    id: i64,
    enabled: bool,
    reason: Option<&str>,
    now_ms: i64,
) -> Result<()> {
    store
        .exec(
            "UPDATE strategies SET enabled = ?, disabled_reason = ?, disabled_ms = ?, updated_ms = ? WHERE id = ?",
            vals![enabled, if enabled { None } else { reason }, if enabled { None } else { Some(now_ms) }, now_ms, id],
        )
        .await?;
    Ok(())
}

pub async fn set_spec(store: &Store, id: i64, spec: &StrategySpec, now_ms: i64) -> Result<()> {
    store
        .exec(
            "UPDATE strategies SET spec = ?, updated_ms = ? WHERE id = ?",
            vals![serde_json::to_string(spec)?, now_ms, id],
        )
        .await?;
    Ok(())
}

/// Replace a strategy's spec inside `tx`, only if the strategy was not changed since it was
/// read (its `updated_ms` is still `seen_updated_ms`). Returns whether it was replaced.
pub async fn set_spec_if_unchanged(
    tx: &Tx<'_>,
    id: i64,
    spec: &StrategySpec,
    seen_updated_ms: i64,
    now_ms: i64,
) -> Result<bool> {
    let n = tx
        .exec(
            "UPDATE strategies SET spec = ?, updated_ms = ? WHERE id = ? AND updated_ms = ?",
            vals![serde_json::to_string(spec)?, now_ms, id, seen_updated_ms],
        )
        .await?;
    Ok(n == 1)
}

/// Why a backtest fails the `[backtest]` validation criteria (Sharpe >= `min_sharpe`,
/// return > `min_return_pct`, max drawdown < `max_drawdown_pct`); empty when it passes.
/// An undefined Sharpe fails. Used by validate-strategies and by `run-backtest --apply`
/// on the out-of-sample part.
pub fn criteria_failures(c: &BacktestSettings, m: &Metrics) -> Vec<String> {
    let mut why = Vec::new();
    if m.sharpe.is_none_or(|s| s < c.min_sharpe) {
        why.push(format!(
            "Sharpe {} < {}",
            m.sharpe
                .map(|s| format!("{s:.2}"))
                .unwrap_or_else(|| "undefined".into()),
            c.min_sharpe
        ));
    }
    if m.total_return_pct <= c.min_return_pct {
        why.push(format!(
            "return {:.2}% <= {}%",
            m.total_return_pct, c.min_return_pct
        ));
    }
    if m.max_drawdown_pct >= c.max_drawdown_pct {
        why.push(format!(
            "max drawdown {:.2}% >= {}%",
            m.max_drawdown_pct, c.max_drawdown_pct
        ));
    }
    why
}

/// Record one backtest's figures.
#[allow(clippy::too_many_arguments)]
pub async fn record_result(
    store: &Store,
    strategy_id: Option<i64>,
    symbol: &Symbol,
    tf: Timeframe,
    phase: &str,
    spec: &StrategySpec,
    metrics: &crate::core::backtest::Metrics,
    now_ms: i64,
) -> Result<()> {
    store
        .exec(
            "INSERT INTO backtest_results (strategy_id, kind, symbol, timeframe, phase, params, from_ms, to_ms, metrics, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            vals![strategy_id, spec.kind.as_str(), symbol, tf, phase, serde_json::to_string(spec)?, metrics.from_time, metrics.to_time, serde_json::to_string(metrics)?, now_ms],
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(sharpe: Option<f64>, ret: f64, dd: f64) -> Metrics {
        Metrics {
            bars: 500,
            from_time: 0,
            to_time: 1,
            initial_equity: 10_000.0,
            final_equity: 10_000.0 * (1.0 + ret / 100.0),
            total_return_pct: ret,
            cagr_pct: None,
            sharpe,
            sortino: None,
            calmar: None,
            max_drawdown_pct: dd,
            total_trades: 3,
            win_rate_pct: None,
            profit_factor: None,
            avg_trade_pct: None,
            exposure_pct: 50.0,
            buy_and_hold_return_pct: 0.0,
            closed_at_end: false,
        }
    }

    #[test]
    fn criteria_name_every_failed_bound_and_pass_inside_them() {
        let c = BacktestSettings::default();
        assert!(criteria_failures(&c, &metrics(Some(1.5), 4.0, 12.0)).is_empty());
        let why = criteria_failures(&c, &metrics(Some(-1.08), -57.89, 61.0));
        assert_eq!(
            why,
            vec![
                "Sharpe -1.08 < 1",
                "return -57.89% <= 0%",
                "max drawdown 61.00% >= 30%"
            ]
        );
        // bounds are strict where the settings say so
        assert_eq!(
            criteria_failures(&c, &metrics(Some(1.0), 0.0, 30.0)).len(),
            2
        );
        assert_eq!(
            criteria_failures(&c, &metrics(None, 5.0, 1.0)),
            vec!["Sharpe undefined < 1"]
        );
    }
}

/// One journaled decision of run-strategies: a strategy's target for a symbol at the close
/// of a bar (`bar_ms` is that bar's open time).
#[derive(Debug, Clone, Serialize)]
pub struct StrategyDecision {
    pub id: i64,
    pub strategy_id: i64,
    pub account_id: i64,
    pub symbol: Symbol,
    pub bar_ms: i64,
    /// `flat`, `long` or `short`.
    pub target: String,
    /// `decided` (to act on at the next bar's open), `done`, `no_change`, `missed`, `failed`.
    pub status: String,
    pub detail: Option<String>,
    pub client_order_id: Option<String>,
}

const DCOLS: &str =
    "id, strategy_id, account_id, symbol, bar_ms, target, status, detail, client_order_id";

fn decision_row(r: &Row) -> Result<StrategyDecision> {
    Ok(StrategyDecision {
        id: r.int(0)?,
        strategy_id: r.int(1)?,
        account_id: r.int(2)?,
        symbol: Symbol(r.text(3)?),
        bar_ms: r.int(4)?,
        target: r.text(5)?,
        status: r.text(6)?,
        detail: r.opt_text(7)?,
        client_order_id: r.opt_text(8)?,
    })
}

/// The decision journaled for this strategy, symbol and bar, if any.
pub async fn decision_at(
    store: &Store,
    strategy_id: i64,
    symbol: &Symbol,
    bar_ms: i64,
) -> Result<Option<StrategyDecision>> {
    store
        .query_opt(
            &format!("SELECT {DCOLS} FROM strategy_decisions WHERE strategy_id = ? AND symbol = ? AND bar_ms = ?"),
            vals![strategy_id, symbol, bar_ms],
        )
        .await?
        .map(|r| decision_row(&r))
        .transpose()
}

/// The latest decision before `bar_ms`, if any.
pub async fn last_decision_before(
    store: &Store,
    strategy_id: i64,
    symbol: &Symbol,
    bar_ms: i64,
) -> Result<Option<StrategyDecision>> {
    store
        .query_opt(
            &format!("SELECT {DCOLS} FROM strategy_decisions WHERE strategy_id = ? AND symbol = ? AND bar_ms < ? ORDER BY bar_ms DESC LIMIT 1"),
            vals![strategy_id, symbol, bar_ms],
        )
        .await?
        .map(|r| decision_row(&r))
        .transpose()
}

/// Decisions still to act on (`decided`), oldest first.
pub async fn pending_decisions(
    store: &Store,
    strategy_id: i64,
    symbol: &Symbol,
) -> Result<Vec<StrategyDecision>> {
    store
        .query(
            &format!("SELECT {DCOLS} FROM strategy_decisions WHERE strategy_id = ? AND symbol = ? AND status = 'decided' ORDER BY bar_ms"),
            vals![strategy_id, symbol],
        )
        .await?
        .iter()
        .map(decision_row)
        .collect()
}

/// The latest acted-on decision that opened a position (its bar is the entry's signal bar).
pub async fn last_entry(
    store: &Store,
    strategy_id: i64,
    symbol: &Symbol,
) -> Result<Option<StrategyDecision>> {
    store
        .query_opt(
            &format!("SELECT {DCOLS} FROM strategy_decisions WHERE strategy_id = ? AND symbol = ? AND status = 'done' AND target <> 'flat' ORDER BY bar_ms DESC LIMIT 1"),
            vals![strategy_id, symbol],
        )
        .await?
        .map(|r| decision_row(&r))
        .transpose()
}

/// Journal a decision (once per strategy, symbol and bar: a second insert fails).
#[allow(clippy::too_many_arguments)]
pub async fn record_decision(
    store: &Store,
    s: &StoredStrategy,
    account_id: i64,
    symbol: &Symbol,
    bar_ms: i64,
    target: &str,
    status: &str,
    detail: Option<&str>,
    run_id: Option<i64>,
    now_ms: i64,
) -> Result<()> {
    store
        .exec(
            "INSERT INTO strategy_decisions (strategy_id, account_id, symbol, timeframe, bar_ms, target, status, detail, run_id, created_ms, updated_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            vals![s.id, account_id, symbol, s.timeframe, bar_ms, target, status, detail, run_id, now_ms, now_ms],
        )
        .await?;
    Ok(())
}

pub async fn set_decision(
    store: &Store,
    id: i64,
    status: &str,
    detail: Option<&str>,
    client_order_id: Option<&str>,
    now_ms: i64,
) -> Result<()> {
    store
        .exec(
            "UPDATE strategy_decisions SET status = ?, detail = COALESCE(?, detail), client_order_id = COALESCE(?, client_order_id), updated_ms = ? WHERE id = ?",
            vals![status, detail, client_order_id, now_ms, id],
        )
        .await?;
    Ok(())
}

/// The net position (base quantity, + long / − short) a strategy's own filled orders left on
/// an account's symbol: what it holds unless someone changed it by hand.
pub async fn own_net_position(
    store: &Store,
    account_id: i64,
    symbol: &Symbol,
) -> Result<rust_decimal::Decimal> {
    let rows = store
        .query(
            "SELECT side, filled_qty FROM orders WHERE account_id = ? AND symbol = ? AND status = 'filled' AND reason LIKE 'strategy%'",
            vals![account_id, symbol],
        )
        .await?;
    let mut net = rust_decimal::Decimal::ZERO;
    for r in &rows {
        let q = r.opt_dec(1)?.unwrap_or_default();
        if r.text(0)? == "BUY" {
            net += q;
        } else {
            net -= q;
        }
    }
    Ok(net)
}

/// One fill of a strategy's own orders: (time, side, price, quantity).
pub type LiveFill = (i64, String, rust_decimal::Decimal, rust_decimal::Decimal);

/// The fills of a strategy's orders on an account's symbol, in booking order, and the first
/// bar it decided on (None when it never ran).
pub async fn live_record(
    store: &Store,
    strategy_id: i64,
    account_id: i64,
    symbol: &Symbol,
) -> Result<(Option<i64>, Vec<LiveFill>)> {
    let first = store
        .query_one(
            "SELECT MIN(bar_ms) FROM strategy_decisions WHERE strategy_id = ? AND symbol = ?",
            vals![strategy_id, symbol],
        )
        .await?
        .opt_int(0)?;
    let fills = store
        .query(
            "SELECT f.time_ms, f.side, f.price, f.quantity FROM fills f JOIN orders o ON o.client_order_id = f.client_order_id \
             WHERE o.account_id = ? AND o.symbol = ? AND o.reason LIKE 'strategy%' ORDER BY f.id",
            vals![account_id, symbol],
        )
        .await?
        .iter()
        .map(|r| Ok((r.int(0)?, r.text(1)?, r.dec(2)?, r.dec(3)?)))
        .collect::<Result<_>>()?;
    Ok((first, fills))
}
