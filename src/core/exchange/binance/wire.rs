//! Binance's JSON shapes, private to the client, converted to `core` types at the edge.
//!
//! Decimals come as strings (`"43519.34000000"`) and are parsed into `Decimal`, never `f64`.
//! Integer fields are accepted as JSON numbers or as strings (some captures and proxies
//! stringify them). Unknown fields and unknown filter types are ignored.

use super::Kline;
use crate::core::exchange::{
    Balance, ExchangeInfo, Fill, FuturesAccount, FuturesAssetBalance, FuturesPosition, LotSize,
    OrderReport, OrderSide, OrderStatus, PositionSide, PriceFilter, SymbolInfo, Trade,
};
use crate::core::market::Symbol;
use rust_decimal::Decimal;
use serde::de::{self, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::fmt;

/// Integers given as numbers or strings.
pub(crate) mod lenient {
    use serde::{Deserialize, Deserializer, de::Error};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        I(i64),
        U(u64),
        F(f64),
        S(String),
    }

    fn to_i64<E: Error>(r: Raw) -> Result<i64, E> {
        match r {
            Raw::I(i) => Ok(i),
            Raw::U(u) => i64::try_from(u).map_err(|_| E::custom(format!("{u} is out of range"))),
            Raw::F(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
            Raw::F(f) => Err(E::custom(format!("expected an integer, got {f}"))),
            Raw::S(s) => s
                .trim()
                .parse::<i64>()
                .map_err(|_| E::custom(format!("expected an integer, got {s:?}"))),
        }
    }

    pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        to_i64(Raw::deserialize(d)?)
    }

    pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Option::<Raw>::deserialize(d)?.map(to_i64).transpose()
    }

    pub fn opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        Option::<Raw>::deserialize(d)?
            .map(|r| {
                let i = to_i64::<D::Error>(r)?;
                u32::try_from(i).map_err(|_| D::Error::custom(format!("{i} is out of range")))
            })
            .transpose()
    }
}

/// `{"code":-1121,"msg":"Invalid symbol."}`
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(deserialize_with = "lenient::i64")]
    pub code: i64,
    #[serde(default)]
    pub msg: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServerTime {
    #[serde(deserialize_with = "lenient::i64")]
    pub server_time: i64,
}

/// One kline row: `[openTime, "open", "high", "low", "close", "volume", closeTime,
/// "quoteAssetVolume", trades, "takerBuyBase", "takerBuyQuote", "ignore"]`. Extra trailing
/// columns are ignored; fewer than 11 is an error.
pub(crate) struct KlineRow(pub Kline);

impl<'de> Deserialize<'de> for KlineRow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RowVisitor;

        #[derive(Deserialize)]
        struct Int(#[serde(deserialize_with = "lenient::i64")] i64);

        fn next<'de, A: SeqAccess<'de>, T: Deserialize<'de>>(
            seq: &mut A,
            i: usize,
            name: &str,
        ) -> Result<T, A::Error> {
            seq.next_element::<T>()?.ok_or_else(|| {
                de::Error::custom(format!("kline row has only {i} columns, missing {name}"))
            })
        }

        impl<'de> Visitor<'de> for RowVisitor {
            type Value = KlineRow;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a kline row (array of 12)")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KlineRow, A::Error> {
                let open_time = next::<_, Int>(&mut seq, 0, "openTime")?.0;
                let open = next(&mut seq, 1, "open")?;
                let high = next(&mut seq, 2, "high")?;
                let low = next(&mut seq, 3, "low")?;
                let close = next(&mut seq, 4, "close")?;
                let volume = next(&mut seq, 5, "volume")?;
                let close_time = next::<_, Int>(&mut seq, 6, "closeTime")?.0;
                let quote_volume = next(&mut seq, 7, "quoteAssetVolume")?;
                let trades = next::<_, Int>(&mut seq, 8, "numberOfTrades")?.0;
                let taker_buy_base = next(&mut seq, 9, "takerBuyBaseVolume")?;
                let taker_buy_quote = next(&mut seq, 10, "takerBuyQuoteVolume")?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(KlineRow(Kline {
                    open_time,
                    open,
                    high,
                    low,
                    close,
                    volume,
                    close_time,
                    quote_volume,
                    trades: u64::try_from(trades).unwrap_or(0),
                    taker_buy_base,
                    taker_buy_quote,
                }))
            }
        }
        d.deserialize_seq(RowVisitor)
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct TickerPriceW {
    pub symbol: String,
    pub price: Decimal,
}

