//! The `reasoning` text: from the language model when one is configured and answers, from
//! a template otherwise. The numbers are fixed before this module runs; the model is told
//! not to change them, and the output records which source wrote the words.

use super::calibrate::CalibrationSource;
use super::llm::LlmClient;
use super::recommend::{Action, Recommendation};
use crate::core::market::Symbol;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// A retrieved neighbour as the reader sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NeighbourEvidence {
    pub symbol: Symbol,
    /// Open time of the neighbour's candle, ms UTC.
    pub open_time: i64,
    pub distance: f64,
    /// Its realised return over the horizon.
    pub ret: f64,
    pub max_adverse: f64,
}

/// A document found by full-text search (news, backtest result, past signal, trade).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentRef {
    /// `news`, `backtest`, `signal`, `trade` …
    pub kind: String,
    pub title: String,
    pub snippet: String,
    /// Publication / creation time, ms UTC.
    pub time: Option<i64>,
    /// News sentiment in [−1, 1], when known.
    pub sentiment: Option<f64>,
}

/// What was retrieved for one recommendation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub symbol: Symbol,
    /// Wire form, e.g. `1h`.
    pub timeframe: String,
    /// Decision time, ms UTC.
    pub as_of: i64,
    pub price: f64,
    /// Nearest first, as returned by the index.
    pub neighbours: Vec<NeighbourEvidence>,
    pub documents: Vec<DocumentRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReasoningSource {
    Template,
    Llm,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reasoning {
    pub text: String,
    /// `reasoning_source` in the output.
    pub source: ReasoningSource,
    /// Why the model was not used when one was configured (e.g. a timeout).
    pub fallback_reason: Option<String>,
}

/// `YYYY-MM-DD HH:MM UTC` for a time in ms since the epoch.
pub fn format_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        sod / 3600,
        sod % 3600 / 60
    )
}

fn pct(x: f64) -> String {
    format!("{:+.2}%", x * 100.0)
}

