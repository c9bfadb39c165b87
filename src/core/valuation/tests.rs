//! The one valuation: hand-computed cases per kind, and property tests that every job's core
//! computation reports the valuation's equity, and that a band-0 rebalance of a LONG-only
//! paper or spot account reaches its targets.

use super::*;
use crate::core::accounts::money;
use crate::core::balances::snapshot_of;
use crate::core::execution::{LotSize, RebalanceInput, Side, SymbolInfo, plan_rebalance};
use crate::core::reporting::{position_rows, summary_of};
use crate::core::risk::{self, AccountFigures, RiskPosition};
use crate::core::rules_cache::paper_rules;
use proptest::prelude::*;
use rust_decimal::prelude::ToPrimitive;

fn d(s: &str) -> Decimal {
    s.parse().expect("test decimal")
}

fn sym(s: &str) -> Symbol {
    Symbol(s.to_string())
}

fn pos(symbol: &str, side: PositionSide, qty: &str, entry: &str, price: Option<&str>) -> Holding {
    Holding {
        symbol: sym(symbol),
        asset: None,
        side,
        quantity: d(qty),
        free: d(qty),
        entry_price: Some(d(entry)),
        price: price.map(d),
        price_time: price.map(|_| 1),
        leverage: None,
        reported_pnl: None,
    }
}

fn paper(balance: &str, holdings: Vec<Holding>) -> ValuationInput {
    ValuationInput {
        account_id: 1,
        kind: AccountKind::Paper,
        quote: "USDT".into(),
        as_of_ms: 1,
        source: Source::Store,
        wallet: Wallet::Paper {
            balance: d(balance),
        },
        holdings,
        fees_paid: Decimal::ZERO,
    }
}

#[test]
fn a_paper_gain_is_counted_once() {
    // Issue 13: 100000 cash, 0.5 BTC bought at 60400 (fee 30.20), now 80619.
    let v = value(&paper(
        "99969.8",
        vec![pos(
            "BTCUSDT",
            PositionSide::Long,
            "0.5",
            "60400",
            Some("80619"),
        )],
    ))
    .unwrap();
    assert_eq!(v.unrealized_pnl, d("10109.5"));
    assert_eq!(v.equity, d("110079.3"));
    assert_eq!(v.positions_value, d("40309.5"));
    assert_eq!(
        v.cash,
        d("69769.8"),
        "balance − entry notional, not equity − margin"
    );
    assert_eq!(v.margin_used, d("40309.5"));
    assert_eq!(v.margin_available, d("69769.8"));
    assert_eq!(v.cash_free, d("69769.8"));
    assert_eq!(v.cash + v.positions_value, v.equity);
    // What the rebalance planner sees: total = equity; a 50% target buys 14730.15.
    let targets = BTreeMap::from([(sym("BTCUSDT"), d("0.5"))]);
    let rules = BTreeMap::from([(sym("BTCUSDT"), paper_rules(&sym("BTCUSDT"), "USDT"))]);
    let mut input = RebalanceInput::from_valuation(&v, &targets, &rules, &BTreeMap::new()).input;
    input.max_order_notional = d("1000000");
    input.max_run_notional = d("1000000");
    let plan = plan_rebalance(&input).unwrap();
    assert_eq!(plan.total_value, d("110079.3"));
    assert_eq!(plan.orders.len(), 1);
    let o = &plan.orders[0];
    assert_eq!(o.side, Side::Buy);
    let want = d("14730.15");
    assert!(o.notional <= want && want - o.notional < d("80619") * d("0.00000001"));
}

#[test]
fn paper_long_and_short_are_marked_once() {
    // LONG 0.1 BTC 40000 → 38000 (−200), SHORT 1 ETH 2000 → 2100 (−100), balance 9994.
    let v = value(&paper(
        "9994",
        vec![
            pos("BTCUSDT", PositionSide::Long, "0.1", "40000", Some("38000")),
            pos("ETHUSDT", PositionSide::Short, "1", "2000", Some("2100")),
        ],
    ))
    .unwrap();
    assert_eq!(v.unrealized_pnl, d("-300"));
    assert_eq!(v.equity, d("9694"));
    assert_eq!(v.positions_value, d("1700"), "3800 long − 2100 short");
    assert_eq!(v.gross_exposure, d("5900"));
    assert_eq!(v.cash, d("7994"), "9994 − 4000 paid + 2000 received");
    assert_eq!(v.margin_used, d("5900"), "leverage 1 at the marks");
    assert_eq!(v.margin_available, d("3794"));
    assert_eq!(v.positions[1].market_value, d("-2100"));
    assert_eq!(v.positions[1].pnl_pct, Some(-5.0));
    assert!((v.weights()[&sym("ETHUSDT")] - -2100.0 / 9694.0).abs() < 1e-12);
}

