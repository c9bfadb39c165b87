//! Account metrics and reports: pure computation and rendering, no store or network.
//!
//! - [`metrics`]: [`compute_account_metrics`] for `calculate-metrics`.
//! - [`ReportData`]: everything `generate-report` shows, gathered by the command.
//! - Renderers: [`render_markdown`], [`render_html`] (self-contained, inline SVG charts),
//!   [`render_equity_png`] (for a Discord attachment) and [`discord_summary`] (embed fields).

pub mod discord;
pub mod format;
pub mod html;
pub mod markdown;
pub mod metrics;
pub mod png;
pub mod svg;
#[cfg(test)]
mod tests;

pub use discord::{DiscordSummary, discord_summary};
pub use html::render_html;
pub use markdown::render_markdown;
pub use metrics::{
    AccountMetrics, ClosedTrade, DailyPoint, DayReturn, EquityPoint, EquitySnapshot, MetricsStatus,
    Period, compute_account_metrics,
};
pub use png::backtest_chart_png;
pub use png::render_equity_png;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::core::json_num::Money;
use crate::core::market::Symbol;

/// Which report: sets the title and the default period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportType {
    Daily,
    Weekly,
    Monthly,
}

impl ReportType {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportType::Daily => "daily",
            ReportType::Weekly => "weekly",
            ReportType::Monthly => "monthly",
        }
    }

    /// `Daily`, `Weekly`, `Monthly`.
    pub fn title(self) -> &'static str {
        match self {
            ReportType::Daily => "Daily",
            ReportType::Weekly => "Weekly",
            ReportType::Monthly => "Monthly",
        }
    }
}

/// The account the report is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountInfo {
    pub id: Option<i64>,
    pub name: String,
    /// `paper`, `spot`, `futures` …
    pub kind: String,
    /// Quote asset of every amount in the report, e.g. `USDT`.
    pub quote: String,
}

/// Account totals, in the quote asset (money: serialized inside
/// `json_num::InCurrency(quote, ..)`, as the whole report is).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    #[serde(serialize_with = "crate::core::json_num::money_in")]
    pub balance: Decimal,
    /// Balance + unrealized PnL.
    #[serde(serialize_with = "crate::core::json_num::money_in")]
    pub equity: Decimal,
    #[serde(serialize_with = "crate::core::json_num::money_in")]
    pub unrealized_pnl: Decimal,
    /// Realized PnL of trades closed in the report period.
    #[serde(serialize_with = "crate::core::json_num::money_in")]
    pub realized_pnl: Decimal,
    /// PnL of the current UTC day (from balance history).
    #[serde(serialize_with = "crate::core::json_num::money_in")]
    pub daily_pnl: Decimal,
    /// PnL since the account started.
    #[serde(serialize_with = "crate::core::json_num::money_in")]
    pub cumulative_pnl: Decimal,
}

/// One fill (execution) of the account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TradeRow {
    pub time: DateTime<Utc>,
    pub symbol: Symbol,
    /// `BUY` or `SELL`.
    pub side: String,
    pub qty: Decimal,
    pub price: Decimal,
    /// In `fee_asset` (which need not be the quote: BNB).
    pub fee: Money,
    pub fee_asset: String,
    /// Realized by this fill (`null` for a fill that only opened or added).
    #[serde(serialize_with = "crate::core::json_num::money_in_opt")]
    pub realized_pnl: Option<Decimal>,
}

/// One open position, marked to `current_price`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionRow {
    pub symbol: Symbol,
    /// `LONG` or `SHORT`.
    pub side: String,
    pub qty: Decimal,
    pub entry_price: Decimal,
    pub current_price: Decimal,
    #[serde(serialize_with = "crate::core::json_num::money_in")]
    pub unrealized_pnl: Decimal,
    pub pnl_pct: f64,
}

/// Realized (in the period) and unrealized PnL of one symbol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymbolPnl {
    pub symbol: Symbol,
    #[serde(serialize_with = "crate::core::json_num::money_in")]
    pub realized_pnl: Decimal,
    #[serde(serialize_with = "crate::core::json_num::money_in")]
    pub unrealized_pnl: Decimal,
}

impl SymbolPnl {
    pub fn total(&self) -> Decimal {
        self.realized_pnl + self.unrealized_pnl
    }
}

/// An alert or a failed job run from the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRow {
    pub time: DateTime<Utc>,
    /// The job (`check-stop-loss`) or alert kind.
    pub task: String,
    pub message: String,
}

/// Everything a report shows. The command gathers it; the renderers only format it. Its JSON
/// is written inside `json_num::InCurrency(&account.quote, ..)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportData {
    pub report_type: ReportType,
    pub period_from: DateTime<Utc>,
    pub period_to: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
    pub account: AccountInfo,
    pub summary: Summary,
    pub metrics: AccountMetrics,
    /// Newest first; renderers show at most [`MAX_TRADES`].
    pub recent_trades: Vec<TradeRow>,
    pub open_positions: Vec<PositionRow>,
    pub pnl_by_symbol: Vec<SymbolPnl>,
    pub alerts: Vec<EventRow>,
    pub job_failures: Vec<EventRow>,
    /// Positions whose price is stale or missing by the freshness rule when the report was
    /// made (the entries other jobs print for a stale price): the summary's equity and
    /// unrealized PnL, and the open positions, are as of those prices, not current.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stale_prices: Vec<serde_json::Value>,
    /// Warnings shown above everything else (stale prices), in words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Trades shown in a report.
pub const MAX_TRADES: usize = 10;
/// Alerts and job failures shown in a report (each).
pub const MAX_EVENTS: usize = 20;

impl ReportData {
    /// The period's PnL: the equity change over the period when there is history, else the
    /// realized PnL in the period. Decides the Discord colour.
    pub fn period_pnl(&self) -> f64 {
        self.metrics
            .equity_change
            .unwrap_or_else(|| format::dec_to_f64(self.summary.realized_pnl))
    }

    /// `Daily report: <name>`.
    pub fn title(&self) -> String {
        format!("{} report: {}", self.report_type.title(), self.account.name)
    }

    /// `2024-05-01 – 2024-05-07 (UTC)`, or one date for a single day.
    pub fn period_label(&self) -> String {
        let a = self.period_from.date_naive();
        let b = self.period_to.date_naive();
        if a == b {
            format!("{a} (UTC)")
        } else {
            format!("{a} – {b} (UTC)")
        }
    }

    /// Amount decimals for the quote asset.
    pub fn dp(&self) -> u32 {
        format::quote_decimals(&self.account.quote)
    }
}
