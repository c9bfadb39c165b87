//! Public market data: klines (one page, paginated pages, the last closed candles), ticker
//! prices and exchange info. Paths and weights per market are in `requests.rs`.

use super::client::BinanceClient;
use super::error::ExchangeError;
use super::requests;
use super::wire::{ExchangeInfoW, KlineRow, OneOrMany, TickerPriceW};
use crate::core::exchange::{ExchangeInfo, Market};
use crate::core::market::{Candle, Symbol, Timeframe};
use futures_util::{Stream, StreamExt};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// One kline row exactly as Binance sends it (all twelve columns but "ignore").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kline {
    pub open_time: i64,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub volume: Decimal,
    /// `open_time + interval − 1`
    pub close_time: i64,
    pub quote_volume: Decimal,
    pub trades: u64,
    pub taker_buy_base: Decimal,
    pub taker_buy_quote: Decimal,
}

impl Kline {
    pub fn candle(&self) -> Candle {
        Candle {
            open_time: self.open_time,
            open: self.open,
            high: self.high,
            low: self.low,
            close: self.close,
            volume: self.volume,
        }
    }

    /// The candle has closed at `now_ms` (its close time is not in the future).
    pub fn is_closed(&self, now_ms: i64) -> bool {
        self.close_time <= now_ms
    }
}

impl BinanceClient {
    /// Rows per klines request when paginating (the market's maximum unless configured lower).
    pub fn klines_page_size(&self) -> u32 {
        let max = requests::klines_max(self.market());
        self.config()
            .klines_page_size
            .map_or(max, |n| n.clamp(1, max))
    }

    /// One klines request (`GET /api/v3/klines` or `/fapi/v1/klines`), rows as sent, including
    /// a still-open last candle if the window reaches now. `limit` must be 1..=max (1000 spot,
    /// 1500 futures).
    pub async fn klines(
        &self,
        symbol: &Symbol,
        tf: Timeframe,
        start_ms: Option<i64>,
        end_ms: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Kline>, ExchangeError> {
        let req = requests::klines(self.market(), symbol, tf, start_ms, end_ms, limit);
        let max = requests::klines_max(self.market());
        if limit == 0 || limit > max {
            return Err(ExchangeError::InvalidRequest {
                endpoint: req.path,
                detail: format!("limit {limit} is outside 1..={max}"),
            });
        }
        let rows: Vec<KlineRow> = self.call(&req).await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// All closed candles with open time in `[from_ms, to_ms]`, as a stream of pages in time
    /// order, one page per request (`klines_page_size()` rows, `startTime` = previous page's
    /// last open + interval, `endTime = to_ms`).
    ///
    /// Pages are fetched lazily, one at a time, as the caller polls: write each page to the
    /// store as it arrives, so a run killed half-way keeps what it wrote and the next run
    /// resumes after the last stored candle. The stream ends after a short page, at `to_ms`,
    /// or at the first candle still open at `now_ms` (which is dropped, as is everything after
    /// it). After an error item the stream ends.
    ///
    /// ```ignore
    /// let mut pages = std::pin::pin!(client.klines_pages(sym, tf, from, to, now));
    /// while let Some(page) = pages.next().await {
    ///     store.save_candles(&sym, tf, &page?).await?;
    /// }
    /// ```
    pub fn klines_pages(
        &self,
        symbol: Symbol,
        tf: Timeframe,
        from_ms: i64,
        to_ms: i64,
        now_ms: i64,
    ) -> impl Stream<Item = Result<Vec<Candle>, ExchangeError>> + Send + 'static {
        let client = self.clone();
        let page = self.klines_page_size();
        let step = tf.millis();
        futures_util::stream::unfold(Some(from_ms), move |next| {
            let client = client.clone();
            let symbol = symbol.clone();
            async move {
                let start = next?;
                if start > to_ms {
                    return None;
                }
                let rows = match client
                    .klines(&symbol, tf, Some(start), Some(to_ms), page)
                    .await
                {
                    Ok(rows) => rows,
                    Err(e) => return Some((Err(e), None)),
                };
                let mut still_open = false;
                let mut candles = Vec::with_capacity(rows.len());
                for k in &rows {
                    if !k.is_closed(now_ms) {
                        still_open = true;
                        break;
                    }
                    if k.open_time >= start && k.open_time <= to_ms {
                        candles.push(k.candle());
                    }
                }
                let next = match rows.last() {
                    Some(last)
                        if rows.len() >= page as usize
                            && !still_open
                            && last.open_time + step > start =>
                    {
                        Some(last.open_time + step)
                    }
                    _ => None,
                };
                tracing::debug!(symbol = %symbol, start, rows = rows.len(), kept = candles.len(), "klines page");
                if candles.is_empty() && next.is_none() {
                    return None;
                }
                Some((Ok(candles), next))
            }
        })
    }

    /// [`klines_pages`](Self::klines_pages) collected into one vector.
    pub async fn klines_range(
        &self,
        symbol: &Symbol,
        tf: Timeframe,
        from_ms: i64,
        to_ms: i64,
        now_ms: i64,
    ) -> Result<Vec<Candle>, ExchangeError> {
        let mut pages =
            std::pin::pin!(self.klines_pages(symbol.clone(), tf, from_ms, to_ms, now_ms));
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            out.extend(page?);
        }
        Ok(out)
    }

