//! A tiny Binance spot klines server on 127.0.0.1, serving generated candles in Binance's
//! exact wire format. `fks demo` syncs from it, so the demo runs the real sync code offline.

use crate::core::market::{Candle, Timeframe};
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Series per (symbol, interval).
pub type Series = HashMap<(String, String), Vec<Candle>>;

pub struct FakeBinance {
    pub base_url: String,
    /// An RSS feed served at `/news.xml` (the demo's offline news source).
    pub feed_url: String,
    /// Requests answered so far.
    pub requests: Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeBinance {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("%2C", ",")))
        .collect()
}

fn klines_body(series: &Series, q: &HashMap<String, String>) -> (u16, String) {
    let (Some(sym), Some(iv)) = (q.get("symbol"), q.get("interval")) else {
        return (400, r#"{"code":-1102,"msg":"Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."}"#.into());
    };
    let Ok(tf) = iv.parse::<Timeframe>() else {
        return (400, r#"{"code":-1120,"msg":"Invalid interval."}"#.into());
    };
    let Some(data) = series.get(&(sym.clone(), iv.clone())) else {
        return (400, r#"{"code":-1121,"msg":"Invalid symbol."}"#.into());
    };
    let start: i64 = q
        .get("startTime")
        .and_then(|v| v.parse().ok())
        .unwrap_or(i64::MIN);
    let end: i64 = q
        .get("endTime")
        .and_then(|v| v.parse().ok())
        .unwrap_or(i64::MAX);
    let limit: usize = q
        .get("limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(500)
        .min(1000);
    let rows: Vec<String> = data
        .iter()
        .filter(|c| c.open_time >= start && c.open_time <= end)
        .take(limit)
        .map(|c| kline_row(c, tf))
        .collect();
    (200, format!("[{}]", rows.join(",")))
}

/// One candle as a Binance kline row: `[openTime, "open", "high", "low", "close", "volume",
/// closeTime, "quoteAssetVolume", trades, "takerBuyBase", "takerBuyQuote", "ignore"]`.
pub fn kline_row(c: &Candle, tf: Timeframe) -> String {
    format!(
        "[{},\"{}\",\"{}\",\"{}\",\"{}\",\"{}\",{},\"0.00000000\",0,\"0.00000000\",\"0.00000000\",\"0\"]",
        c.open_time,
        c.open,
        c.high,
        c.low,
        c.close,
        c.volume,
        c.open_time + tf.millis() - 1
    )
}

impl FakeBinance {
    pub async fn start(series: Series) -> Result<FakeBinance> {
        Self::start_with_latency(series, std::time::Duration::ZERO).await
    }

    /// Like `start`, adding `latency` before each answer (to model a remote exchange).
    pub async fn start_with_latency(
        series: Series,
        latency: std::time::Duration,
    ) -> Result<FakeBinance> {
        Self::start_full(series, latency, String::new()).await
    }

    /// Also serve `feed` (an RSS document) at `/news.xml`.
    pub async fn start_full(
        series: Series,
        latency: std::time::Duration,
        feed: String,
    ) -> Result<FakeBinance> {
        let feed = Arc::new(feed);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("bind the demo's loopback exchange")?;
        let addr = listener.local_addr()?;
        let series = Arc::new(series);
        let requests = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let series = series.clone();
                let counter = counter.clone();
                let feed = feed.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut tmp = [0u8; 4096];
                    loop {
                        let Ok(n) = sock.read(&mut tmp).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&tmp[..n]);
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_string();
                            buf.drain(..end + 4);
                            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            if !latency.is_zero() {
                                tokio::time::sleep(latency).await;
                            }
                            let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                            let (path, q) = target.split_once('?').unwrap_or((&target, ""));
                            let (code, body) = match path {
                                "/api/v3/klines" => klines_body(&series, &query(q)),
                                "/api/v3/time" => (
                                    200,
                                    format!(
                                        "{{\"serverTime\":{}}}",
                                        crate::core::exchange::binance::bans::wall_now_ms()
                                    ),
                                ),
                                "/api/v3/ping" => (200, "{}".into()),
                                "/news.xml" if !feed.is_empty() => (200, feed.to_string()),
                                _ => (
                                    404,
                                    r#"{"code":-1,"msg":"not served by the demo exchange"}"#.into(),
                                ),
                            };
                            let resp = format!(
                                "HTTP/1.1 {code} X\r\ncontent-type: application/json;charset=UTF-8\r\nx-mbx-used-weight-1m: 2\r\ncontent-length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            if sock.write_all(resp.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        Ok(FakeBinance {
            base_url: format!("http://{addr}"),
            feed_url: format!("http://{addr}/news.xml"),
            requests,
            task,
        })
    }
}
