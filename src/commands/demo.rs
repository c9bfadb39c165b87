//! `fks demo`: the whole daily cycle offline, on a fresh SQLite store and generated data.
//!
//! Candles come from a seeded model (trends, volatility regimes, jumps) served by a loopback
//! exchange in Binance's wire format, so the real `sync-market-data` path runs. The clock is
//! fixed, so every run of the demo prints the same numbers.

use super::{Ctx, job};
use crate::core::accounts::{self, AccountKind, NewAccount};
use crate::core::clock::FixedClock;
use crate::core::demo_data;
use crate::core::exchange::paper::{self, PaperOrder};
use crate::core::fake_binance::{FakeBinance, Series};
use crate::core::market::{Symbol, Timeframe};
use crate::core::positions::{self, Side};
use crate::output::{Format, Outcome, Status, new_table};
use anyhow::{Context, Result, bail};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;

/// The demo's "now": 2025-06-01T00:00:00Z.
pub const DEMO_NOW_MS: i64 = 1_748_736_000_000;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory for the demo's store and files (default: a new folder under the system temp dir).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Hourly candles generated per symbol.
    #[arg(long, default_value_t = 2000)]
    pub candles: usize,
}

struct Step {
    name: &'static str,
    outcome: Value,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    if args.candles < 300 {
        bail!(
            "--candles must be at least 300 (the slowest indicator needs 200 candles of warm-up)"
        );
    }
    let dir = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "fks-demo-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_millis()
        ))
    });
    let db = dir.join("fks.db");
    if db.exists() {
        bail!(
            "{} already holds a store; give `fks demo --dir` a new folder",
            dir.display()
        );
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;

    // Generated markets, served by a loopback exchange.
    let tf = Timeframe::H1;
    let start = DEMO_NOW_MS - args.candles as i64 * tf.millis();
    let mut series = Series::new();
    let mut symbols = Vec::new();
    for (sym, seed, model) in demo_data::demo_markets() {
        series.insert(
            (sym.to_string(), tf.as_str().to_string()),
            demo_data::generate(seed, &model, tf, start, args.candles),
        );
        symbols.push(Symbol(sym.to_string()));
    }
    let server = FakeBinance::start(series).await?;

    let mut settings = ctx.settings.clone();
    settings.database_url = db.display().to_string();
    settings.file.market.symbols = symbols.clone();
    settings.file.market.timeframe = tf;
    settings.file.market.initial_limit = args.candles;
    settings.file.exchange.market = crate::core::config::MarketKind::Spot;
    settings.file.exchange.spot_base_url = server.base_url.clone();
    settings.file.exchange.retry_base_delay_ms = 0;
    settings.file.notifications = Default::default();
    let mut global = ctx.global.clone();
    global.format = Some(Format::Json);
    global.quiet = true;
    let d = Ctx::new(
        global,
        settings,
        Arc::new(FixedClock(DEMO_NOW_MS)),
        Arc::new(std::collections::BTreeMap::new()),
    );
    let argv = |s: &str| vec!["fks".to_string(), s.to_string()];
    let mut steps: Vec<Step> = Vec::new();
    let say = |m: &str| {
        if !ctx.global.quiet {
            eprintln!("demo: {m}");
        }
    };

    say("syncing generated candles from the loopback exchange");
    let o = job(
        &d,
        "sync-market-data",
        "sync-market-data",
        &argv("sync-market-data"),
        super::sync_market_data::run(
            &d,
            super::sync_market_data::Args {
                symbols: vec![],
                timeframe: Some(tf),
                limit: None,
                since: None,
                shard: None,
            },
        ),
    )
    .await?;
    steps.push(Step {
        name: "sync-market-data",
        outcome: o.to_json("sync-market-data"),
    });

    say("opening a paper account with a few positions");
    let store = d.store().await?;
    let acct = accounts::add(
        store,
        &NewAccount {
            name: "Demo Paper".into(),
            kind: AccountKind::Paper,
            quote: "USDT".into(),
            cash: Decimal::from(10_000),
            baseline: None,
            fee_rate: Decimal::new(1, 3),
            slippage_bps: Decimal::from(2),
            api_key_env: None,
            api_secret_env: None,
        },
        DEMO_NOW_MS - 48 * 3_600_000,
    )
    .await?;
    let mut fills = Vec::new();
    for (sym, side, amount) in [
        ("BTCUSDT", Side::Buy, 3000),
        ("ETHUSDT", Side::Buy, 2000),
        ("SOLUSDT", Side::Sell, 1000),
    ] {
        let symbol = Symbol(sym.into());
        let (px, _) = positions::latest_stored_price(store, &symbol, DEMO_NOW_MS)
            .await?
            .context("demo price")?;
        let tx = store.begin().await?;
        let f = paper::place_market_order(
            &tx,
            &acct,
            &PaperOrder {
                symbol: symbol.clone(),
                side,
                quantity: None,
                quote_amount: Some(Decimal::from(amount)),
                client_order_id: None,
            },
            px,
            DEMO_NOW_MS,
        )
        .await?;
        tx.commit().await?;
        let stop = match side {
            Side::Buy => px * Decimal::new(95, 2),
            Side::Sell => px * Decimal::new(105, 2),
        };
        positions::set_stops(store, acct.id, &symbol, Some(stop.round_dp(2)), None).await?;
        fills.push(serde_json::to_value(f)?);
    }
    steps.push(Step {
        name: "paper orders",
        outcome: json!({"status": "success", "fills": fills}),
    });

    for name in ["sync-account-balance", "update-positions"] {
        say(&format!("running {name}"));
        let o = match name {
            "sync-account-balance" => {
                job(
                    &d,
                    name,
                    name,
                    &argv(name),
                    super::sync_account_balance::run(
                        &d,
                        super::sync_account_balance::Args { account_id: None },
                    ),
                )
                .await?
            }
            _ => {
                job(
                    &d,
                    name,
                    name,
                    &argv(name),
                    super::update_positions::run(
                        &d,
                        super::update_positions::Args { account_id: None },
                    ),
                )
                .await?
            }
        };
        steps.push(Step {
            name,
            outcome: o.to_json(name),
        });
    }

    drop(server);
    let failed: Vec<&str> = steps
        .iter()
        .filter(|s| s.outcome["status"] != "success")
        .map(|s| s.name)
        .collect();
    let mut t = new_table();
    t.set_header(vec!["step", "status", "summary"]);
    for s in &steps {
        t.add_row(vec![
            s.name.to_string(),
            s.outcome["status"].as_str().unwrap_or("?").to_string(),
            summary(s),
        ]);
    }
    let status = if failed.is_empty() {
        Status::Success
    } else {
        Status::Partial
    };
    let body = json!({
        "store": db.display().to_string(),
        "data": "generated by a seeded model (trends, volatility regimes, jumps): not real market prices",
        "now": crate::core::time::fmt_ms(DEMO_NOW_MS),
        "symbols": symbols,
        "failed_steps": failed,
        "steps": steps.iter().map(|s| (s.name.to_string(), s.outcome.clone())).collect::<serde_json::Map<_, _>>(),
    });
    if !ctx.global.quiet {
        eprintln!(
            "demo: store at {} (inspect it with `fks --db {} list-data`)",
            db.display(),
            db.display()
        );
    }
    Ok(Outcome::new(status, body)?.with_table(t))
}

fn summary(s: &Step) -> String {
    let o = &s.outcome;
    match s.name {
        "sync-market-data" => {
            let r = o["results"].as_object();
            let n: u64 = r
                .map(|m| m.values().filter_map(|v| v["inserted"].as_u64()).sum())
                .unwrap_or(0);
            format!(
                "{n} candles stored for {} symbols",
                r.map(|m| m.len()).unwrap_or(0)
            )
        }
        "paper orders" => format!(
            "{} market orders filled",
            o["fills"].as_array().map(|a| a.len()).unwrap_or(0)
        ),
        "sync-account-balance" => o["results"]
            .as_object()
            .and_then(|m| m.values().next())
            .map(|a| {
                format!(
                    "equity {} USDT, unrealized {}",
                    a["equity"], a["unrealized_pnl"]
                )
            })
            .unwrap_or_default(),
        "update-positions" => o["results"]
            .as_object()
            .and_then(|m| m.values().next())
            .map(|a| format!("{} open positions marked", a["open_positions"]))
            .unwrap_or_default(),
        _ => String::new(),
    }
}