#[test]
fn a_paper_position_without_a_price_is_valued_at_entry() {
    let v = value(&paper(
        "1000",
        vec![pos("NOPEUSDT", PositionSide::Long, "5", "2", None)],
    ))
    .unwrap();
    assert_eq!(v.unpriced, vec![sym("NOPEUSDT")]);
    assert_eq!(v.equity, d("1000"));
    assert_eq!(v.positions_value, d("10"));
    assert_eq!(v.positions[0].unrealized_pnl, None);
    assert_eq!(v.cash, d("990"));
}

fn spot_account() -> SpotAccount {
    let b = |asset: &str, free: &str, locked: &str| crate::core::exchange::Balance {
        asset: asset.into(),
        free: d(free),
        locked: d(locked),
    };
    SpotAccount {
        can_trade: true,
        update_time: 0,
        balances: vec![
            b("BTC", "0.4", "0.1"),
            b("ETH", "2", "0"),
            b("USDT", "1500.25", "100"),
            b("BNB", "0", "0"),
            b("XYZ", "7", "0"),
        ],
    }
}

fn spot_acct() -> Account {
    Account {
        id: 2,
        name: "Spot".into(),
        kind: AccountKind::BinanceSpot,
        quote: "USDT".into(),
        active: true,
        initial_cash: Decimal::ZERO,
        baseline: Some(d("20000")),
        fee_rate: d("0.001"),
        slippage_bps: Decimal::ZERO,
        api_key_env: None,
        api_secret_env: None,
        created_ms: 0,
    }
}

#[test]
fn spot_balances_are_valued_free_and_locked() {
    let prices = BTreeMap::from([(sym("BTCUSDT"), d("42000")), (sym("ETHUSDT"), d("2200.5"))]);
    let v = value(&spot_input(
        &spot_acct(),
        &spot_account(),
        &prices,
        7,
        d("3"),
    ))
    .unwrap();
    // 0.5 BTC × 42000 + 2 ETH × 2200.5 + 1600.25 USDT = 27001.25; XYZ has no price.
    assert_eq!(v.equity, d("27001.25"));
    assert_eq!(v.balance, v.equity);
    assert_eq!(v.cash, d("1600.25"));
    assert_eq!(v.cash_free, d("1500.25"));
    assert_eq!(v.margin_available, d("1500.25"));
    assert_eq!(v.unrealized_pnl, Decimal::ZERO);
    assert_eq!(v.unpriced, vec![sym("XYZUSDT")]);
    assert_eq!(v.fees_paid, d("3"));
    let btc = v.position(&sym("BTCUSDT")).unwrap();
    assert_eq!((btc.quantity, btc.free_quantity), (d("0.5"), d("0.4")));
    assert_eq!(btc.asset.as_deref(), Some("BTC"));
    assert_eq!(btc.market_value, d("21000"));
    assert_eq!(
        v.position(&sym("XYZUSDT")).unwrap().market_value,
        Decimal::ZERO
    );
}

#[test]
fn futures_totals_are_the_exchanges() {
    let mut h = pos(
        "BTCUSDT",
        PositionSide::Long,
        "0.15",
        "40000",
        Some("42000"),
    );
    h.leverage = Some(d("10"));
    h.reported_pnl = Some(d("300"));
    let mut e = pos("ETHUSDT", PositionSide::Short, "1", "2000", Some("2049.5"));
    e.leverage = Some(d("5"));
    e.reported_pnl = Some(d("-49.5"));
    let input = ValuationInput {
        account_id: 3,
        kind: AccountKind::BinanceFutures,
        quote: "USDT".into(),
        as_of_ms: 1,
        source: Source::Exchange,
        wallet: Wallet::Futures(FuturesTotals {
            wallet_balance: d("10000"),
            unrealized_pnl: d("250.5"),
            margin_balance: d("10250.5"),
            margin_used: d("1300"),
            available: d("8950.5"),
        }),
        holdings: vec![h, e],
        fees_paid: Decimal::ZERO,
    };
    let v = value(&input).unwrap();
    assert_eq!(
        (v.balance, v.unrealized_pnl, v.equity),
        (d("10000"), d("250.5"), d("10250.5"))
    );
    assert_eq!(
        (v.margin_used, v.margin_available),
        (d("1300"), d("8950.5"))
    );
    assert_eq!(v.positions_value, d("6300") - d("2049.5"));
    assert_eq!(v.cash + v.positions_value, v.equity);
    assert_eq!(v.positions[0].margin, d("630"), "notional / leverage");
    assert_eq!(v.positions[1].unrealized_pnl, Some(d("-49.5")));
}

