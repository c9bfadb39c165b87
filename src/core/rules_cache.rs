//! Exchange trading rules (exchangeInfo filters) cached in the store, refreshed daily.

use crate::core::exchange::venue::MarketData;
use crate::core::exchange::{LotSize, PriceFilter, SymbolInfo};
use crate::core::market::Symbol;
use crate::core::store::Store;
use crate::vals;
use anyhow::Result;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

const MAX_AGE_MS: i64 = 86_400_000;

/// Rules for `symbols`, from the cache when fresh, else from the exchange (then cached).
pub async fn rules(
    store: &Store,
    venue: &dyn MarketData,
    symbols: &[Symbol],
    now_ms: i64,
) -> Result<BTreeMap<Symbol, SymbolInfo>> {
    let market = venue.rules_key();
    let mut out = BTreeMap::new();
    let mut missing = Vec::new();
    for s in symbols {
        let row = store
            .query_opt(
                "SELECT info, fetched_ms FROM symbol_rules WHERE market = ? AND symbol = ?",
                vals![market.as_str(), s],
            )
            .await?;
        match row {
            Some(r) if now_ms - r.int(1)? < MAX_AGE_MS => {
                out.insert(s.clone(), serde_json::from_str(&r.text(0)?)?);
            }
            _ => missing.push(s.clone()),
        }
    }
    if !missing.is_empty() {
        let info = venue.exchange_rules(&missing).await?;
        for si in info.symbols {
            store
                .exec(
                    "INSERT INTO symbol_rules (market, symbol, info, fetched_ms) VALUES (?, ?, ?, ?) \
                     ON CONFLICT (market, symbol) DO UPDATE SET info = excluded.info, fetched_ms = excluded.fetched_ms",
                    vals![market.as_str(), &si.symbol, serde_json::to_string(&si)?, now_ms],
                )
                .await?;
            out.insert(si.symbol.clone(), si);
        }
    }
    Ok(out)
}

/// Rules for the paper exchange: 8-decimal steps, a 1-unit minimum notional (no dust).
pub fn paper_rules(symbol: &Symbol, quote: &str) -> SymbolInfo {
    let tiny = Decimal::new(1, 8);
    SymbolInfo {
        symbol: symbol.clone(),
        status: "TRADING".into(),
        base_asset: symbol
            .0
            .strip_suffix(quote)
            .unwrap_or(&symbol.0)
            .to_string(),
        quote_asset: quote.to_string(),
        price_filter: Some(PriceFilter {
            min_price: tiny,
            max_price: Decimal::from(1_000_000_000),
            tick_size: tiny,
        }),
        lot_size: Some(LotSize {
            min_qty: tiny,
            max_qty: Decimal::from(1_000_000_000),
            step_size: tiny,
        }),
        market_lot_size: None,
        min_notional: Some(Decimal::ONE),
        max_notional: None,
    }
}
