//! `fks run-strategies`: every enabled strategy bound to an account trades its symbols, once
//! per closed bar, deciding with the backtest engine's own functions
//! (`backtest::engine::{signals, decide, exit_in_bar, exit_levels}`).
//!
//! Per strategy and symbol, at the close of bar t (the latest closed candle by the run's
//! clock; a stale one decides nothing):
//! 1. paper accounts: the decision of bar t−1 is filled at the open of bar t, booked with
//!    bar t's open time (the price the backtest uses, read from the stored candle of bar t
//!    once it has closed: nothing later than the run's clock is read); then a stop loss or
//!    take profit inside bar t is booked at its level with bar t's time;
//! 2. the decision at bar t's close is journaled (`strategy_decisions`, once per bar: a
//!    rerun in the same bar trades nothing). Paper: it is filled at the next run (step 1).
//!    Exchange accounts: the difference to the target is sent now, a market order at the
//!    open of bar t+1, through the order journal (exactly once).
//!
//! Bars missed (host down) are reported; only the latest bar is acted on.

use super::{Ctx, Shard};
use crate::core::accounts::{self, Account};
use crate::core::backtest::StrategySpec;
use crate::core::backtest::engine::{self, ExitKind};
use crate::core::backtest::strategy::Direction;
use crate::core::exchange::venue::Venue;
use crate::core::execution;
use crate::core::market::{Bar, Symbol};
use crate::core::notify::MessageKind;
use crate::core::orders;
use crate::core::outbox::NewMessage;
use crate::core::positions::{self, PositionSide, Side};
use crate::core::store::{Store, candles};
use crate::core::strategies::{self, StoredStrategy};
use crate::output::Outcome;
use anyhow::{Context, Result};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this strategy (name or id; default: every enabled strategy bound to an account).
    #[arg(long)]
    pub strategy: Option<String>,
    /// Send the orders (also needs trading.enabled = true); without it, print them.
    #[arg(long)]
    pub execute: bool,
    /// Take a deterministic share K of N of the symbols (for several hosts on one Postgres).
    #[arg(long)]
    pub shard: Option<Shard>,
    /// Decide on the stored candles only (do not sync the latest closed candles first).
    #[arg(long)]
    pub no_sync: bool,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
    let now = ctx.now_ms();
    let send = orders::trading_allowed(ctx.settings.file.trading.enabled, args.execute)?;
    let mut list: Vec<StoredStrategy> = strategies::list(store, true)
        .await?
        .into_iter()
        .filter(|s| s.account_id.is_some())
        .collect();
    if let Some(name) = &args.strategy {
        let s = strategies::find(store, name).await?;
        if s.account_id.is_none() {
            return Err(super::usage(format!(
                "strategy {} is not bound to an account: `fks strategy bind {} --account-id N`",
                s.name, s.name
            )));
        }
        if !s.enabled {
            return Err(super::usage(format!("strategy {} is disabled", s.name)));
        }
        list.retain(|x| x.id == s.id);
    }
    let mut notes = Vec::new();
    if !args.no_sync {
        sync_latest(ctx, store, &list, args.shard, now, &mut notes).await;
    }
    let mut results = BTreeMap::new();
    let mut trades = 0usize;
    // The safety caps of real money, as rebalance-portfolio applies them: an order above
    // `trading.max_order_notional` is refused (not shrunk), and once the run's orders reach
    // `trading.max_run_notional` no further order is placed this run.
    let trading = &ctx.settings.file.trading;
    let caps = std::sync::Mutex::new(execution::rebalance::Caps::new(
        trading.max_order_notional,
        trading.max_run_notional,
    ));
    for s in &list {
        let Some(account_id) = s.account_id else {
            continue;
        };
        let acct = match accounts::get(store, account_id).await {
            Ok(a) => a,
            Err(e) => {
                results.insert(
                    s.name.clone(),
                    json!({"status": "error", "error": format!("{e:#}")}),
                );
                continue;
            }
        };
        let venue = match ctx.venue_for(&acct).await {
            Ok(v) => v,
            Err(e) => {
                results.insert(
                    s.name.clone(),
                    json!({"status": "error", "error": format!("{e:#}")}),
                );
                continue;
            }
        };
        for sym in &s.symbols {
            if args.shard.is_some_and(|k| !k.owns(sym.as_str())) {
                continue;
            }
            let key = format!("{}/{}", s.name, sym);
            let one = One {
                ctx,
                store,
                s,
                acct: &acct,
                venue: venue.as_ref(),
                sym,
                send,
                now,
                caps: &caps,
                refused: std::sync::Mutex::new(Vec::new()),
            };
            let mut v = one
                .run()
                .await
                .unwrap_or_else(|e| json!({"status": "error", "error": format!("{e:#}")}));
            let refused = one.refused.into_inner().unwrap_or_else(|e| e.into_inner());
            if !refused.is_empty() {
                if v["status"] == "success" {
                    v["status"] = json!("partial");
                }
                if v.get("error").is_none_or(Value::is_null) {
                    let msgs: Vec<&str> =
                        refused.iter().filter_map(|r| r["error"].as_str()).collect();
                    v["error"] = json!(msgs.join("; "));
                }
                v["refused"] = json!(refused);
            }
            trades += v["orders"].as_array().map_or(0, |o| o.len());
            results.insert(key, v);
        }
    }
    Outcome::from_results(json!({
        "dry_run": !send,
        "strategies": list.len(),
        "orders": trades,
        "results": results,
        "notes": notes,
    }))
}