#[test]
fn impossible_inputs_are_clear_errors() {
    let bad = |h: Holding| value(&paper("1", vec![h])).unwrap_err();
    let mut h = pos("A", PositionSide::Long, "-1", "1", Some("1"));
    assert!(matches!(
        bad(h.clone()),
        ValuationError::NegativeQuantity { .. }
    ));
    h.quantity = d("1");
    h.free = d("1");
    h.price = Some(Decimal::ZERO);
    assert_eq!(bad(h.clone()).to_string(), "A: price 0 is not positive");
    h.price = Some(d("1"));
    h.free = d("2");
    assert!(matches!(bad(h.clone()), ValuationError::BadFree { .. }));
    h.free = d("1");
    let dup = value(&paper("1", vec![h.clone(), h.clone()])).unwrap_err();
    assert_eq!(dup.to_string(), "A is held twice");
    let mut wrong = paper("1", vec![]);
    wrong.kind = AccountKind::BinanceSpot;
    assert!(matches!(
        value(&wrong),
        Err(ValuationError::WalletMismatch { .. })
    ));
}

#[test]
fn a_stored_valuation_reads_back_the_same() {
    let v = value(&paper(
        "9994",
        vec![
            pos("BTCUSDT", PositionSide::Long, "0.1", "40000", Some("38000")),
            pos("NOPEUSDT", PositionSide::Short, "3", "1.5", None),
        ],
    ))
    .unwrap();
    let text = serde_json::to_string(&v).unwrap();
    let back: Valuation = serde_json::from_str(&text).unwrap();
    assert_eq!(back, v);
}

// ---- property tests ----------------------------------------------------------------------

const NAMES: [&str; 5] = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT"];

/// A decimal `n / 10^scale`.
fn dec(n: i64, scale: u32) -> Decimal {
    Decimal::new(n, scale)
}

prop_compose! {
    /// One position: side, quantity, entry, and a price that moved 0.2x–3x from the entry
    /// (gains and losses), sometimes unknown.
    fn arb_position(long_only: bool)(
        short in any::<bool>(),
        qty in 1i64..5_000_000, qty_scale in 0u32..7,
        entry in 1i64..10_000_000, entry_scale in 0u32..5,
        move_pct in 20i64..300,
        priced in prop::bool::weighted(0.9),
    ) -> (PositionSide, Decimal, Decimal, Option<Decimal>) {
        let side = if short && !long_only { PositionSide::Short } else { PositionSide::Long };
        let e = dec(entry, entry_scale);
        let p = (e * dec(move_pct, 2)).round_dp(8).max(dec(1, 8));
        (side, dec(qty, qty_scale), e, priced.then_some(p))
    }
}

fn holdings_of(raw: Vec<(PositionSide, Decimal, Decimal, Option<Decimal>)>) -> Vec<Holding> {
    raw.into_iter()
        .zip(NAMES)
        .map(|((side, qty, entry, price), name)| Holding {
            symbol: sym(name),
            asset: None,
            side,
            quantity: qty,
            free: qty,
            entry_price: Some(entry),
            price,
            price_time: price.map(|_| 1),
            leverage: None,
            reported_pnl: None,
        })
        .collect()
}

prop_compose! {
    fn arb_paper()(
        balance in 0i64..2_000_000_000, fees in 0i64..1_000_000,
        raw in prop::collection::vec(arb_position(false), 0..5),
    ) -> ValuationInput {
        let mut i = paper("0", holdings_of(raw));
        i.wallet = Wallet::Paper { balance: dec(balance, 2) };
        i.fees_paid = dec(fees, 2);
        i
    }
}

