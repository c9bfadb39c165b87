//! A Binance fake on 127.0.0.1 (wiremock) answering klines in the exact wire format:
//! heterogeneous arrays with integer times and 8-decimal strings, `x-mbx-used-weight-1m`,
//! and Binance error bodies.

use std::sync::{Arc, Mutex};
use wiremock::{Request, Respond, ResponseTemplate};

#[derive(Debug, Clone)]
pub struct Kline {
    pub open_time: i64,
    pub open: String,
    pub high: String,
    pub low: String,
    pub close: String,
    pub volume: String,
}

/// A deterministic series of `n` candles from `start` with step `step`.
pub fn series(start: i64, step: i64, n: usize, base: f64) -> Vec<Kline> {
    (0..n)
        .map(|i| {
            let p = base + (i as f64 * 0.37).sin() * base * 0.01 + i as f64 * 0.01;
            Kline {
                open_time: start + i as i64 * step,
                open: format!("{:.8}", p),
                high: format!("{:.8}", p * 1.002),
                low: format!("{:.8}", p * 0.998),
                close: format!("{:.8}", p * 1.001),
                volume: format!("{:.8}", 10.0 + i as f64),
            }
        })
        .collect()
}

/// Serves `/api/v3/klines` from a fixed series, honouring startTime, endTime and limit.
#[derive(Clone)]
pub struct KlinesResponder {
    pub data: Arc<Mutex<Vec<Kline>>>,
    pub step: i64,
    pub max_limit: usize,
    pub weight: Arc<Mutex<u32>>,
    pub delay: std::time::Duration,
}

impl KlinesResponder {
    pub fn new(data: Vec<Kline>, step: i64) -> Self {
        KlinesResponder {
            data: Arc::new(Mutex::new(data)),
            step,
            max_limit: 1000,
            weight: Arc::new(Mutex::new(0)),
            delay: std::time::Duration::ZERO,
        }
    }
}

fn q(req: &Request, name: &str) -> Option<String> {
    req.url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.to_string())
}

impl Respond for KlinesResponder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let limit: usize = q(req, "limit").and_then(|v| v.parse().ok()).unwrap_or(500);
        if limit > self.max_limit {
            return ResponseTemplate::new(400).set_body_raw(
                r#"{"code":-1130,"msg":"Data sent for parameter 'limit' is not valid."}"#,
                "application/json",
            );
        }
        let start: i64 = q(req, "startTime")
            .and_then(|v| v.parse().ok())
            .unwrap_or(i64::MIN);
        let end: i64 = q(req, "endTime")
            .and_then(|v| v.parse().ok())
            .unwrap_or(i64::MAX);
        let data = self.data.lock().unwrap();
        let rows: Vec<String> = data
            .iter()
            .filter(|k| k.open_time >= start && k.open_time <= end)
            .take(limit)
            .map(|k| {
                format!(
                    "[{},\"{}\",\"{}\",\"{}\",\"{}\",\"{}\",{},\"{}\",{},\"{}\",\"{}\",\"0\"]",
                    k.open_time,
                    k.open,
                    k.high,
                    k.low,
                    k.close,
                    k.volume,
                    k.open_time + self.step - 1,
                    "1000.00000000",
                    42,
                    "5.00000000",
                    "500.00000000"
                )
            })
            .collect();
        let mut w = self.weight.lock().unwrap();
        *w += 2;
        ResponseTemplate::new(200)
            .insert_header("x-mbx-used-weight", w.to_string().as_str())
            .insert_header("x-mbx-used-weight-1m", w.to_string().as_str())
            .set_body_raw(
                format!("[{}]", rows.join(",")),
                "application/json;charset=UTF-8",
            )
            .set_delay(self.delay)
    }
}

pub const INVALID_SYMBOL: &str = r#"{"code":-1121,"msg":"Invalid symbol."}"#;
pub const TOO_MUCH_WEIGHT: &str = r#"{"code":-1003,"msg":"Too much request weight used; current limit is 6000 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API."}"#;
