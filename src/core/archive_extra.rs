//! Archivable tables added by later schema versions.

use crate::core::archive::{Col::*, TableSpec};

pub const TABLES: &[TableSpec] = &[TableSpec {
    name: "indicators",
    time: "open_time",
    columns: &[
        ("symbol", Text),
        ("timeframe", Text),
        ("open_time", Int),
        ("rsi14", Real),
        ("macd", Real),
        ("macd_signal", Real),
        ("macd_hist", Real),
        ("bb_upper", Real),
        ("bb_middle", Real),
        ("bb_lower", Real),
        ("atr14", Real),
        ("sma20", Real),
        ("sma50", Real),
        ("sma200", Real),
        ("ema12", Real),
        ("ema26", Real),
    ],
    filter: "1 = 1",
    key: "symbol, timeframe, open_time",
}];
