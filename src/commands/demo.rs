//! `fks demo`: the whole daily cycle offline, on a fresh SQLite store and generated data.
//!
//! Candles come from a seeded model (trends, volatility regimes, jumps) served by a loopback
//! exchange in Binance's wire format, so the real `sync-market-data` path runs; news comes
//! from a feed the demo writes and serves the same way. The clock is fixed (and stepped
//! through two weeks of cron runs for the balance history), so every run of the demo prints
//! the same numbers. Notifications go to a local file channel.

use super::paper::SideArg;
use super::{Ctx, job};
use crate::core::accounts::{self, AccountKind, NewAccount};
use crate::core::clock::FixedClock;
use crate::core::demo_data;
use crate::core::fake_binance::{FakeBinance, Series};
use crate::core::market::{Symbol, Timeframe};
use crate::output::{Format, Outcome, Status, new_table};
use anyhow::{Context, Result, bail};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;

/// The demo's "now": 2025-06-01T00:00:00Z.
pub const DEMO_NOW_MS: i64 = 1_748_736_000_000;
const HOUR: i64 = 3_600_000;

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
    name: String,
    outcome: Value,
}

fn demo_feed() -> String {
    let items = [
        (
            "Bitcoin rallies as ETF inflows hit a record",
            "BTC climbed strongly after record inflows; analysts turn bullish.",
            "Fri, 30 May 2025 14:00:00 +0000",
        ),
        (
            "Ethereum developers delay upgrade after testnet bug",
            "A bug on the testnet pushed the ETH upgrade back; traders were disappointed.",
            "Fri, 30 May 2025 09:30:00 +0000",
        ),
        (
            "Solana network outage halts block production",
            "SOL fell sharply as validators restarted the network after an outage.",
            "Thu, 29 May 2025 18:10:00 +0000",
        ),
        (
            "Crypto markets steady ahead of jobs data",
            "Bitcoin and Ethereum traded sideways with little volume.",
            "Wed, 28 May 2025 08:00:00 +0000",
        ),
    ];
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>fks demo news (generated)</title><link>https://example.invalid/</link><description>Headlines written for the demo</description>\n",
    );
    for (i, (t, d, p)) in items.iter().enumerate() {
        s.push_str(&format!(
            "<item><title>{t}</title><link>https://example.invalid/demo/{i}</link><description><![CDATA[<p>{d}</p>]]></description><pubDate>{p}</pubDate><guid isPermaLink=\"false\">demo-{i}</guid></item>\n"
        ));
    }
    s.push_str("</channel></rss>\n");
    s
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    if args.candles < 600 {
        bail!(
            "--candles must be at least 600 (indicators need 200 candles of warm-up, the knowledge base more)"
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
    let say = |m: &str| {
        if !ctx.global.quiet {
            eprintln!("demo: {m}");
        }
    };

    // Generated markets and news, served by a loopback exchange.
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
    let server = FakeBinance::start_full(series, std::time::Duration::ZERO, demo_feed()).await?;

    let mut settings = ctx.settings.clone();
    settings.database_url = db.display().to_string();
    settings.file.market.symbols = symbols.clone();
    settings.file.market.timeframe = tf;
    settings.file.market.initial_limit = args.candles;
    settings.file.exchange.market = crate::core::config::MarketKind::Spot;
    settings.file.exchange.spot_base_url = server.base_url.clone();
    settings.file.exchange.retry_base_delay_ms = 0;
    let outbox_file = dir.join("notifications.jsonl");
    settings.file.notifications = crate::core::notify::NotifyConfig {
        file: Some(outbox_file.clone()),
        ..Default::default()
    };
    settings.file.news = toml::from_str(&format!(
        "[[sources]]\nname = \"demo-feed\"\nkind = \"rss\"\nurl = \"{}\"\n",
        server.feed_url
    ))
    .context("demo news config")?;
    settings.file.trading.enabled = true;
    settings.file.trading.max_order_notional = Decimal::from(5_000);
    settings.file.trading.max_run_notional = Decimal::from(20_000);
    settings.file.intelligence.llm_url = None;
    // The demo's clock jumps over its history (a snapshot per hour): the gaps are not missed
    // runs, so failure-streak alerts stay off.
    settings.file.monitor.failure_streak = 0;
    let mut global = ctx.global.clone();
    global.format = Some(Format::Json);
    global.quiet = true;
    global.wait = None;
    let at = |ms: i64| {
        Ctx::new(
            global.clone(),
            settings.clone(),
            Arc::new(FixedClock(ms)),
            Arc::new(std::collections::BTreeMap::new()),
        )
    };
    let d = at(DEMO_NOW_MS);
    let argv = |s: &str| vec!["fks".to_string(), s.to_string()];
    let mut steps: Vec<Step> = Vec::new();
    macro_rules! step {
        ($ctx:expr, $name:expr, $fut:expr) => {{
            say(&format!("running {}", $name));
            let o = job($ctx, $name, $name, &argv($name), $fut).await?;
            steps.push(Step {
                name: $name.to_string(),
                outcome: o.to_json($name),
            });
        }};
    }

    step!(
        &d,
        "sync-market-data",
        super::sync_market_data::run(
            &d,
            super::sync_market_data::Args {
                symbols: vec![],
                timeframe: Some(tf),
                limit: None,
                since: None,
                shard: None
            }
        )
    );
    step!(
        &d,
        "fetch-news",
        super::fetch_news::run(&d, super::fetch_news::Args { limit: 10 })
    );
    step!(
        &d,
        "update-indicators",
        super::update_indicators::run(
            &d,
            super::update_indicators::Args {
                symbols: vec![],
                timeframe: Some(tf),
                full: false,
                shard: None
            }
        )
    );

    // A paper account that opened positions two weeks ago, with a balance snapshot every
    // six hours since (what the cron schedule would have left), and one trade closed mid-way.
    say("replaying two weeks of a paper account");
    let store = d.store().await?;
    let opened = DEMO_NOW_MS - 14 * 24 * HOUR;
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
        opened - HOUR,
    )
    .await?;
    let then = at(opened);
    let mut fills = Vec::new();
    for (sym, side, amount, stop_pct) in [
        ("BTCUSDT", SideArg::Buy, 3000, 92),
        ("ETHUSDT", SideArg::Buy, 2000, 90),
        ("SOLUSDT", SideArg::Sell, 1000, 110),
    ] {
        let o = super::paper::run(
            &then,
            super::paper::Args {
                action: super::paper::Action::Order {
                    account: acct.name.clone(),
                    symbol: Symbol(sym.into()),
                    side,
                    quantity: None,
                    quote_amount: Some(Decimal::from(amount)),
                    stop_loss: None,
                    take_profit: None,
                    allow_stale_price: false,
                    force: false,
                },
            },
        )
        .await?;
        let price: Decimal = o.body["fill"]["price"]
            .as_str()
            .unwrap_or("0")
            .parse()
            .unwrap_or_default();
        let stop = (price * Decimal::from(stop_pct) / Decimal::from(100)).round_dp(2);
        crate::core::positions::set_stops(store, acct.id, &Symbol(sym.into()), Some(stop), None)
            .await?;
        fills.push(o.body["fill"].clone());
    }
    steps.push(Step {
        name: "paper orders".into(),
        outcome: json!({"status": "success", "fills": fills}),
    });
    let mut t = opened;
    while t <= DEMO_NOW_MS {
        let c = at(t);
        if t == opened + 7 * 24 * HOUR {
            super::paper::run(
                &c,
                super::paper::Args {
                    action: super::paper::Action::Order {
                        account: acct.name.clone(),
                        symbol: Symbol("SOLUSDT".into()),
                        side: SideArg::Buy,
                        quantity: Some(
                            crate::core::positions::open_positions(store, acct.id)
                                .await?
                                .iter()
                                .find(|p| p.symbol.0 == "SOLUSDT")
                                .map(|p| p.quantity)
                                .unwrap_or_default(),
                        ),
                        quote_amount: None,
                        stop_loss: None,
                        take_profit: None,
                        allow_stale_price: false,
                        force: false,
                    },
                },
            )
            .await?;
        }
        job(
            &c,
            "sync-account-balance",
            "sync-account-balance",
            &argv("sync-account-balance"),
            super::sync_account_balance::run(
                &c,
                super::sync_account_balance::Args { account_id: None },
            ),
        )
        .await?;
        t += 6 * HOUR;
    }
    steps.push(Step {
        name: "balance history".into(),
        outcome: json!({"status": "success", "snapshots": 14 * 4 + 1}),
    });
    step!(
        &d,
        "sync-account-balance",
        super::sync_account_balance::run(
            &d,
            super::sync_account_balance::Args { account_id: None }
        )
    );
    step!(
        &d,
        "update-positions",
        super::update_positions::run(&d, super::update_positions::Args { account_id: None })
    );
    step!(
        &d,
        "analyze-risk",
        super::analyze_risk::run(
            &d,
            super::analyze_risk::Args {
                account: Default::default()
            }
        )
    );

    // Strategies: backtest with optimisation (chart written), then validate.
    for (name, kind, params) in [
        ("trend", "sma_cross", "fast=10,slow=30"),
        ("reversion", "rsi_reversion", ""),
    ] {
        let spec = super::strategy::build_spec(kind, params, None, None, false)?;
        crate::core::strategies::add(store, name, &spec, &symbols, tf, DEMO_NOW_MS).await?;
    }
    let bt_dir = dir.join("backtest");
    step!(
        &d,
        "run-backtest",
        super::run_backtest::run(
            &d,
            super::run_backtest::Args {
                strategy: None,
                strategy_id: None,
                kind: None,
                params: String::new(),
                symbols: vec![],
                timeframe: Some(tf),
                from: None,
                to: None,
                optimize: true,
                grid: None,
                metric: super::run_backtest::MetricArg::Sharpe,
                train_ratio: 0.7,
                fee: None,
                cash: None,
                output_dir: Some(bt_dir.clone()),
                apply: true,
                shard: None,
            }
        )
    );
    step!(
        &d,
        "validate-strategies",
        super::validate_strategies::run(
            &d,
            super::validate_strategies::Args {
                strategy_id: None,
                days: 60,
                dry_run: true,
                shard: None,
            }
        )
    );

    // Intelligence.
    step!(
        &d,
        "generate-signals",
        super::generate_signals::run(
            &d,
            super::generate_signals::Args {
                account_id: Some(acct.id),
                timeframe: Some(tf),
                as_of: None,
                symbols: vec![]
            }
        )
    );
    step!(
        &d,
        "generate-daily-rag-signals",
        super::daily_signals::run(
            &d,
            super::daily_signals::Args {
                symbols: vec![],
                min_confidence: 0.6,
                timeframe: Some(tf),
                as_of: None,
                shard: None,
            }
        )
    );
    step!(
        &d,
        "optimize-portfolio",
        super::optimize_portfolio::run(
            &d,
            super::optimize_portfolio::Args {
                account_id: Some(acct.id),
                method: super::optimize_portfolio::Method::Rag,
                timeframe: Some(tf),
                as_of: None,
            }
        )
    );
    say("running evaluate-signals");
    let ev = super::evaluate_signals::run(
        &d,
        super::evaluate_signals::Args {
            symbols: vec![symbols[0].clone()],
            timeframe: Some(tf),
            from: None,
            to: None,
            horizon: None,
            step: None,
            min_history: 500,
            decisions: false,
        },
    )
    .await;
    steps.push(Step {
        name: "evaluate-signals".into(),
        outcome: match ev {
            Ok(o) => o.to_json("evaluate-signals"),
            Err(e) => json!({"status": "error", "error": format!("{e:#}")}),
        },
    });

    // Execution: a dry-run rebalance, a stop-loss check, then an executed paper rebalance.
    step!(
        &d,
        "rebalance-portfolio",
        super::rebalance_portfolio::run(
            &d,
            super::rebalance_portfolio::Args {
                account_id: acct.id,
                execute: false,
                targets: None,
                band: Decimal::new(2, 2),
                sell_unlisted: false,
            }
        )
    );
    step!(
        &d,
        "check-stop-loss",
        super::check_stop_loss::run(
            &d,
            super::check_stop_loss::Args {
                account_id: None,
                execute: false
            }
        )
    );
    say("running rebalance-portfolio --execute (paper)");
    let o = job(
        &d,
        "rebalance-portfolio",
        "rebalance-portfolio#demo",
        &argv("rebalance-portfolio"),
        super::rebalance_portfolio::run(
            &d,
            super::rebalance_portfolio::Args {
                account_id: acct.id,
                execute: true,
                targets: None,
                band: Decimal::new(2, 2),
                sell_unlisted: false,
            },
        ),
    )
    .await?;
    steps.push(Step {
        name: "rebalance-portfolio --execute".into(),
        outcome: o.to_json("rebalance-portfolio"),
    });

    // Metrics, the daily report (HTML), notifications, archiving (dry run).
    step!(
        &d,
        "calculate-metrics",
        super::calculate_metrics::run(
            &d,
            super::calculate_metrics::Args {
                account: Default::default(),
                period_days: 14
            }
        )
    );
    // The daily report runs at 23:30 in the crontab: the day just ending.
    let report = dir.join("report.html");
    let r = at(DEMO_NOW_MS - 30 * 60_000);
    step!(
        &r,
        "generate-report",
        super::generate_report::run(
            &r,
            super::generate_report::Args {
                account: super::flags::AccountFilter {
                    account_id: Some(acct.id),
                },
                report_type: super::generate_report::Kind::Daily,
                output: Some(report.clone()),
                no_deliver: false,
            }
        )
    );
    step!(
        &d,
        "send-notifications",
        super::send_notifications::run(
            &d,
            super::send_notifications::Args {
                notification_type: super::send_notifications::Kind::Report,
                message: Some("fks demo finished its daily cycle".into()),
                title: Some("fks demo".into()),
                urgent: false,
                dedup_key: None,
            }
        )
    );
    step!(
        &d,
        "dashboard",
        super::dashboard::run(
            &d,
            super::dashboard::Args {
                output: Some(dir.join("dashboard.html")),
            }
        )
    );
    step!(
        &d,
        "archive-old-data",
        super::archive_old_data::run(
            &d,
            super::archive_old_data::Args {
                days_to_keep: 30,
                execute: false,
                archive_dir: None,
                vacuum: false
            }
        )
    );

    // A strategy bound to a paper account of its own, decided once on the latest closed bar
    // (a dry run: it prints the order it would place).
    let strat_acct = accounts::add(
        store,
        &NewAccount {
            name: "Demo Strategy".into(),
            kind: AccountKind::Paper,
            quote: "USDT".into(),
            cash: Decimal::from(10_000),
            baseline: None,
            fee_rate: Decimal::new(1, 3),
            slippage_bps: Decimal::ZERO,
            api_key_env: None,
            api_secret_env: None,
        },
        DEMO_NOW_MS - HOUR,
    )
    .await?;
    let trend = crate::core::strategies::find(store, "trend").await?;
    crate::core::strategies::bind(
        store,
        trend.id,
        Some(strat_acct.id),
        Some(Decimal::new(5, 1)),
        DEMO_NOW_MS,
    )
    .await?;
    step!(
        &d,
        "run-strategies",
        super::run_strategies::run(
            &d,
            super::run_strategies::Args {
                strategy: Some("trend".into()),
                execute: false,
                shard: None,
                no_sync: false
            }
        )
    );

    drop(server);
    let failed: Vec<&str> = steps
        .iter()
        .filter(|s| s.outcome["status"] != "success")
        .map(|s| s.name.as_str())
        .collect();
    let mut t = new_table();
    t.set_header(vec!["step", "status", "summary"]);
    for s in &steps {
        t.add_row(vec![
            s.name.clone(),
            s.outcome["status"].as_str().unwrap_or("?").to_string(),
            summary(s),
        ]);
    }
    let outbox = crate::core::outbox::summary(store).await?;
    let status = if failed.is_empty() {
        Status::Success
    } else {
        Status::Partial
    };
    let body = json!({
        "store": db.display().to_string(),
        "report": report.display().to_string(),
        "backtest_charts": bt_dir.display().to_string(),
        "notifications_file": outbox_file.display().to_string(),
        "outbox": outbox,
        "data": "generated by a seeded model (trends, volatility regimes, jumps) and a generated news feed: not real market data",
        "now": crate::core::time::fmt_ms(DEMO_NOW_MS),
        "symbols": symbols,
        "failed_steps": failed,
        "steps": steps.iter().map(|s| (s.name.clone(), s.outcome.clone())).collect::<serde_json::Map<_, _>>(),
    });
    if !ctx.global.quiet {
        eprintln!("demo: store {}", db.display());
        eprintln!("demo: daily report {}", report.display());
        eprintln!("demo: backtest charts in {}", bt_dir.display());
        eprintln!(
            "demo: notifications written to {} (outbox: {})",
            outbox_file.display(),
            serde_json::to_string(&outbox)?
        );
    }
    Ok(Outcome::new(status, body)?.with_table(t))
}