fn pct0(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// A paragraph explaining `rec` from `ev`: neighbours' statistics, the nearest ones by
/// date, the thresholds, the risk, and the documents by title.
pub fn template_reasoning(rec: &Recommendation, ev: &Evidence) -> String {
    let mut s = format!(
        "{} {} as of {}: {} with {} confidence.",
        ev.symbol,
        ev.timeframe,
        format_utc(ev.as_of),
        rec.action,
        pct0(rec.confidence)
    );
    if rec.neighbours == 0 {
        let _ = write!(
            s,
            " No similar past market state was available, so the numbers are the base rates of the knowledge base: {} of outcomes were positive, mean return {} over {} bars.",
            pct0(rec.base_rate),
            pct(rec.expected_return),
            rec.horizon
        );
    } else {
        let same = ev
            .neighbours
            .iter()
            .filter(|n| n.symbol == ev.symbol)
            .count();
        let others = ev.neighbours.len().saturating_sub(same);
        let _ = write!(
            s,
            " The {} most similar past market states ({same} of {}, {others} of other symbols; effective weight {:.1}) were followed over {} bars by a mean return of {} (dispersion {}, mean worst drawdown {}); {} of them rose, which shrunk toward the base rate of {} gives a score of {}.",
            rec.neighbours,
            ev.symbol,
            rec.effective_neighbours,
            rec.horizon,
            pct(rec.raw_expected_return),
            pct(rec.dispersion).trim_start_matches('+'),
            pct(rec.avg_max_adverse).trim_start_matches('+'),
            pct0(rec.raw_probability_up),
            pct0(rec.base_rate),
            pct0(rec.shrunk_probability_up),
        );
        let nearest: Vec<String> = ev
            .neighbours
            .iter()
            .take(3)
            .map(|n| format!("{} {} ({})", n.symbol, format_utc(n.open_time), pct(n.ret)))
            .collect();
        if !nearest.is_empty() {
            let _ = write!(s, " Nearest: {}.", nearest.join(", "));
        }
    }
    let calibrated = match rec.calibration.up.source {
        CalibrationSource::Symbol | CalibrationSource::Pooled => format!(
            "calibrated on {} resolved past decisions ({}) to P(up) = {}",
            rec.calibration.up.resolved(),
            if rec.calibration.up.source == CalibrationSource::Symbol {
                "this symbol's"
            } else {
                "pooled across symbols"
            },
            pct0(rec.probability_up)
        ),
        CalibrationSource::BaseRate => format!(
            "too few resolved past decisions to calibrate it, so P(up) is the base rate of {}",
            pct0(rec.probability_up)
        ),
    };
    let why = match rec.action {
        Action::Buy => format!(
            " That score, {calibrated}, with a mean gain of {} and a mean loss of {}, gives an expected return of {} that beats the {} round-trip fees.",
            pct(rec.expected_gain),
            pct(-rec.expected_loss),
            pct(rec.expected_return),
            pct0_2(rec.required_return),
        ),
        Action::Sell => format!(
            " That score, {calibrated}, with a mean gain of {} and a mean loss of {}, gives an expected return of {}: a short beats the {} round-trip fees.",
            pct(rec.expected_gain),
            pct(-rec.expected_loss),
            pct(rec.expected_return),
            pct0_2(rec.required_return),
        ),
        Action::Hold => format!(
            " That score, {calibrated}, gives an expected return of {}, which does not beat the {} round-trip fees either way: no edge, so HOLD; the confidence is the chance that the price stays within the fee band.",
            pct(rec.expected_return),
            pct0_2(rec.required_return),
        ),
    };
    s.push_str(&why);
    let _ = write!(
        s,
        " Risk is {} (ratio {:.2} of the move ATR predicts).",
        rec.risk_assessment, rec.risk_ratio
    );
    if let (Some(stop), Some(entry)) = (rec.stop_loss, rec.entry_points.first()) {
        let _ = write!(s, " Entry near {entry:.2}, stop loss {stop:.2}.");
    }
    if ev.documents.is_empty() {
        s.push_str(" No news or backtest documents matched.");
    } else {
        let docs: Vec<String> = ev
            .documents
            .iter()
            .map(|d| match d.sentiment {
                Some(x) => format!("\"{}\" ({}, sentiment {x:+.2})", d.title, d.kind),
                None => format!("\"{}\" ({})", d.title, d.kind),
            })
            .collect();
        let _ = write!(s, " Documents considered: {}.", docs.join("; "));
    }
    s
}

fn pct0_2(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

/// The system instruction given to the model.
pub const SYSTEM_PROMPT: &str = "You write the reasoning for fks, a crypto trading tool. \
The recommendation below was computed from retrieved historical evidence and is final. \
Explain in one paragraph of at most 150 words why the evidence supports it. \
You must NOT change, recompute, round differently or invent any number, action or \
probability: quote them exactly as given. Cite documents by their title. \
Do not add advice that is not in the evidence.";

/// The user prompt: the fixed numbers, the neighbours (dates and outcomes) and the
/// documents (titles and snippets).
pub fn user_prompt(rec: &Recommendation, ev: &Evidence) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Recommendation (final; do NOT change any number):");
    let _ = writeln!(
        s,
        "- symbol: {}, timeframe: {}, as of: {}, price: {}",
        ev.symbol,
        ev.timeframe,
        format_utc(ev.as_of),
        ev.price
    );
    let _ = writeln!(s, "- action: {}", rec.action);
    let _ = writeln!(s, "- confidence: {:.4}", rec.confidence);
    let _ = writeln!(
        s,
        "- calibrated probability of a rise over {} bars: {:.4} (neighbour score {:.4}, base rate {:.4})",
        rec.horizon, rec.probability_up, rec.shrunk_probability_up, rec.base_rate
    );
    let _ = writeln!(
        s,
        "- calibrated expected return: {} (round-trip fees to beat: {})",
        pct(rec.expected_return),
        pct0_2(rec.required_return)
    );
    let _ = writeln!(
        s,
        "- dispersion: {}, mean worst drawdown: {}",
        pct0_2(rec.dispersion),
        pct0_2(rec.avg_max_adverse)
    );
    let _ = writeln!(s, "- risk: {}", rec.risk_assessment);
    if let Some(stop) = rec.stop_loss {
        let entries: Vec<String> = rec.entry_points.iter().map(|e| format!("{e:.2}")).collect();
        let _ = writeln!(
            s,
            "- entry points: {}; stop loss: {stop:.2}",
            entries.join(", ")
        );
    }
    let _ = writeln!(
        s,
        "\nNearest past market states ({} used; date, symbol, distance, return, worst drawdown):",
        rec.neighbours
    );
    if ev.neighbours.is_empty() {
        let _ = writeln!(s, "- none");
    }
    for n in ev.neighbours.iter().take(20) {
        let _ = writeln!(
            s,
            "- {} {} d={:.3} return {} drawdown {}",
            format_utc(n.open_time),
            n.symbol,
            n.distance,
            pct(n.ret),
            pct0_2(n.max_adverse)
        );
    }
    let _ = writeln!(s, "\nDocuments:");
    if ev.documents.is_empty() {
        let _ = writeln!(s, "- none");
    }
    for d in &ev.documents {
        let when = d.time.map(format_utc).unwrap_or_else(|| "undated".into());
        let sent = d
            .sentiment
            .map(|x| format!(", sentiment {x:+.2}"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "- [{}] \"{}\" ({when}{sent}): {}",
            d.kind, d.title, d.snippet
        );
    }
    let _ = write!(s, "\nWrite the reasoning paragraph now.");
    s
}

/// The reasoning text: the model's when `llm` is given and answers, else the template
/// (with the reason when a configured model failed). Never fails.
pub async fn write_reasoning(
    llm: Option<&LlmClient>,
    rec: &Recommendation,
    ev: &Evidence,
) -> Reasoning {
    let Some(client) = llm else {
        return Reasoning {
            text: template_reasoning(rec, ev),
            source: ReasoningSource::Template,
            fallback_reason: None,
        };
    };
    match client.complete(SYSTEM_PROMPT, &user_prompt(rec, ev)).await {
        Ok(text) => Reasoning {
            text,
            source: ReasoningSource::Llm,
            fallback_reason: None,
        },
        Err(e) => {
            tracing::warn!(error = %e, "language model failed; using the template reasoning");
            Reasoning {
                text: template_reasoning(rec, ev),
                source: ReasoningSource::Template,
                fallback_reason: Some(e.to_string()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::intelligence::features::Outcome;
    use crate::core::intelligence::llm::LlmConfig;
    use crate::core::intelligence::recommend::{
        BaseRates, MarketContext, NeighbourOutcome, RecommendConfig, recommend,
    };
    use std::time::Duration;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};

    fn sample() -> (Recommendation, Evidence) {
        let nbs: Vec<NeighbourEvidence> = (0..30)
            .map(|i| NeighbourEvidence {
                symbol: Symbol(if i < 25 { "BTCUSDT" } else { "ETHUSDT" }.into()),
                open_time: 1_704_067_200_000 + i * 3_600_000, // 2024-01-01 00:00 UTC + i h
                distance: 0.2 + i as f64 * 0.01,
                ret: if i % 4 == 0 { -0.004 } else { 0.012 },
                max_adverse: 0.006,
            })
            .collect();
        let outs: Vec<NeighbourOutcome> = nbs
            .iter()
            .map(|n| NeighbourOutcome {
                dist: n.distance,
                outcome: Outcome {
                    ret: n.ret,
                    max_adverse: n.max_adverse,
                    max_favorable: 0.01,
                },
            })
            .collect();
        let base = BaseRates {
            p_up: 0.52,
            p_flat: 0.3,
            mean_return: 0.0005,
            mean_gain: 0.01,
            mean_loss: 0.01,
            count: 5000,
        };
        let market = MarketContext {
            price: 42_000.0,
            atr: 300.0,
            horizon: 4,
        };
        let ev = Evidence {
            symbol: Symbol("BTCUSDT".into()),
            timeframe: "1h".into(),
            as_of: 1_709_294_400_000, // 2024-03-01 12:00 UTC
            price: 42_000.0,
            neighbours: nbs,
            documents: vec![DocumentRef {
                kind: "news".into(),
                title: "Spot ETF inflows hit a record".into(),
                snippet: "Net inflows reached $1.1bn on Thursday".into(),
                time: Some(1_709_280_000_000),
                sentiment: Some(0.6),
            }],
        };
        let rec = recommend(
            &outs,
            &base,
            &market,
            ev.documents.len(),
            &RecommendConfig::default(),
            &crate::core::intelligence::calibrate::Calibration::identity(),
        );
        (rec, ev)
    }

    #[test]
    fn dates_are_formatted_in_utc() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(1_709_294_400_000), "2024-03-01 12:00 UTC");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00 UTC");
    }

    #[test]
    fn template_mentions_neighbours_and_documents() {
        let (rec, ev) = sample();
        assert_eq!(rec.action, Action::Buy);
        let t = template_reasoning(&rec, &ev);
        assert!(
            t.starts_with("BTCUSDT 1h as of 2024-03-01 12:00 UTC: BUY"),
            "{t}"
        );
        assert!(
            t.contains("The 30 most similar past market states (25 of BTCUSDT, 5 of other symbols"),
            "{t}"
        );
        assert!(t.contains("2024-01-01 00:00 UTC (-0.40%)"), "{t}");
        assert!(
            t.contains("\"Spot ETF inflows hit a record\" (news, sentiment +0.60)"),
            "{t}"
        );
        assert!(t.contains(&format!("{:.0}% confidence", rec.confidence * 100.0)));
        let mut empty = ev.clone();
        empty.documents.clear();
        assert!(template_reasoning(&rec, &empty).contains("No news or backtest documents matched"));
    }

    #[test]
    fn prompt_carries_the_evidence_and_the_rule() {
        let (rec, ev) = sample();
        let p = user_prompt(&rec, &ev);
        assert!(p.contains("do NOT change any number"));
        assert!(p.contains("- action: BUY"));
        assert!(p.contains(&format!("- confidence: {:.4}", rec.confidence)));
        assert!(p.contains("2024-01-01 01:00 UTC BTCUSDT d=0.210 return +1.20%"));
        assert!(p.contains("\"Spot ETF inflows hit a record\""));
        assert!(p.contains("Net inflows reached $1.1bn"));
        assert!(SYSTEM_PROMPT.contains("must NOT change"));
    }

    fn client(uri: String, timeout_ms: u64) -> LlmClient {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut cfg = LlmConfig::new(uri, "qwen2.5:7b");
        cfg.timeout = Duration::from_millis(timeout_ms);
        LlmClient::new(&cfg).unwrap()
    }

    #[tokio::test]
    async fn the_model_gets_the_evidence_and_its_text_is_the_reasoning() {
        let (rec, ev) = sample();
        let server = MockServer::start().await;
        let conf = format!("{:.4}", rec.confidence);
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .and(move |req: &Request| {
                let body: serde_json::Value = match serde_json::from_slice(&req.body) {
                    Ok(b) => b,
                    Err(_) => return false,
                };
                let user = body["messages"][1]["content"].as_str().unwrap_or("");
                body["messages"][0]["role"] == "system"
                    && body["messages"][1]["role"] == "user"
                    && body["temperature"] == 0.0
                    && user.contains("Spot ETF inflows hit a record")
                    && user.contains("2024-01-01 00:00 UTC BTCUSDT")
                    && user.contains(&format!("- confidence: {conf}"))
                    && user.contains("do NOT change any number")
            })
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "id": "chatcmpl-174", "object": "chat.completion", "created": 1764405566,
                "model": "qwen2.5:7b", "system_fingerprint": "fp_ollama",
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant",
                    "content": "Similar setups mostly rose, and ETF inflows support the BUY."}}],
                "usage": {"prompt_tokens": 16, "completion_tokens": 24, "total_tokens": 40}
            })))
            .expect(1)
            .mount(&server)
            .await;
        let c = client(server.uri(), 2_000);
        let r = write_reasoning(Some(&c), &rec, &ev).await;
        assert_eq!(r.source, ReasoningSource::Llm);
        assert_eq!(
            r.text,
            "Similar setups mostly rose, and ETF inflows support the BUY."
        );
        assert_eq!(r.fallback_reason, None);
    }

    #[tokio::test]
    async fn a_slow_or_broken_model_falls_back_to_the_template() {
        let (rec, ev) = sample();
        let server = MockServer::start().await;
        Mock::given(path("/slow/v1/chat/completions"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
            .mount(&server)
            .await;
        Mock::given(path("/down/v1/chat/completions"))
            .respond_with(ResponseTemplate::new(500))
            .mount(&server)
            .await;
        for (p, why) in [("slow", "did not answer within"), ("down", "answered 500")] {
            let c = client(format!("{}/{p}", server.uri()), 300);
            let r = write_reasoning(Some(&c), &rec, &ev).await;
            assert_eq!(r.source, ReasoningSource::Template);
            assert_eq!(r.text, template_reasoning(&rec, &ev));
            assert!(r.fallback_reason.as_deref().unwrap().contains(why), "{r:?}");
        }
        let r = write_reasoning(None, &rec, &ev).await;
        assert_eq!(
            (r.source, r.fallback_reason),
            (ReasoningSource::Template, None)
        );
        assert_eq!(
            serde_json::to_string(&ReasoningSource::Llm).unwrap(),
            "\"llm\""
        );
    }
}
