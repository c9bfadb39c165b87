//! Store and sync benchmarks: bulk candle upsert (SQLite, and Postgres when
//! FKS_TEST_DATABASE_URL is set) and a 20-symbol sync from a loopback exchange with 20 ms
//! latency per request. Figures in benches/README.md.

// Benchmark code: unwrap is how a bench says "this must work" (Cargo.toml [lints]).
#![allow(clippy::unwrap_used)]

use fks::core::demo_data::{Model, generate};
use fks::core::exchange::Market;
use fks::core::exchange::binance::{BinanceClient, BinanceConfig};
use fks::core::fake_binance::{FakeBinance, Series};
use fks::core::market::{Symbol, Timeframe};
use fks::core::store::{Store, StoreUrl, candles};
use fks::core::sync::{KlineSource, SyncRequest, sync_symbol};
use futures_util::StreamExt;
use std::time::Duration;

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    divan::main();
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn model() -> Model {
    Model {
        start_price: 40_000.0,
        annual_vol: 0.6,
        decimals: 2,
        base_volume: 100.0,
    }
}

const N: usize = 100_000;

#[divan::bench(sample_count = 5)]
fn sqlite_upsert_100k_candles(b: divan::Bencher) {
    let data = generate(1, &model(), Timeframe::M1, 1_600_000_000_000, N);
    let rt = rt();
    b.counter(divan::counter::ItemsCount::new(N))
        .with_inputs(|| {
            let dir = tempfile::tempdir().unwrap();
            let store = rt
                .block_on(Store::open(
                    &StoreUrl::Sqlite(dir.path().join("b.db")),
                    Duration::from_secs(5),
                ))
                .unwrap();
            (dir, store)
        })
        .bench_local_values(|(_dir, store)| {
            rt.block_on(async {
                let tx = store.begin().await.unwrap();
                candles::upsert(&tx, &Symbol("BTCUSDT".into()), Timeframe::M1, &data)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            })
        });
}

#[divan::bench(sample_count = 3)]
fn postgres_upsert_100k_candles(b: divan::Bencher) {
    let Ok(url) = std::env::var("FKS_TEST_DATABASE_URL") else {
        eprintln!("FKS_TEST_DATABASE_URL unset: skipping the Postgres bench");
        return;
    };
    let data = generate(1, &model(), Timeframe::M1, 1_600_000_000_000, N);
    let rt = rt();
    let store = rt
        .block_on(Store::open(
            &StoreUrl::Postgres(url),
            Duration::from_secs(5),
        ))
        .unwrap();
    let mut i = 0u32;
    b.counter(divan::counter::ItemsCount::new(N))
        .bench_local(|| {
            i += 1;
            let sym = Symbol(format!("BENCH{}X{}", std::process::id(), i));
            rt.block_on(async {
                let tx = store.begin().await.unwrap();
                candles::upsert(&tx, &sym, Timeframe::M1, &data)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            })
        });
    rt.block_on(store.exec("DELETE FROM candles WHERE symbol LIKE 'BENCH%'", &[]))
        .unwrap();
}

struct Src(BinanceClient);
impl KlineSource for Src {
    fn max_limit(&self) -> usize {
        1000
    }
    async fn page(
        &self,
        s: &Symbol,
        tf: Timeframe,
        a: i64,
        e: i64,
        l: usize,
    ) -> anyhow::Result<Vec<fks::core::candle_check::SourcedCandle>> {
        Ok(self
            .0
            .klines(s, tf, Some(a), Some(e), l as u32)
            .await?
            .iter()
            .map(|k| fks::core::candle_check::SourcedCandle {
                candle: k.candle(),
                close_time: Some(k.close_time),
            })
            .collect())
    }
}

/// 20 symbols x 1 year of 1h candles (175,200 candles, 180 requests) with 20 ms per request.
#[divan::bench(sample_count = 3)]
fn sync_20_symbols_1y_1h_20ms_latency(b: divan::Bencher) {
    let tf = Timeframe::H1;
    let n = 8760;
    let start = 1_700_000_000_000 - 1_700_000_000_000 % tf.millis();
    let now = start + n as i64 * tf.millis() + 1;
    let syms: Vec<Symbol> = (0..20).map(|i| Symbol(format!("S{i}USDT"))).collect();
    let mut series = Series::new();
    for (i, s) in syms.iter().enumerate() {
        series.insert(
            (s.0.clone(), "1h".into()),
            generate(i as u64, &model(), tf, start, n),
        );
    }
    let rt = rt();
    let server = rt
        .block_on(FakeBinance::start_with_latency(
            series,
            Duration::from_millis(20),
        ))
        .unwrap();
    b.counter(divan::counter::ItemsCount::new(20 * n))
        .with_inputs(|| {
            let dir = tempfile::tempdir().unwrap();
            let store = rt
                .block_on(Store::open(
                    &StoreUrl::Sqlite(dir.path().join("b.db")),
                    Duration::from_secs(5),
                ))
                .unwrap();
            (dir, store)
        })
        .bench_local_values(|(_dir, store)| {
            rt.block_on(async {
                let mut cfg = BinanceConfig::new(Market::Spot).with_base_url(&server.base_url);
                cfg.max_parallel = 8;
                let src = Src(BinanceClient::new(cfg).unwrap());
                let results: Vec<_> = futures_util::stream::iter(syms.iter().cloned())
                    .map(|s| {
                        let (store, src) = (&store, &src);
                        async move {
                            let req = SyncRequest {
                                symbol: s,
                                timeframe: tf,
                                limit: 500,
                                since: Some(start),
                            };
                            sync_symbol(store, src, &req, now, |_| {})
                                .await
                                .unwrap()
                                .inserted
                        }
                    })
                    .buffer_unordered(8)
                    .collect()
                    .await;
                assert_eq!(results.iter().sum::<u64>(), (20 * n) as u64);
            })
        });
}