fn first_result(o: &Value) -> Option<&Value> {
    o["results"].as_object().and_then(|m| m.values().next())
}

fn summary(s: &Step) -> String {
    let o = &s.outcome;
    let f = |v: &Value| {
        v.as_f64()
            .map(|x| format!("{x:.2}"))
            .unwrap_or_else(|| "-".into())
    };
    match s.name.as_str() {
        "sync-market-data" => {
            let n: u64 = o["results"]
                .as_object()
                .map(|m| m.values().filter_map(|v| v["inserted"].as_u64()).sum())
                .unwrap_or(0);
            format!("{n} candles stored from the loopback exchange")
        }
        "fetch-news" => format!(
            "{} items, average sentiment {}",
            o["new"],
            f(&o["average_sentiment"])
        ),
        "update-indicators" => format!(
            "{} symbols computed",
            o["results"].as_object().map(|m| m.len()).unwrap_or(0)
        ),
        "paper orders" => format!(
            "{} market orders filled two weeks ago",
            o["fills"].as_array().map(|a| a.len()).unwrap_or(0)
        ),
        "balance history" => format!("{} snapshots, every 6 h", o["snapshots"]),
        "sync-account-balance" => first_result(o)
            .map(|a| format!("equity {} USDT, daily PnL {}", a["equity"], a["daily_pnl"]))
            .unwrap_or_default(),
        "update-positions" => first_result(o)
            .map(|a| format!("{} open positions marked", a["open_positions"]))
            .unwrap_or_default(),
        "analyze-risk" => first_result(o)
            .map(|a| {
                format!(
                    "risk {}, exposure {}",
                    a["risk_level"],
                    f(&a["exposure_ratio"])
                )
            })
            .unwrap_or_default(),
        "run-backtest" => {
            let applied = o["optimizations"]
                .as_object()
                .map(|m| m.values().filter(|v| v["apply"]["applied"] == true).count())
                .unwrap_or(0);
            format!(
                "{} strategy/symbol runs optimised; {} of {} strategies passed out of sample and were applied",
                o["results"].as_object().map(|m| m.len()).unwrap_or(0),
                applied,
                o["optimizations"].as_object().map(|m| m.len()).unwrap_or(0)
            )
        }
        "validate-strategies" => {
            format!("{} passed, {} failed (dry run)", o["passed"], o["failed"])
        }
        "run-strategies" => format!(
            "{} strategy/symbol decisions on the latest closed bar (dry run)",
            o["results"].as_object().map(|m| m.len()).unwrap_or(0)
        ),
        "generate-signals" => format!("signal {} via {}", o["signal"], o["method"]),
        "generate-daily-rag-signals" => format!(
            "{} high-confidence signals via {}",
            o["high_confidence_count"], o["method"]
        ),
        "optimize-portfolio" => format!(
            "method {}, rebalance needed: {}",
            o["method"], o["rebalance_needed"]
        ),
        "evaluate-signals" => o["verdict"]
            .as_str()
            .map(|v| v.chars().take(110).collect::<String>() + "…")
            .unwrap_or_else(|| o["error"].to_string()),
        "rebalance-portfolio" => format!(
            "{} orders planned (dry run)",
            o["orders"].as_array().map(|a| a.len()).unwrap_or(0)
        ),
        "rebalance-portfolio --execute" => format!(
            "{} paper orders filled",
            o["orders"].as_array().map(|a| a.len()).unwrap_or(0)
        ),
        "check-stop-loss" => format!(
            "{} stops checked, {} triggered",
            o["checked"], o["triggered"]
        ),
        "calculate-metrics" => first_result(o)
            .map(|a| {
                format!(
                    "return {}%, Sharpe {}, max DD {}%",
                    f(&a["total_return_pct"]),
                    f(&a["sharpe"]),
                    f(&a["max_drawdown_pct"])
                )
            })
            .unwrap_or_default(),
        "generate-report" => first_result(o)
            .map(|a| format!("written to {}", a["file"].as_str().unwrap_or("-")))
            .unwrap_or_default(),
        "send-notifications" => format!("outbox {}", o["outbox"]),
        "dashboard" => format!(
            "status page written to {}",
            o["output"].as_str().unwrap_or("-")
        ),
        "archive-old-data" => format!("{} rows older than 30 days (dry run)", o["rows"]),
        _ => String::new(),
    }
}