prop_compose! {
    fn arb_spot()(
        quote_free in 0i64..2_000_000_000, quote_locked in 0i64..10_000_000,
        raw in prop::collection::vec(
            (1i64..5_000_000, 0u32..7, 0i64..3, 1i64..10_000_000, 0u32..5, prop::bool::weighted(0.9)),
            0..5),
    ) -> ValuationInput {
        let holdings = raw
            .into_iter()
            .zip(NAMES)
            .map(|((q, qs, locked_part, p, ps, priced), name)| {
                let quantity = dec(q, qs);
                let free = if locked_part == 0 { quantity / Decimal::TWO } else { quantity };
                Holding {
                    symbol: sym(name),
                    asset: Some(name.trim_end_matches("USDT").into()),
                    side: PositionSide::Long,
                    quantity,
                    free,
                    entry_price: None,
                    price: priced.then_some(dec(p, ps)),
                    price_time: Some(1),
                    leverage: None,
                    reported_pnl: None,
                }
            })
            .collect();
        ValuationInput {
            account_id: 2,
            kind: AccountKind::BinanceSpot,
            quote: "USDT".into(),
            as_of_ms: 1,
            source: Source::Exchange,
            wallet: Wallet::Spot {
                quote_free: dec(quote_free, 2),
                quote_locked: dec(quote_locked, 2),
            },
            holdings,
            fees_paid: Decimal::ZERO,
        }
    }
}

prop_compose! {
    fn arb_futures()(
        wallet in 0i64..2_000_000_000,
        raw in prop::collection::vec((arb_position(false), 1i64..50), 0..5),
        used_pct in 0i64..100,
    ) -> ValuationInput {
        let lev: Vec<Decimal> = raw.iter().map(|(_, l)| Decimal::from(*l)).collect();
        let mut holdings = holdings_of(raw.into_iter().map(|(p, _)| p).collect());
        let mut upnl = Decimal::ZERO;
        for (h, l) in holdings.iter_mut().zip(lev) {
            h.leverage = Some(l);
            h.reported_pnl = match (h.price, h.entry_price) {
                (Some(p), Some(e)) => Some(positions::unrealized(h.side, h.quantity, e, p)),
                _ => None,
            };
            upnl += h.reported_pnl.unwrap_or_default();
        }
        let wallet = dec(wallet, 2);
        let used = (wallet * dec(used_pct, 2)).round_dp(2);
        ValuationInput {
            account_id: 3,
            kind: AccountKind::BinanceFutures,
            quote: "USDT".into(),
            as_of_ms: 1,
            source: Source::Exchange,
            wallet: Wallet::Futures(FuturesTotals {
                wallet_balance: wallet,
                unrealized_pnl: upnl,
                margin_balance: wallet + upnl,
                margin_used: used,
                available: wallet + upnl - used,
            }),
            holdings,
            fees_paid: Decimal::ZERO,
        }
    }
}

