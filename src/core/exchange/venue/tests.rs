//! A test double implementing the venue traits, driven through the code every venue goes
//! through: the rules cache, the kline pager and the order journal.

use super::*;
use crate::core::accounts::{self, NewAccount};
use crate::core::exchange::{Fill, OrderStatus, SymbolInfo};
use crate::core::market::Candle;
use crate::core::store::StoreUrl;
use futures_util::FutureExt;
use std::cell::{Cell, RefCell};

/// A second "exchange" in memory: every call counted, orders kept by client id.
#[derive(Default)]
struct Double {
    rules_calls: Cell<u32>,
    kline_calls: Cell<u32>,
    placed: RefCell<Vec<VenueOrder>>,
    /// The answer to the next placement is lost (the order still reaches the book).
    lose_next_answer: Cell<bool>,
    book: RefCell<BTreeMap<String, OrderReport>>,
}

const HOUR: i64 = 3_600_000;
/// 2024-01-01T00:00Z.
const T0: i64 = 1_704_067_200_000;

fn d(s: &str) -> Decimal {
    s.parse().expect("test decimal")
}

impl MarketData for Double {
    fn rules_key(&self) -> String {
        "double".into()
    }
    fn klines_page_size(&self) -> usize {
        3
    }
    fn klines<'a>(
        &'a self,
        _symbol: &'a Symbol,
        tf: Timeframe,
        start_ms: i64,
        end_ms: i64,
        limit: usize,
    ) -> VenueResult<'a, Vec<SourcedCandle>> {
        self.kline_calls.set(self.kline_calls.get() + 1);
        let step = tf.millis();
        let first = (start_ms + step - 1).div_euclid(step) * step;
        let rows = (0..)
            .map(|i| first + i * step)
            .take_while(|t| *t <= end_ms)
            .take(limit)
            .map(|t| SourcedCandle {
                candle: Candle {
                    open_time: t,
                    open: d("100"),
                    high: d("110"),
                    low: d("90"),
                    close: d("105"),
                    volume: d("1"),
                },
                close_time: Some(t + step - 1),
            })
            .collect();
        async move { Ok(rows) }.boxed_local()
    }
    fn ticker_prices<'a>(
        &'a self,
        symbols: &'a [Symbol],
    ) -> VenueResult<'a, BTreeMap<Symbol, Decimal>> {
        let m = symbols.iter().map(|s| (s.clone(), d("105"))).collect();
        async move { Ok(m) }.boxed_local()
    }
    fn server_time(&self) -> VenueResult<'_, i64> {
        async { Ok(T0 + 10 * HOUR) }.boxed_local()
    }
    fn exchange_rules<'a>(&'a self, symbols: &'a [Symbol]) -> VenueResult<'a, ExchangeInfo> {
        self.rules_calls.set(self.rules_calls.get() + 1);
        let info = ExchangeInfo {
            server_time: T0 + 10 * HOUR,
            weight_limit_per_minute: None,
            symbols: symbols
                .iter()
                .map(|s| SymbolInfo {
                    status: "TRADING".into(),
                    ..crate::core::rules_cache::paper_rules(s, "USDT")
                })
                .collect(),
        };
        async move { Ok(info) }.boxed_local()
    }
}

impl AccountState for Double {
    fn balances(&self) -> VenueResult<'_, Vec<Balance>> {
        async {
            Ok(vec![Balance {
                asset: "USDT".into(),
                free: d("1000"),
                locked: Decimal::ZERO,
            }])
        }
        .boxed_local()
    }
    fn positions<'a>(
        &'a self,
        _symbol: Option<&'a Symbol>,
    ) -> VenueResult<'a, Vec<FuturesPosition>> {
        async { Ok(Vec::new()) }.boxed_local()
    }
}