/// `ticker/price` answers one object for `symbol=`, an array otherwise.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    pub fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(t) => vec![t],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExchangeInfoW {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub server_time: Option<i64>,
    #[serde(default)]
    pub rate_limits: Vec<RateLimitW>,
    #[serde(default)]
    pub symbols: Vec<SymbolW>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RateLimitW {
    pub rate_limit_type: String,
    pub interval: String,
    #[serde(default, deserialize_with = "lenient::opt_u32")]
    pub interval_num: Option<u32>,
    #[serde(default, deserialize_with = "lenient::opt_u32")]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SymbolW {
    pub symbol: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub base_asset: String,
    #[serde(default)]
    pub quote_asset: String,
    #[serde(default)]
    pub filters: Vec<FilterW>,
}

/// Any filter; only the fields fks reads, all optional, so unknown filters parse too.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FilterW {
    pub filter_type: String,
    pub min_price: Option<Decimal>,
    pub max_price: Option<Decimal>,
    pub tick_size: Option<Decimal>,
    pub min_qty: Option<Decimal>,
    pub max_qty: Option<Decimal>,
    pub step_size: Option<Decimal>,
    pub min_notional: Option<Decimal>,
    pub max_notional: Option<Decimal>,
    /// futures `MIN_NOTIONAL`
    pub notional: Option<Decimal>,
}

impl FilterW {
    fn lot(&self) -> Option<LotSize> {
        Some(LotSize {
            min_qty: self.min_qty?,
            max_qty: self.max_qty?,
            step_size: self.step_size?,
        })
    }
}

impl ExchangeInfoW {
    pub fn into_core(self) -> ExchangeInfo {
        let weight_limit_per_minute = self
            .rate_limits
            .iter()
            .find(|r| {
                r.rate_limit_type == "REQUEST_WEIGHT"
                    && r.interval == "MINUTE"
                    && r.interval_num.unwrap_or(1) == 1
            })
            .and_then(|r| r.limit);
        ExchangeInfo {
            server_time: self.server_time.unwrap_or(0),
            weight_limit_per_minute,
            symbols: self.symbols.into_iter().map(SymbolW::into_core).collect(),
        }
    }
}