    /// The last `limit` candles closed at `now_ms`, oldest first (for a first sync). Pages
    /// backwards with `endTime` when `limit` exceeds one request; exact for every interval
    /// (weeks open on Monday, not at the epoch's alignment).
    pub async fn last_closed_klines(
        &self,
        symbol: &Symbol,
        tf: Timeframe,
        limit: usize,
        now_ms: i64,
    ) -> Result<Vec<Candle>, ExchangeError> {
        let max = self.klines_page_size() as usize;
        let mut pages: Vec<Vec<Candle>> = Vec::new();
        let mut have = 0usize;
        let mut end = now_ms;
        while have < limit {
            // One more than needed: the newest row may still be open.
            let want = (limit - have + 1).min(max);
            let rows = self
                .klines(symbol, tf, None, Some(end), want as u32)
                .await?;
            let Some(first) = rows.first() else { break };
            let first_open = first.open_time;
            let closed: Vec<Candle> = rows
                .iter()
                .filter(|k| k.is_closed(now_ms) && k.open_time <= end)
                .map(Kline::candle)
                .collect();
            have += closed.len();
            pages.push(closed);
            if rows.len() < want {
                break; // the symbol's history starts here
            }
            end = first_open - 1;
        }
        let mut out: Vec<Candle> = pages.into_iter().rev().flatten().collect();
        out.dedup_by_key(|c| c.open_time);
        let skip = out.len().saturating_sub(limit);
        Ok(out.split_off(skip))
    }

    /// Last price of one symbol (`GET /api/v3/ticker/price?symbol=`).
    pub async fn ticker_price(&self, symbol: &Symbol) -> Result<Decimal, ExchangeError> {
        let req = requests::ticker_price(self.market(), std::slice::from_ref(symbol));
        let t: OneOrMany<TickerPriceW> = self.call(&req).await?;
        t.into_vec()
            .into_iter()
            .find(|t| t.symbol == symbol.as_str())
            .map(|t| t.price)
            .ok_or_else(|| ExchangeError::Decode {
                endpoint: req.path,
                detail: format!("no price for {symbol} in the answer"),
            })
    }

    /// Last prices of `symbols` (all symbols when empty). Spot asks for exactly these
    /// (`symbols=[..]`); futures has no list parameter, so all are fetched and filtered.
    /// Symbols the exchange did not price are absent from the map.
    pub async fn ticker_prices(
        &self,
        symbols: &[Symbol],
    ) -> Result<BTreeMap<Symbol, Decimal>, ExchangeError> {
        let req = requests::ticker_price(self.market(), symbols);
        let t: OneOrMany<TickerPriceW> = self.call(&req).await?;
        Ok(t.into_vec()
            .into_iter()
            .map(|t| (Symbol(t.symbol), t.price))
            .filter(|(s, _)| symbols.is_empty() || symbols.contains(s))
            .collect())
    }

    /// Trading rules (`exchangeInfo`) of `symbols` (all when empty).
    pub async fn exchange_info(&self, symbols: &[Symbol]) -> Result<ExchangeInfo, ExchangeError> {
        let req = requests::exchange_info(self.market(), symbols);
        let w: ExchangeInfoW = self.call(&req).await?;
        let mut info = w.into_core();
        if self.market() == Market::UsdM && !symbols.is_empty() {
            info.symbols.retain(|s| symbols.contains(&s.symbol));
        }
        Ok(info)
    }
}