/// Sync the latest closed candles of every symbol the strategies trade (failures are notes:
/// the freshness rule then keeps a symbol without its latest candle from trading).
async fn sync_latest(
    ctx: &Ctx,
    store: &Store,
    list: &[StoredStrategy],
    shard: Option<Shard>,
    now: i64,
    notes: &mut Vec<String>,
) {
    let venue = match ctx.market_venue() {
        Ok(v) => v,
        Err(e) => {
            notes.push(format!("candles not synced: {e:#}"));
            return;
        }
    };
    if let Some(ban) = crate::core::exchange::venue::MarketData::ban_in_force(&venue) {
        notes.push(format!("candles not synced: {ban}"));
        return;
    }
    let mut seen = std::collections::BTreeSet::new();
    for s in list {
        for sym in &s.symbols {
            if shard.is_some_and(|k| !k.owns(sym.as_str())) || !seen.insert((sym, s.timeframe)) {
                continue;
            }
            let req = crate::core::sync::SyncRequest {
                symbol: sym.clone(),
                timeframe: s.timeframe,
                limit: ctx.settings.file.market.initial_limit,
                since: None,
            };
            let src = crate::core::exchange::venue::KlinePages(&venue);
            if let Err(e) = crate::core::sync::sync_symbol(store, &src, &req, now, |_| {}).await {
                notes.push(format!("{sym} {}: not synced: {e:#}", s.timeframe));
            }
        }
    }
}

fn dir_of(side: PositionSide) -> f64 {
    match side {
        PositionSide::Long => 1.0,
        PositionSide::Short => -1.0,
    }
}

fn target_name(dir: f64) -> &'static str {
    if dir > 0.0 {
        "long"
    } else if dir < 0.0 {
        "short"
    } else {
        "flat"
    }
}

fn target_dir(name: &str) -> f64 {
    match name {
        "long" => 1.0,
        "short" => -1.0,
        _ => 0.0,
    }
}

fn dec(x: f64) -> Result<Decimal> {
    Decimal::from_f64_retain(x)
        .map(|d| d.round_dp(12).normalize())
        .with_context(|| format!("price {x} is not a decimal"))
}

/// A position as run-strategies sees it.
struct Held {
    side: PositionSide,
    quantity: Decimal,
    entry_price: Decimal,
}