impl Orders for Double {
    fn place_market<'a>(&'a self, o: &'a VenueOrder) -> VenueResult<'a, OrderReport> {
        self.placed.borrow_mut().push(o.clone());
        let rep = OrderReport {
            symbol: o.symbol.clone(),
            order_id: self.placed.borrow().len() as i64,
            client_order_id: o.client_order_id.clone(),
            status: OrderStatus::Filled,
            side: o.side,
            order_type: "MARKET".into(),
            orig_qty: o.quantity,
            executed_qty: o.quantity,
            cumulative_quote_qty: o.quantity * d("105"),
            avg_price: Some(d("105")),
            reduce_only: o.reduce_only,
            time: Some(T0 + 10 * HOUR),
            created_time: Some(T0 + 10 * HOUR),
            fills: vec![Fill {
                price: d("105"),
                qty: o.quantity,
                commission: d("0.01"),
                commission_asset: "USDT".into(),
                trade_id: Some(1),
            }],
        };
        self.book
            .borrow_mut()
            .insert(o.client_order_id.clone(), rep.clone());
        let lost = self.lose_next_answer.replace(false);
        async move {
            if lost {
                Err(ExchangeError::OutcomeUnknown {
                    endpoint: "/order",
                    detail: "connection reset".into(),
                    signed_at_ms: None,
                })
            } else {
                Ok(rep)
            }
        }
        .boxed_local()
    }
    fn order_by_client_id<'a>(
        &'a self,
        _symbol: &'a Symbol,
        client_order_id: &'a str,
    ) -> VenueResult<'a, Option<OrderReport>> {
        let r = self.book.borrow().get(client_order_id).cloned();
        async move { Ok(r) }.boxed_local()
    }
    fn cancel_by_client_id<'a>(
        &'a self,
        _symbol: &'a Symbol,
        client_order_id: &'a str,
    ) -> VenueResult<'a, OrderReport> {
        let r = self.book.borrow().get(client_order_id).cloned();
        async move { r.ok_or_else(|| ExchangeError::Venue("unknown order".into())) }.boxed_local()
    }
    fn order_trades<'a>(
        &'a self,
        _symbol: &'a Symbol,
        _order_id: i64,
    ) -> VenueResult<'a, Vec<Trade>> {
        async { Ok(Vec::new()) }.boxed_local()
    }
    fn remote(&self) -> Option<&dyn RemoteClock> {
        Some(self)
    }
}

impl RemoteClock for Double {
    fn measure_clock_once(&self) -> LocalBoxFuture<'_, Result<(), ExchangeError>> {
        async { Ok(()) }.boxed_local()
    }
    fn server_now_ms(&self) -> i64 {
        T0 + 10 * HOUR
    }
    fn clock_offset_ms(&self) -> i64 {
        0
    }
    fn recv_window_ms(&self) -> i64 {
        5_000
    }
    fn in_flight_ms(&self) -> i64 {
        60_000
    }
}

impl Venue for Double {
    fn profile(&self) -> Profile {
        Profile {
            simulated: false,
            exchange_positions: false,
            spot_balances: true,
            reduce_only_closes: false,
            rebalances: true,
            market: None,
            noun: "double",
        }
    }
    fn value_now<'a>(
        &'a self,
        _store: &'a Store,
        _acct: &'a Account,
        _extra: &'a [Symbol],
        _as_of: i64,
    ) -> LocalBoxFuture<'a, anyhow::Result<(Valuation, BTreeMap<Symbol, Decimal>)>> {
        async { anyhow::bail!("not valued in this test") }.boxed_local()
    }
    fn marks<'a>(
        &'a self,
        symbols: &'a [Symbol],
        now: i64,
    ) -> LocalBoxFuture<'a, anyhow::Result<BTreeMap<Symbol, (Decimal, i64)>>> {
        let m = symbols
            .iter()
            .map(|s| (s.clone(), (d("105"), now)))
            .collect();
        async move { Ok(m) }.boxed_local()
    }
}

