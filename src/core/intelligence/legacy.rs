//! The legacy indicator rules, used when the knowledge base is too thin (the caller
//! decides with its `min_sources`) and as a baseline in the evaluation.
//!
//! Five rules vote +1 (bullish), −1 (bearish) or 0; a rule whose inputs are undefined
//! (warm-up) does not vote and does not count:
//!
//! | rule | +1 | −1 |
//! |---|---|---|
//! | `rsi` | RSI14 < 30 (oversold) | RSI14 > 70 (overbought) |
//! | `macd` | histogram > 0 | histogram < 0 |
//! | `sma50` | close > SMA50 | close < SMA50 |
//! | `sma200` | close > SMA200 | close < SMA200 |
//! | `bollinger` | close < lower band | close > upper band |
//!
//! `score` = sum of votes, `available` = rules that could vote. BUY if `score >= 2`,
//! SELL if `score <= −2`, else HOLD. Confidence (a heuristic, not calibrated — the
//! evaluation measures how wrong it is): BUY/SELL `0.5 + 0.4 × |score| / available`
//! (0.5–0.9); HOLD `0.5`.

use super::recommend::Action;
use crate::core::indicators::IndicatorRow;
use serde::Serialize;

/// Score at or above which the rules say BUY (and at or below minus which SELL).
pub const SCORE_THRESHOLD: i32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleVote {
    pub rule: &'static str,
    pub vote: i32,
    /// Human-readable reason, e.g. `RSI 27.1 < 30 (oversold)`.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegacySignal {
    pub action: Action,
    pub confidence: f64,
    pub score: i32,
    /// Rules that had defined inputs.
    pub available: usize,
    pub votes: Vec<RuleVote>,
}

impl LegacySignal {
    /// One sentence listing the votes, for the `reasoning` field.
    pub fn reasoning(&self) -> String {
        if self.available == 0 {
            return "Legacy rules: indicators are still warming up; no rule could vote, so HOLD."
                .to_string();
        }
        let parts: Vec<&str> = self.votes.iter().map(|v| v.reason.as_str()).collect();
        format!(
            "Legacy indicator rules (score {:+} of {} rules): {}; hence {} with heuristic confidence {:.0}%.",
            self.score,
            self.available,
            parts.join("; "),
            self.action,
            self.confidence * 100.0
        )
    }
}

/// The rules applied to the candle closing at `close` with indicator row `ind`.
pub fn legacy_signal(close: f64, ind: &IndicatorRow) -> LegacySignal {
    let mut votes = Vec::new();
    if let Some(rsi) = ind.rsi14 {
        let (vote, what) = if rsi < 30.0 {
            (1, format!("RSI {rsi:.1} < 30 (oversold)"))
        } else if rsi > 70.0 {
            (-1, format!("RSI {rsi:.1} > 70 (overbought)"))
        } else {
            (0, format!("RSI {rsi:.1} neutral"))
        };
        votes.push(RuleVote {
            rule: "rsi",
            vote,
            reason: what,
        });
    }
    if let Some(h) = ind.macd_hist {
        let vote = sign(h);
        let what = match vote {
            1 => "MACD histogram positive",
            -1 => "MACD histogram negative",
            _ => "MACD histogram zero",
        };
        votes.push(RuleVote {
            rule: "macd",
            vote,
            reason: what.to_string(),
        });
    }
    for (rule, sma, name) in [
        ("sma50", ind.sma50, "SMA50"),
        ("sma200", ind.sma200, "SMA200"),
    ] {
        if let Some(s) = sma {
            let vote = sign(close - s);
            let rel = if vote >= 0 { "above" } else { "below" };
            votes.push(RuleVote {
                rule,
                vote,
                reason: format!("close {rel} {name} ({:+.2}%)", (close / s - 1.0) * 100.0),
            });
        }
    }
    if let (Some(lo), Some(hi)) = (ind.bb_lower, ind.bb_upper) {
        let (vote, what) = if close < lo {
            (1, "close below the lower Bollinger band")
        } else if close > hi {
            (-1, "close above the upper Bollinger band")
        } else {
            (0, "close inside the Bollinger bands")
        };
        votes.push(RuleVote {
            rule: "bollinger",
            vote,
            reason: what.to_string(),
        });
    }

    let score: i32 = votes.iter().map(|v| v.vote).sum();
    let available = votes.len();
    let action = if available == 0 {
        Action::Hold
    } else if score >= SCORE_THRESHOLD {
        Action::Buy
    } else if score <= -SCORE_THRESHOLD {
        Action::Sell
    } else {
        Action::Hold
    };
    let confidence = match action {
        Action::Hold => 0.5,
        _ => 0.5 + 0.4 * score.unsigned_abs() as f64 / available as f64,
    };
    LegacySignal {
        action,
        confidence,
        score,
        available,
        votes,
    }
}

fn sign(x: f64) -> i32 {
    if x > 0.0 {
        1
    } else if x < 0.0 {
        -1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> IndicatorRow {
        IndicatorRow {
            open_time: 0,
            rsi14: Some(50.0),
            macd: Some(0.0),
            macd_signal: Some(0.0),
            macd_hist: Some(0.0),
            bb_upper: Some(110.0),
            bb_middle: Some(100.0),
            bb_lower: Some(90.0),
            atr14: Some(1.0),
            sma20: Some(100.0),
            sma50: Some(100.0),
            sma200: Some(100.0),
            ema12: Some(100.0),
            ema26: Some(100.0),
        }
    }

    #[test]
    fn oversold_uptrend_is_a_buy() {
        let r = IndicatorRow {
            rsi14: Some(25.0),
            macd_hist: Some(0.3),
            ..row()
        };
        let s = legacy_signal(105.0, &r); // +1 rsi +1 macd +1 sma50 +1 sma200, bb 0
        assert_eq!(s.score, 4);
        assert_eq!(s.action, Action::Buy);
        assert!((s.confidence - (0.5 + 0.4 * 4.0 / 5.0)).abs() < 1e-12);
        assert!(s.reasoning().contains("RSI 25.0 < 30"));
    }

    #[test]
    fn overbought_above_the_band_in_a_downtrend_is_a_sell() {
        let r = IndicatorRow {
            rsi14: Some(75.0),
            macd_hist: Some(-0.1),
            sma50: Some(120.0),
            sma200: Some(130.0),
            ..row()
        };
        let s = legacy_signal(111.0, &r);
        assert_eq!(s.score, -5);
        assert_eq!(s.action, Action::Sell);
        assert!((s.confidence - 0.9).abs() < 1e-12);
    }

    #[test]
    fn mixed_votes_hold_and_warm_up_holds() {
        let r = IndicatorRow {
            macd_hist: Some(0.2),
            ..row()
        };
        let s = legacy_signal(99.0, &r); // +1 macd −1 sma50 −1 sma200
        assert_eq!(s.score, -1);
        assert_eq!(s.action, Action::Hold);
        assert_eq!(s.confidence, 0.5);
        let empty = IndicatorRow {
            rsi14: None,
            macd_hist: None,
            sma50: None,
            sma200: None,
            bb_lower: None,
            bb_upper: None,
            ..row()
        };
        let s = legacy_signal(100.0, &empty);
        assert_eq!((s.action, s.available), (Action::Hold, 0));
        // only two rules defined, both bullish: BUY with 0.9
        let two = IndicatorRow {
            rsi14: Some(20.0),
            macd_hist: Some(1.0),
            ..empty
        };
        let s = legacy_signal(100.0, &two);
        assert_eq!((s.action, s.available), (Action::Buy, 2));
        assert!((s.confidence - 0.9).abs() < 1e-12);
    }
}