/// One strategy on one symbol in one run.
struct One<'a> {
    ctx: &'a Ctx,
    store: &'a Store,
    s: &'a StoredStrategy,
    acct: &'a Account,
    venue: &'a dyn Venue,
    sym: &'a Symbol,
    send: bool,
    now: i64,
    /// The run's notional caps, shared by every strategy and symbol of the run.
    caps: &'a std::sync::Mutex<execution::rebalance::Caps>,
    /// Orders the caps refused (`symbol`, `side`, `quantity`, `reason`, `error`).
    refused: std::sync::Mutex<Vec<Value>>,
}

impl One<'_> {
    fn refused_any(&self) -> bool {
        self.refused.lock().is_ok_and(|r| !r.is_empty())
    }

    async fn run(&self) -> Result<Value> {
        let tf = self.s.timeframe;
        let step = tf.millis();
        let last_closed = crate::core::freshness::last_closed_open(tf, self.now);
        let bars = candles::bars(self.store, self.sym, tf, None, Some(last_closed)).await?;
        let Some(last) = bars.last().copied() else {
            return Ok(
                json!({"status": "stale", "error": format!("no {tf} candles of {} stored", self.sym)}),
            );
        };
        if last.open_time <= last_closed - step {
            // The freshness rule: the latest closed bar is not stored: nothing is decided.
            return Ok(json!({
                "status": "stale",
                "latest_stored": last.open_time,
                "error": format!("the latest closed {tf} candle of {} is not stored (the last stored opened at {}): nothing decided; sync market data", self.sym, crate::core::time::fmt_ms(last.open_time)),
            }));
        }
        // Signals need two bars; the indicators warm up as in the backtest (no signal while
        // they are not defined).
        if bars.len() < 2 {
            return Ok(
                // Warming up: no signal is possible yet (the backtest has none either).
                json!({"status": "success", "bar": last.open_time, "decision": "warming_up", "orders": [], "reason": format!("{} candle stored; the strategy decides from 2", bars.len())}),
            );
        }
        if let Some(d) =
            strategies::decision_at(self.store, self.s.id, self.sym, last.open_time).await?
        {
            return Ok(
                json!({"status": "success", "bar": last.open_time, "already_decided": true, "decision": d, "orders": []}),
            );
        }
        let missed =
            strategies::last_decision_before(self.store, self.s.id, self.sym, last.open_time)
                .await?
                .map_or(0, |d| ((last.open_time - d.bar_ms) / step - 1).max(0));
        // The position the strategy's own orders left, against the account's: a hand-made
        // change is reported (nothing traded) or adopted, as `strategy.on_mismatch` says.
        let own = strategies::own_net_position(self.store, self.acct.id, self.sym).await?;
        // Checked where the store knows the account's position: paper, and futures (as
        // update-positions reconciled it); a spot account's balances are not compared.
        let profile = self.venue.profile();
        let actual = if profile.simulated || profile.exchange_positions {
            Some(self.stored_position().await?.map_or(Decimal::ZERO, |p| {
                p.quantity * Decimal::from(dir_of(p.side) as i64)
            }))
        } else {
            None
        };
        let mut mismatch = Value::Null;
        if let Some(actual) = actual
            && own != actual
        {
            mismatch = json!({"strategy_orders_left": own.normalize().to_string(), "account_holds": actual.normalize().to_string()});
            if self.ctx.settings.file.strategy.on_mismatch
                == crate::core::config::OnMismatch::Report
            {
                return Ok(json!({
                    "status": "partial",
                    "bar": last.open_time,
                    "mismatch": mismatch,
                    "orders": [],
                    "error": format!("{} on {} is not what strategy {} left (changed by hand?): nothing traded; set strategy.on_mismatch = \"adopt\" to take it as it is", self.sym, self.acct.name, self.s.name),
                }));
            }
        }
        let sig = engine::signals(&bars, &self.s.spec)?;
        let t = bars.len() - 1;
        let mut orders_out = Vec::new();
        let simulated = self.venue.profile().simulated;
        if simulated {
            self.act_on_pending(&bars, &sig, &mut orders_out).await?;
            self.stops_in_bar(&bars, &sig, &mut orders_out).await?;
        }
        let held = self.held().await?;
        let held_dir = held.as_ref().map(|p| dir_of(p.side));
        let atr_ready = sig.atr.as_ref().is_none_or(|a| !a[t].is_nan());
        let d = engine::decide(
            sig.flags[t],
            held_dir,
            self.s.spec.direction == Direction::LongShort,
            atr_ready,
        );
        let target = d.target(held_dir);
        let change = target != held_dir.unwrap_or(0.0);
        let run_id = Some(self.ctx.run_id.load(std::sync::atomic::Ordering::SeqCst));
        let status = match (change, simulated, self.send) {
            (false, _, _) => "no_change",
            (true, true, _) => "decided",
            (true, false, _) => "done",
        };
        if self.send {
            strategies::record_decision(
                self.store,
                self.s,
                self.acct.id,
                self.sym,
                last.open_time,
                target_name(target),
                status,
                None,
                run_id,
                self.now,
            )
            .await?;
        }
        let mut would = Vec::new();
        if change && !simulated {
            // An exchange: the market order is the open of bar t+1, sent now.
            let price = dec(last.close)?;
            self.move_to(
                target,
                held.as_ref(),
                price,
                self.now,
                "strategy",
                &mut orders_out,
                &mut would,
            )
            .await?;
        } else if change {
            would.push(json!({"at": "next open", "target": target_name(target)}));
        }
        let failed = orders_out.iter().any(|o| o["status"] != "filled") || self.refused_any();
        Ok(json!({
            "status": if failed { "partial" } else { "success" },
            "bar": last.open_time,
            "signal_flags": sig.flags[t],
            "held": target_name(held_dir.unwrap_or(0.0)),
            "target": target_name(target),
            "decision": status,
            "missed_bars": missed,
            "mismatch": mismatch,
            "orders": orders_out,
            "would_place": if self.send { Vec::new() } else { would },
        }))
    }

    /// The position the account holds in the symbol, as the store keeps it (paper: its book;
    /// futures: as update-positions reconciled it from the exchange).
    async fn stored_position(&self) -> Result<Option<Held>> {
        Ok(positions::open_positions(self.store, self.acct.id)
            .await?
            .into_iter()
            .find(|p| &p.symbol == self.sym)
            .map(|p| Held {
                side: p.side,
                quantity: p.quantity,
                entry_price: p.entry_price,
            }))
    }

    /// The strategy's position: on paper the book's; on an exchange what its own filled
    /// orders left (a spot account holds balances, not positions).
    async fn held(&self) -> Result<Option<Held>> {
        if self.venue.profile().simulated {
            return self.stored_position().await;
        }
        let own = strategies::own_net_position(self.store, self.acct.id, self.sym).await?;
        Ok((!own.is_zero()).then(|| Held {
            side: if own > Decimal::ZERO {
                PositionSide::Long
            } else {
                PositionSide::Short
            },
            quantity: own.abs(),
            entry_price: Decimal::ZERO,
        }))
    }

    /// Paper: fill the decision of bar t−1 at the open of bar t, with bar t's time. Older
    /// decisions left pending (bars missed) are not acted on.
    async fn act_on_pending(
        &self,
        bars: &[Bar],
        _sig: &engine::Signals,
        out: &mut Vec<Value>,
    ) -> Result<()> {
        if !self.send {
            return Ok(());
        }
        let t = bars.len() - 1;
        let bar = bars[t];
        let step = self.s.timeframe.millis();
        for d in strategies::pending_decisions(self.store, self.s.id, self.sym).await? {
            if d.bar_ms != bar.open_time - step {
                strategies::set_decision(
                    self.store,
                    d.id,
                    "missed",
                    Some("bars were missed: only the latest bar is acted on"),
                    None,
                    self.now,
                )
                .await?;
                continue;
            }
            let open = candles::range(
                self.store,
                self.sym,
                self.s.timeframe,
                Some(bar.open_time),
                Some(bar.open_time),
            )
            .await?
            .first()
            .map(|c| c.open)
            .context("the open of the bar after the decision")?;
            let held = self.held().await?;
            let mut would = Vec::new();
            self.move_to(
                target_dir(&d.target),
                held.as_ref(),
                open,
                bar.open_time,
                "strategy",
                out,
                &mut would,
            )
            .await?;
            let ok = out.iter().all(|o| o["status"] == "filled") && !self.refused_any();
            strategies::set_decision(
                self.store,
                d.id,
                if ok { "done" } else { "failed" },
                None,
                None,
                self.now,
            )
            .await?;
        }
        Ok(())
    }

    /// Paper: a stop loss or take profit inside bar t, booked at its level with bar t's time.
    async fn stops_in_bar(
        &self,
        bars: &[Bar],
        sig: &engine::Signals,
        out: &mut Vec<Value>,
    ) -> Result<()> {
        let spec: &StrategySpec = &self.s.spec;
        if !self.send || (spec.stop_loss.is_none() && spec.take_profit.is_none()) {
            return Ok(());
        }
        let Some(p) = self.held().await? else {
            return Ok(());
        };
        let Some(entry) = strategies::last_entry(self.store, self.s.id, self.sym).await? else {
            return Ok(());
        };
        let t = bars.len() - 1;
        let Ok(i) = bars.binary_search_by_key(&entry.bar_ms, |b| b.open_time) else {
            return Ok(());
        };
        let atr = sig.atr.as_ref().map_or(0.0, |a| a[i]);
        let dir = dir_of(p.side);
        // The level from the entry fill as the backtest computes it (f64, the same function).
        let fill = p
            .entry_price
            .to_string()
            .parse::<f64>()
            .context("entry price")?;
        let (stop, take) = engine::exit_levels(spec, dir, fill, atr);
        let Some((px, kind)) = engine::exit_in_bar(dir, stop, take, &bars[t]) else {
            return Ok(());
        };
        let price = if px == bars[t].open {
            candles::range(
                self.store,
                self.sym,
                self.s.timeframe,
                Some(bars[t].open_time),
                Some(bars[t].open_time),
            )
            .await?
            .first()
            .map(|c| c.open)
            .context("the bar's open")?
        } else {
            dec(px)?
        };
        let reason = match kind {
            ExitKind::TakeProfit => "strategy-take-profit",
            _ => "strategy-stop",
        };
        let mut would = Vec::new();
        self.move_to(
            0.0,
            Some(&p),
            price,
            bars[t].open_time,
            reason,
            out,
            &mut would,
        )
        .await
    }

    /// Orders that take the position from `held` to `target` (+1/-1/0) at `price`, booked
    /// (paper) or stamped with `at_ms`.
    #[allow(clippy::too_many_arguments)]
    async fn move_to(
        &self,
        target: f64,
        held: Option<&Held>,
        price: Decimal,
        at_ms: i64,
        reason: &str,
        out: &mut Vec<Value>,
        would: &mut Vec<Value>,
    ) -> Result<()> {
        let held_dir = held.map_or(0.0, |p| dir_of(p.side));
        if let Some(p) = held
            && held_dir != target
        {
            let side = orders::closing_side(p.side);
            if !self
                .order(side, p.quantity, price, at_ms, reason, true, out, would)
                .await?
            {
                // The close was refused by a cap: no new position beside the old one.
                return Ok(());
            }
        }
        if target != 0.0 && held_dir != target {
            let equity = self
                .venue
                .value_now(
                    self.store,
                    self.acct,
                    std::slice::from_ref(self.sym),
                    self.now,
                )
                .await?
                .0
                .equity;
            let alloc = self.s.allocation.unwrap_or(Decimal::ONE);
            let slip = if self.venue.profile().simulated {
                self.acct.slippage_bps / Decimal::from(10_000)
            } else {
                Decimal::ZERO
            };
            let dir = Decimal::from(target as i64);
            let fill = price * (Decimal::ONE + dir * slip);
            let raw = equity * alloc / (fill * (Decimal::ONE + self.acct.fee_rate));
            let step = self.lot_step().await?;
            let qty = execution::round_qty_down(raw, step);
            if qty > Decimal::ZERO {
                let side = if target > 0.0 { Side::Buy } else { Side::Sell };
                self.order(side, qty, price, at_ms, reason, false, out, would)
                    .await?;
            }
        }
        Ok(())
    }

    async fn lot_step(&self) -> Result<Decimal> {
        if self.venue.profile().simulated {
            return Ok(
                crate::core::rules_cache::paper_rules(self.sym, &self.acct.quote)
                    .lot_size
                    .map_or(Decimal::ZERO, |l| l.step_size),
            );
        }
        let rules = crate::core::rules_cache::rules(
            self.store,
            self.venue,
            std::slice::from_ref(self.sym),
            self.now,
        )
        .await?;
        Ok(rules
            .get(self.sym)
            .and_then(|i| execution::rules::quantity_rules(i, true))
            .map_or(Decimal::ZERO, |r| r.step))
    }

    /// Place (or, in a dry run, list) one order; `false` when the notional caps refused it.
    #[allow(clippy::too_many_arguments)]
    async fn order(
        &self,
        side: Side,
        quantity: Decimal,
        price: Decimal,
        at_ms: i64,
        reason: &str,
        closing: bool,
        out: &mut Vec<Value>,
        would: &mut Vec<Value>,
    ) -> Result<bool> {
        // Checked in a dry run too, so it shows what --execute would refuse.
        let admitted = self
            .caps
            .lock()
            .map_err(|_| anyhow::anyhow!("the notional caps' lock is poisoned"))?
            .admit(self.sym, side, quantity * price, &self.acct.quote);
        if let Err(skip) = admitted {
            let kind = match skip.reason {
                execution::SkipReason::AboveOrderCap { .. } => "above_order_cap",
                _ => "run_cap_reached",
            };
            self.refused
                .lock()
                .map_err(|_| anyhow::anyhow!("the refused orders' lock is poisoned"))?
                .push(json!({"symbol": self.sym, "side": side, "quantity": quantity.normalize().to_string(), "price": price.normalize().to_string(), "reason": kind, "error": skip.message}));
            return Ok(false);
        }
        if !self.send {
            would.push(json!({"symbol": self.sym, "side": side, "quantity": quantity.normalize().to_string(), "reason": reason}));
            return Ok(true);
        }
        let run_id = self.ctx.run_id.load(std::sync::atomic::Ordering::SeqCst);
        let new = orders::NewOrder {
            account_id: self.acct.id,
            run_id: Some(run_id),
            symbol: self.sym,
            side,
            quantity,
            reason,
            now_ms: at_ms,
            position_id: None,
        };
        let rec = orders::journal(self.store, self.venue, &new).await?;
        let reduce_only = self.venue.profile().reduce_only_closes.then_some(closing);
        let done = orders::execute_as(
            self.store,
            self.acct,
            self.venue,
            &rec,
            Some(price),
            reduce_only,
            at_ms,
        )
        .await?;
        if done.is_filled() {
            let mut m = NewMessage::new(
                MessageKind::Trade,
                format!(
                    "{} {} {} ({})",
                    side.as_str(),
                    quantity.normalize(),
                    self.sym,
                    self.s.name
                ),
                format!(
                    "Strategy {} on {}: {} {} {} at {} ({reason}).",
                    self.s.name,
                    self.acct.name,
                    side.as_str(),
                    quantity.normalize(),
                    self.sym,
                    done.avg_price.unwrap_or(price).normalize()
                ),
            );
            m.dedup_key = Some(format!("strategy-trade:{}", done.client_order_id));
            self.ctx.notify(m).await;
        }
        let mut v = serde_json::to_value(&done)?;
        v["status"] = json!(done.status);
        out.push(v);
        Ok(true)
    }
}