async fn store(dir: &tempfile::TempDir) -> Store {
    let url = StoreUrl::parse(&dir.path().join("t.db").display().to_string()).unwrap();
    Store::open(&url, std::time::Duration::from_secs(5))
        .await
        .unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_second_exchange_is_one_trait_impl_away() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let double = Double::default();
        let venue: &dyn Venue = &double;
        let sym = Symbol("BTCUSDT".into());

        // Trading rules: asked once, then served from the cache under the venue's key.
        let now = T0 + 10 * HOUR;
        let r = crate::core::rules_cache::rules(&store, venue, std::slice::from_ref(&sym), now)
            .await
            .unwrap();
        assert!(r.contains_key(&sym));
        crate::core::rules_cache::rules(&store, venue, std::slice::from_ref(&sym), now)
            .await
            .unwrap();
        assert_eq!(
            double.rules_calls.get(),
            1,
            "the second read comes from the cache"
        );

        // Klines paged into the store through the adapter, in pages of three.
        let req = crate::core::sync::SyncRequest {
            symbol: sym.clone(),
            timeframe: Timeframe::H1,
            limit: 7,
            since: None,
        };
        let res = crate::core::sync::sync_symbol(&store, &KlinePages(venue), &req, now, |_| {})
            .await
            .unwrap();
        assert_eq!(res.inserted, 7, "{res:?}");
        assert!(double.kline_calls.get() >= 3, "paged in pages of three");
        let stored = crate::core::store::candles::range(&store, &sym, Timeframe::H1, None, None)
            .await
            .unwrap();
        assert_eq!(stored.len(), 7);
        assert_eq!(
            stored.last().unwrap().open_time,
            T0 + 9 * HOUR,
            "only closed candles"
        );

        // Orders through the journal: placed once, the fill booked from the venue's report.
        let acct = accounts::add(
            &store,
            &NewAccount {
                name: "D".into(),
                kind: crate::core::accounts::AccountKind::BinanceSpot,
                quote: "USDT".into(),
                cash: Decimal::ZERO,
                baseline: None,
                fee_rate: Decimal::ZERO,
                slippage_bps: Decimal::ZERO,
                api_key_env: None,
                api_secret_env: None,
            },
            0,
        )
        .await
        .unwrap();
        let new = crate::core::orders::NewOrder {
            account_id: acct.id,
            run_id: None,
            symbol: &sym,
            side: Side::Buy,
            quantity: d("0.5"),
            reason: "test",
            now_ms: now,
            position_id: None,
        };
        let rec = crate::core::orders::journal(&store, venue, &new)
            .await
            .unwrap();
        let done = crate::core::orders::execute(&store, &acct, venue, &rec, None, now)
            .await
            .unwrap();
        assert!(done.is_filled(), "{done:?}");
        assert_eq!(done.avg_price, Some(d("105")));

        // A lost answer is resolved by client id, never sent again.
        double.lose_next_answer.set(true);
        let rec = crate::core::orders::journal(&store, venue, &new)
            .await
            .unwrap();
        let done = crate::core::orders::execute(&store, &acct, venue, &rec, None, now)
            .await
            .unwrap();
        assert!(done.is_filled(), "{done:?}");
        assert_eq!(
            double.placed.borrow().len(),
            2,
            "each order sent exactly once"
        );
        let again = crate::core::orders::execute(&store, &acct, venue, &done, None, now)
            .await
            .unwrap();
        assert!(again.is_filled());
        assert_eq!(
            double.placed.borrow().len(),
            2,
            "a booked order is never resent"
        );
        let fills = store
            .query_one(
                "SELECT COUNT(*) FROM fills WHERE account_id = ?",
                crate::vals![acct.id],
            )
            .await
            .unwrap()
            .int(0)
            .unwrap();
        assert_eq!(fills, 2);
    });
}

#[test]
fn every_account_kind_has_a_profile_and_the_factory_builds_paper_without_a_client() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let acct = accounts::add(
            &store,
            &NewAccount {
                name: "P".into(),
                kind: crate::core::accounts::AccountKind::Paper,
                quote: "USDT".into(),
                cash: d("1000"),
                baseline: None,
                fee_rate: Decimal::ZERO,
                slippage_bps: Decimal::ZERO,
                api_key_env: None,
                api_secret_env: None,
            },
            0,
        )
        .await
        .unwrap();
        let v = for_account(&store, &acct, T0, |_| {
            anyhow::bail!("a paper account needs no exchange client")
        })
        .unwrap();
        assert!(v.profile().simulated);
        assert!(v.remote().is_none());
        let b = v.balances().await.unwrap();
        assert_eq!(b[0].free, d("1000"));
        assert_eq!(v.rules_key(), "paper");
        assert!(profile(crate::core::accounts::AccountKind::BinanceFutures).reduce_only_closes);
        assert!(!profile(crate::core::accounts::AccountKind::BinanceFutures).rebalances);
        assert!(profile(crate::core::accounts::AccountKind::BinanceSpot).spot_balances);
    });
}