impl SymbolW {
    fn into_core(self) -> SymbolInfo {
        let mut info = SymbolInfo {
            symbol: Symbol(self.symbol),
            status: self.status,
            base_asset: self.base_asset,
            quote_asset: self.quote_asset,
            price_filter: None,
            lot_size: None,
            market_lot_size: None,
            min_notional: None,
            max_notional: None,
        };
        for f in &self.filters {
            match f.filter_type.as_str() {
                "PRICE_FILTER" => {
                    if let (Some(min_price), Some(max_price), Some(tick_size)) =
                        (f.min_price, f.max_price, f.tick_size)
                    {
                        info.price_filter = Some(PriceFilter {
                            min_price,
                            max_price,
                            tick_size,
                        });
                    }
                }
                "LOT_SIZE" => info.lot_size = f.lot(),
                "MARKET_LOT_SIZE" => info.market_lot_size = f.lot(),
                // Spot NOTIONAL (since 2023) wins over the older MIN_NOTIONAL.
                "NOTIONAL" => {
                    info.min_notional = f.min_notional.or(info.min_notional);
                    info.max_notional = f.max_notional;
                }
                "MIN_NOTIONAL" if info.min_notional.is_none() => {
                    info.min_notional = f.min_notional.or(f.notional);
                }
                _ => {}
            }
        }
        info
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SpotAccountW {
    #[serde(default)]
    pub can_trade: bool,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub update_time: Option<i64>,
    pub balances: Vec<BalanceW>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct BalanceW {
    pub asset: String,
    pub free: Decimal,
    pub locked: Decimal,
}

impl SpotAccountW {
    pub fn into_core(self) -> crate::core::exchange::SpotAccount {
        crate::core::exchange::SpotAccount {
            can_trade: self.can_trade,
            update_time: self.update_time.unwrap_or(0),
            balances: self
                .balances
                .into_iter()
                .map(|b| Balance {
                    asset: b.asset,
                    free: b.free,
                    locked: b.locked,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FuturesAccountW {
    pub total_wallet_balance: Decimal,
    pub total_unrealized_profit: Decimal,
    pub total_margin_balance: Decimal,
    pub available_balance: Decimal,
    #[serde(default)]
    pub total_initial_margin: Decimal,
    #[serde(default)]
    pub total_maint_margin: Decimal,
    #[serde(default)]
    pub total_position_initial_margin: Decimal,
    #[serde(default)]
    pub total_open_order_initial_margin: Decimal,
    #[serde(default)]
    pub assets: Vec<FuturesAssetW>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FuturesAssetW {
    pub asset: String,
    pub wallet_balance: Decimal,
    #[serde(default)]
    pub unrealized_profit: Decimal,
    #[serde(default)]
    pub margin_balance: Decimal,
    #[serde(default)]
    pub available_balance: Decimal,
}

impl FuturesAccountW {
    pub fn into_core(self) -> FuturesAccount {
        FuturesAccount {
            total_wallet_balance: self.total_wallet_balance,
            total_unrealized_profit: self.total_unrealized_profit,
            total_margin_balance: self.total_margin_balance,
            available_balance: self.available_balance,
            total_initial_margin: self.total_initial_margin,
            total_maint_margin: self.total_maint_margin,
            total_position_initial_margin: self.total_position_initial_margin,
            total_open_order_initial_margin: self.total_open_order_initial_margin,
            assets: self
                .assets
                .into_iter()
                .map(|a| FuturesAssetBalance {
                    asset: a.asset,
                    wallet_balance: a.wallet_balance,
                    unrealized_profit: a.unrealized_profit,
                    margin_balance: a.margin_balance,
                    available_balance: a.available_balance,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PositionRiskW {
    pub symbol: String,
    pub position_amt: Decimal,
    pub entry_price: Decimal,
    #[serde(default)]
    pub mark_price: Decimal,
    #[serde(rename = "unRealizedProfit", default)]
    pub unrealized_profit: Decimal,
    /// v2 only (v3 dropped it).
    #[serde(default, deserialize_with = "lenient::opt_u32")]
    pub leverage: Option<u32>,
    #[serde(default)]
    pub liquidation_price: Option<Decimal>,
    #[serde(default)]
    pub margin_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub update_time: Option<i64>,
}

impl PositionRiskW {
    /// `None` for a zero position.
    pub fn into_core(self) -> Option<FuturesPosition> {
        if self.position_amt.is_zero() {
            return None;
        }
        let side = if self.position_amt.is_sign_negative() {
            PositionSide::Short
        } else {
            PositionSide::Long
        };
        Some(FuturesPosition {
            symbol: Symbol(self.symbol),
            side,
            quantity: self.position_amt.abs(),
            entry_price: self.entry_price,
            mark_price: self.mark_price,
            unrealized_pnl: self.unrealized_profit,
            leverage: self.leverage.unwrap_or(0),
            liquidation_price: self.liquidation_price.filter(|p| !p.is_zero()),
            margin_type: self.margin_type,
            update_time: self.update_time.unwrap_or(0),
        })
    }
}

fn parse_side(s: &str) -> Result<OrderSide, String> {
    match s {
        "BUY" => Ok(OrderSide::Buy),
        "SELL" => Ok(OrderSide::Sell),
        other => Err(format!("unknown order side {other:?}")),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SpotOrderW {
    pub symbol: String,
    #[serde(deserialize_with = "lenient::i64")]
    pub order_id: i64,
    pub client_order_id: String,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub transact_time: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub update_time: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub time: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub working_time: Option<i64>,
    #[serde(default)]
    pub orig_qty: Decimal,
    #[serde(default)]
    pub executed_qty: Decimal,
    #[serde(default)]
    pub cummulative_quote_qty: Decimal,
    pub status: String,
    #[serde(rename = "type")]
    pub order_type: String,
    pub side: String,
    #[serde(default)]
    pub fills: Vec<FillW>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FillW {
    pub price: Decimal,
    pub qty: Decimal,
    pub commission: Decimal,
    pub commission_asset: String,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub trade_id: Option<i64>,
}

impl SpotOrderW {
    pub fn into_core(self) -> Result<OrderReport, String> {
        let avg_price = (!self.executed_qty.is_zero())
            .then(|| self.cummulative_quote_qty.checked_div(self.executed_qty))
            .flatten();
        Ok(OrderReport {
            symbol: Symbol(self.symbol),
            order_id: self.order_id,
            client_order_id: self.client_order_id,
            status: OrderStatus::parse(&self.status),
            side: parse_side(&self.side)?,
            order_type: self.order_type,
            orig_qty: self.orig_qty,
            executed_qty: self.executed_qty,
            cumulative_quote_qty: self.cummulative_quote_qty,
            avg_price,
            reduce_only: false,
            time: self.transact_time.or(self.update_time).or(self.time),
            created_time: self
                .time
                .or(self.transact_time)
                .or(self.working_time)
                .or(self.update_time),
            fills: self
                .fills
                .into_iter()
                .map(|f| Fill {
                    price: f.price,
                    qty: f.qty,
                    commission: f.commission,
                    commission_asset: f.commission_asset,
                    trade_id: f.trade_id,
                })
                .collect(),
        })
    }
}

/// A trade of spot `myTrades` or futures `userTrades`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TradeW {
    pub symbol: String,
    #[serde(deserialize_with = "lenient::i64")]
    pub id: i64,
    #[serde(deserialize_with = "lenient::i64")]
    pub order_id: i64,
    pub price: Decimal,
    pub qty: Decimal,
    pub commission: Decimal,
    pub commission_asset: String,
    #[serde(default)]
    pub realized_pnl: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub time: Option<i64>,
}

impl TradeW {
    pub fn into_core(self) -> Trade {
        Trade {
            symbol: Symbol(self.symbol),
            trade_id: self.id,
            order_id: self.order_id,
            price: self.price,
            qty: self.qty,
            commission: self.commission,
            commission_asset: self.commission_asset,
            realized_pnl: self.realized_pnl,
            time: self.time,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FuturesOrderW {
    pub symbol: String,
    #[serde(deserialize_with = "lenient::i64")]
    pub order_id: i64,
    pub client_order_id: String,
    pub status: String,
    #[serde(rename = "type")]
    pub order_type: String,
    pub side: String,
    #[serde(default)]
    pub orig_qty: Decimal,
    #[serde(default)]
    pub executed_qty: Decimal,
    #[serde(default)]
    pub cum_quote: Decimal,
    #[serde(default)]
    pub avg_price: Option<Decimal>,
    #[serde(default)]
    pub reduce_only: bool,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub update_time: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub time: Option<i64>,
}

impl FuturesOrderW {
    pub fn into_core(self) -> Result<OrderReport, String> {
        Ok(OrderReport {
            symbol: Symbol(self.symbol),
            order_id: self.order_id,
            client_order_id: self.client_order_id,
            status: OrderStatus::parse(&self.status),
            side: parse_side(&self.side)?,
            order_type: self.order_type,
            orig_qty: self.orig_qty,
            executed_qty: self.executed_qty,
            cumulative_quote_qty: self.cum_quote,
            avg_price: self.avg_price.filter(|p| !p.is_zero()),
            reduce_only: self.reduce_only,
            time: self.update_time.or(self.time),
            created_time: self.time.or(self.update_time),
            fills: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn kline_row_parses_exactly() {
        let body = r#"[[1712738460000,"71481.90","71481.90","71481.90","71481.90","0.002",
            1712738519999,"142.96380",1,"0.002","142.96380","0"]]"#;
        let rows: Vec<KlineRow> = serde_json::from_str(body).unwrap();
        let k = &rows[0].0;
        assert_eq!(k.open_time, 1712738460000);
        assert_eq!(k.close_time, 1712738519999);
        assert_eq!(k.open.to_string(), "71481.90");
        assert_eq!(k.volume, d("0.002"));
        assert_eq!(k.quote_volume, d("142.96380"));
        assert_eq!(k.trades, 1);
    }

    #[test]
    fn kline_row_with_too_few_columns_is_an_error() {
        let err = serde_json::from_str::<Vec<KlineRow>>(r#"[[1,"1","1","1","1"]]"#)
            .err()
            .unwrap();
        assert!(err.to_string().contains("missing volume"), "{err}");
    }

    #[test]
    fn integers_as_strings_are_accepted() {
        let a: SpotAccountW = serde_json::from_str(
            r#"{"canTrade":true,"updateTime":"1701856395927","uid":"365859102",
                "balances":[{"asset":"LTC","free":"0.91974100","locked":"0.00000000"}]}"#,
        )
        .unwrap();
        assert_eq!(a.update_time, Some(1701856395927));
        let o: SpotOrderW = serde_json::from_str(
            r#"{"symbol":"LTCUSDT","orderId":"3397148653","clientOrderId":"x","status":"FILLED",
                "type":"MARKET","side":"BUY","origQty":"0.1","executedQty":"0.1",
                "cummulativeQuoteQty":"7.1","updateTime":"1701856395927"}"#,
        )
        .unwrap();
        assert_eq!(o.order_id, 3397148653);
    }

    #[test]
    fn exchange_info_filters_spot_2024_and_futures() {
        let spot = r#"{"timezone":"UTC","serverTime":1715054406944,"rateLimits":[
            {"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000},
            {"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":10,"limit":100}],
            "exchangeFilters":[],"symbols":[{"symbol":"ETHBTC","status":"TRADING",
            "baseAsset":"ETH","baseAssetPrecision":8,"quoteAsset":"BTC","filters":[
            {"filterType":"PRICE_FILTER","minPrice":"0.00001000","maxPrice":"922327.00000000","tickSize":"0.00001000"},
            {"filterType":"LOT_SIZE","minQty":"0.00010000","maxQty":"100000.00000000","stepSize":"0.00010000"},
            {"filterType":"ICEBERG_PARTS","limit":10},
            {"filterType":"MARKET_LOT_SIZE","minQty":"0.00000000","maxQty":"2703.20648368","stepSize":"0.00000000"},
            {"filterType":"TRAILING_DELTA","minTrailingAboveDelta":10,"maxTrailingAboveDelta":2000},
            {"filterType":"PERCENT_PRICE_BY_SIDE","bidMultiplierUp":"5","avgPriceMins":5},
            {"filterType":"NOTIONAL","minNotional":"0.00010000","applyMinToMarket":true,"maxNotional":"9000000.00000000","applyMaxToMarket":false,"avgPriceMins":5},
            {"filterType":"SOMETHING_NEW","x":[1,2]}]}]}"#;
        let info = serde_json::from_str::<ExchangeInfoW>(spot)
            .unwrap()
            .into_core();
        assert_eq!(info.weight_limit_per_minute, Some(6000));
        let s = &info.symbols[0];
        assert_eq!(s.base_asset, "ETH");
        assert_eq!(s.price_filter.unwrap().tick_size, d("0.00001"));
        assert_eq!(s.lot_size.unwrap().step_size, d("0.0001"));
        assert_eq!(s.market_lot_size.unwrap().max_qty, d("2703.20648368"));
        assert_eq!(s.min_notional, Some(d("0.0001")));
        assert_eq!(s.max_notional, Some(d("9000000")));

        let fut = r#"{"timezone":"UTC","serverTime":1715054406944,"rateLimits":[
            {"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":2400}],
            "symbols":[{"symbol":"BTCUSDT","pair":"BTCUSDT","contractType":"PERPETUAL","status":"TRADING",
            "baseAsset":"BTC","quoteAsset":"USDT","filters":[
            {"tickSize":"0.10","maxPrice":"4529764","filterType":"PRICE_FILTER","minPrice":"556.80"},
            {"minQty":"0.001","stepSize":"0.001","filterType":"LOT_SIZE","maxQty":"1000"},
            {"minQty":"0.001","filterType":"MARKET_LOT_SIZE","maxQty":"120","stepSize":"0.001"},
            {"filterType":"MAX_NUM_ORDERS","limit":200},
            {"notional":"100","filterType":"MIN_NOTIONAL"}]}]}"#;
        let info = serde_json::from_str::<ExchangeInfoW>(fut)
            .unwrap()
            .into_core();
        assert_eq!(info.weight_limit_per_minute, Some(2400));
        assert_eq!(info.symbols[0].min_notional, Some(d("100")));
        assert_eq!(info.symbols[0].price_filter.unwrap().min_price, d("556.80"));
    }

    #[test]
    fn old_spot_min_notional_is_read() {
        let s: SymbolW = serde_json::from_str(
            r#"{"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT",
            "filters":[{"filterType":"MIN_NOTIONAL","minNotional":"10.00000000","applyToMarket":true,"avgPriceMins":5}]}"#,
        )
        .unwrap();
        assert_eq!(s.into_core().min_notional, Some(d("10")));
    }
}