fn f(x: Decimal) -> f64 {
    x.to_f64().unwrap_or(f64::NAN)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Straight from the definitions, written independently of `value`.
fn reference_equity(input: &ValuationInput) -> Decimal {
    match &input.wallet {
        Wallet::Paper { balance } => {
            *balance
                + input
                    .holdings
                    .iter()
                    .filter_map(|h| {
                        let (p, e) = (h.price?, h.entry_price?);
                        Some(match h.side {
                            PositionSide::Long => (p - e) * h.quantity,
                            PositionSide::Short => (e - p) * h.quantity,
                        })
                    })
                    .sum::<Decimal>()
        }
        Wallet::Spot {
            quote_free,
            quote_locked,
        } => {
            *quote_free
                + *quote_locked
                + input
                    .holdings
                    .iter()
                    .filter_map(|h| Some(h.quantity * h.price?))
                    .sum::<Decimal>()
        }
        Wallet::Futures(t) => t.wallet_balance + t.unrealized_pnl,
    }
}

/// What each job's core computation says the equity is, given one valuation.
fn every_job_agrees(v: &Valuation, input: &ValuationInput) -> Result<(), TestCaseError> {
    let q = v.quote.as_str();
    prop_assert_eq!(v.equity, reference_equity(input), "reference");
    prop_assert_eq!(v.cash + v.positions_value, v.equity, "cash + positions");
    if v.kind != AccountKind::BinanceFutures {
        prop_assert_eq!(
            v.balance + v.unrealized_pnl,
            v.equity,
            "balance + unrealized"
        );
    }
    if v.kind == AccountKind::Paper {
        prop_assert_eq!(v.margin_available, v.equity - v.margin_used);
        prop_assert_eq!(v.margin_used, v.gross_exposure, "leverage 1 at the marks");
    }
    // sync-account-balance: the snapshot it records.
    let snap = snapshot_of(v, 1, None, Decimal::ZERO, "initial_cash");
    prop_assert_eq!(snap.equity, v.equity, "sync-account-balance");
    prop_assert_eq!(snap.unrealized_pnl, v.unrealized_pnl);
    // update-positions and calculate-metrics print the valuation's summary.
    prop_assert_eq!(&v.summary_json()["equity"], &money(v.equity, q), "summary");
    // generate-report: its summary and its open positions.
    prop_assert_eq!(summary_of(&snap).equity, v.equity, "generate-report");
    if v.kind == AccountKind::Paper {
        let rows: Decimal = position_rows(v).iter().map(|r| r.unrealized_pnl).sum();
        prop_assert_eq!(rows, v.unrealized_pnl, "report rows");
    }
    // analyze-risk, every price fresh.
    let rp: Vec<RiskPosition> = v
        .positions
        .iter()
        .filter(|p| !(v.kind == AccountKind::BinanceSpot && p.price.is_none()))
        .map(|p| RiskPosition::from_marked(p, true))
        .collect();
    let r = risk::analyze(AccountFigures::of(v), &rp, &Default::default());
    prop_assert!(
        close(r.equity, f(v.equity)),
        "analyze-risk {} {}",
        r.equity,
        v.equity
    );
    let priced_gross: Decimal = v
        .positions
        .iter()
        .filter(|p| p.price.is_some())
        .map(|p| p.market_value.abs())
        .sum();
    prop_assert!(close(r.total_position_value, f(priced_gross)));
    if v.kind != AccountKind::BinanceFutures {
        let scale = f(v.gross_exposure).max(1.0);
        prop_assert!((r.unrealized_pnl - f(v.unrealized_pnl)).abs() <= 1e-9 * scale);
    }
    // optimize-portfolio: weights × equity add up to the positions' value.
    let w: f64 = v.weights().values().sum();
    if v.equity > Decimal::ZERO {
        prop_assert!(
            (w * f(v.equity) - f(v.positions_value)).abs() <= 1e-6 * f(v.gross_exposure).max(1.0)
        );
    }
    // rebalance-portfolio: its total is the equity, its fractions the positions' over it.
    if v.kind != AccountKind::BinanceFutures {
        let rules: BTreeMap<Symbol, SymbolInfo> = v
            .positions
            .iter()
            .map(|p| (p.symbol.clone(), paper_rules(&p.symbol, q)))
            .collect();
        let built = RebalanceInput::from_valuation(v, &BTreeMap::new(), &rules, &BTreeMap::new());
        let plan = plan_rebalance(&built.input).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(plan.total_value, v.equity, "rebalance-portfolio");
        prop_assert!(plan.orders.is_empty(), "no targets: nothing to do");
        if v.equity > Decimal::ZERO {
            for p in v
                .positions
                .iter()
                .filter(|p| p.price.is_some() && p.side == PositionSide::Long)
            {
                let want = (p.market_value / v.equity).round_dp(6);
                prop_assert_eq!(plan.before[&p.symbol], want, "fraction of {}", p.symbol);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn every_job_reports_the_same_paper_equity(input in arb_paper()) {
        let v = value(&input).unwrap();
        every_job_agrees(&v, &input)?;
    }

    #[test]
    fn every_job_reports_the_same_spot_equity(input in arb_spot()) {
        let v = value(&input).unwrap();
        every_job_agrees(&v, &input)?;
    }

    #[test]
    fn every_job_reports_the_same_futures_equity(input in arb_futures()) {
        let v = value(&input).unwrap();
        every_job_agrees(&v, &input)?;
    }
}

// ---- a band-0 rebalance reaches its targets ----------------------------------------------

/// Exchange rules with a lot step and a minimum notional (no other limit in the way).
fn info(symbol: &Symbol, step: Decimal, min_notional: Decimal) -> SymbolInfo {
    SymbolInfo {
        symbol: symbol.clone(),
        status: "TRADING".into(),
        base_asset: symbol.0.trim_end_matches("USDT").into(),
        quote_asset: "USDT".into(),
        price_filter: None,
        lot_size: Some(LotSize {
            min_qty: step,
            max_qty: Decimal::from(1_000_000_000_000_000i64),
            step_size: step,
        }),
        market_lot_size: None,
        min_notional: Some(min_notional),
        max_notional: None,
    }
}

/// A LONG-only account as the paper exchange keeps it (wallet, positions at entry), or a
/// spot account (free balances).
#[derive(Debug, Clone)]
struct Book {
    kind: AccountKind,
    /// Paper: the wallet; spot: the free quote.
    cash: Decimal,
    /// symbol → (quantity, entry or 0 for spot, price)
    held: BTreeMap<Symbol, (Decimal, Decimal, Decimal)>,
}

impl Book {
    fn input(&self) -> ValuationInput {
        let holdings = self
            .held
            .iter()
            .map(|(s, (q, e, p))| Holding {
                symbol: s.clone(),
                asset: Some(s.0.trim_end_matches("USDT").into()),
                side: PositionSide::Long,
                quantity: *q,
                free: *q,
                entry_price: (self.kind == AccountKind::Paper).then_some(*e),
                price: Some(*p),
                price_time: Some(1),
                leverage: None,
                reported_pnl: None,
            })
            .collect();
        ValuationInput {
            account_id: 1,
            kind: self.kind,
            quote: "USDT".into(),
            as_of_ms: 1,
            source: Source::Store,
            wallet: match self.kind {
                AccountKind::Paper => Wallet::Paper { balance: self.cash },
                _ => Wallet::Spot {
                    quote_free: self.cash,
                    quote_locked: Decimal::ZERO,
                },
            },
            holdings,
            fees_paid: Decimal::ZERO,
        }
    }

    /// Fill one order as the paper exchange (realized PnL and fee into the wallet) or a spot
    /// account (notional and fee out of the free quote) would, at the planned price.
    fn fill(
        &mut self,
        symbol: &Symbol,
        side: Side,
        qty: Decimal,
        price: Decimal,
        fee_rate: Decimal,
    ) {
        let fee = qty * price * fee_rate;
        let (q, e, p) =
            self.held
                .get(symbol)
                .copied()
                .unwrap_or((Decimal::ZERO, Decimal::ZERO, price));
        let paper = self.kind == AccountKind::Paper;
        match side {
            Side::Sell => {
                self.cash += if paper {
                    (price - e) * qty
                } else {
                    qty * price
                } - fee;
                self.held.insert(symbol.clone(), (q - qty, e, p));
            }
            Side::Buy => {
                self.cash -= if paper { Decimal::ZERO } else { qty * price } + fee;
                let nq = q + qty;
                let ne = if paper {
                    (q * e + qty * price) / nq
                } else {
                    Decimal::ZERO
                };
                self.held.insert(symbol.clone(), (nq, ne, p));
            }
        }
    }
}

prop_compose! {
    fn arb_book(kind: AccountKind)(
        cash in 0i64..2_000_000_000,
        raw in prop::collection::vec((arb_position(true), 0usize..5, 0usize..4, 0i64..100), 1..5),
        fee in 0usize..4,
        slippage_bps in prop_oneof![Just(0i64), 1i64..100],
        invested_pct in 50i64..=100,
    ) -> (Book, BTreeMap<Symbol, (Decimal, Decimal)>, BTreeMap<Symbol, Decimal>, (Decimal, Decimal)) {
        let steps = ["1", "0.1", "0.001", "0.00001", "0.00000001"];
        let mins = ["0", "1", "5", "10"];
        let mut held = BTreeMap::new();
        let mut rules = BTreeMap::new();
        let mut weights = Vec::new();
        let mut wallet = dec(cash, 2);
        for (((_, qty, entry, price), step, min, w), name) in raw.into_iter().zip(NAMES) {
            let s = sym(name);
            let price = price.unwrap_or(entry);
            let step = d(steps[step]);
            let qty = (qty / step).floor() * step;
            // Paper: the wallet paid the entry notional out of its cash (never below 0).
            if kind == AccountKind::Paper {
                wallet += qty * entry;
            }
            held.insert(s.clone(), (qty, if kind == AccountKind::Paper { entry } else { Decimal::ZERO }, price));
            rules.insert(s.clone(), (step, d(mins[min])));
            weights.push((s, Decimal::from(w)));
        }
        let sum: Decimal = weights.iter().map(|w| w.1).sum();
        let invested = dec(invested_pct, 2);
        let targets = weights
            .into_iter()
            .map(|(s, w)| {
                let t = if sum.is_zero() { Decimal::ZERO } else { (w / sum * invested).round_dp_with_strategy(4, rust_decimal::RoundingStrategy::ToZero) };
                (s, t)
            })
            .collect();
        let fee_rate = d(["0", "0.001", "0.00075", "0.01"][fee]);
        // Slippage is a paper account's setting; spot market orders are sized at the ticker.
        let slippage = if kind == AccountKind::Paper { dec(slippage_bps, 4) } else { Decimal::ZERO };
        (Book { kind, cash: wallet, held }, rules, targets, (fee_rate, slippage))
    }
}

fn reaches_its_targets(
    mut book: Book,
    rules: BTreeMap<Symbol, (Decimal, Decimal)>,
    targets: BTreeMap<Symbol, Decimal>,
    (fee_rate, slippage): (Decimal, Decimal),
) -> Result<(), TestCaseError> {
    let v = value(&book.input()).unwrap();
    prop_assume!(v.equity > Decimal::ONE);
    let infos: BTreeMap<Symbol, SymbolInfo> = rules
        .iter()
        .map(|(s, (step, min))| (s.clone(), info(s, *step, *min)))
        .collect();
    let built = RebalanceInput::from_valuation(&v, &targets, &infos, &BTreeMap::new());
    prop_assert!(built.left_out.is_empty() && built.dropped.is_empty());
    let mut input = built.input;
    input.band = Decimal::ZERO;
    input.fee_rate = fee_rate;
    input.slippage = slippage;
    input.max_order_notional = Decimal::from(i64::MAX);
    input.max_run_notional = Decimal::from(i64::MAX);
    let plan = plan_rebalance(&input).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(plan.total_value, v.equity);
    // What trading costs: fees, and the fill prices' distance from the marks (slippage).
    let mut fees = Decimal::ZERO;
    for o in &plan.orders {
        prop_assert_eq!(o.last_price, book.held[&o.symbol].2);
        book.fill(&o.symbol, o.side, o.quantity, o.est_price, fee_rate);
        fees += o.notional * fee_rate + o.quantity * (o.est_price - o.last_price).abs();
        // The paper exchange accepts each order: no margin is overdrawn (spot: no cash).
        let now = value(&book.input()).unwrap();
        prop_assert!(
            now.cash_free >= Decimal::ZERO && now.margin_available >= Decimal::ZERO,
            "{:?} overdraws: {} {}",
            o,
            now.margin_available,
            now.cash
        );
    }
    let after = value(&book.input()).unwrap();
    // Only the costs leave the account (the paper entry's weighted average rounds in the
    // 28th digit).
    prop_assert!(
        (after.equity - (v.equity - fees)).abs() <= v.equity * dec(1, 20),
        "equity {} after, {} before, fees {fees}",
        after.equity,
        v.equity
    );
    // Each order is rounded down to its step or skipped below its minimum notional; what a
    // sell could not free (less than one step or one minimum notional of each symbol) and the
    // fees are missing from the last buy.
    let granularity: Decimal = rules
        .iter()
        .map(|(s, (step, min))| (*step * book.held[s].2).max(*min))
        .sum();
    for (s, target) in &targets {
        let (q, _, price) = book.held[s];
        let w = q * price / after.equity;
        let tol = (granularity + fees) / after.equity;
        prop_assert!(
            (w - target).abs() <= tol,
            "{s}: weight {w} vs target {target} (tolerance {tol}); plan {:?}",
            plan
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn a_band_0_paper_rebalance_reaches_every_target((book, rules, targets, fee) in arb_book(AccountKind::Paper)) {
        reaches_its_targets(book, rules, targets, fee)?;
    }

    #[test]
    fn a_band_0_spot_rebalance_reaches_every_target((book, rules, targets, fee) in arb_book(AccountKind::BinanceSpot)) {
        reaches_its_targets(book, rules, targets, fee)?;
    }
}
