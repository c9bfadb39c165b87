//! Flag groups several subcommands share, included with `#[command(flatten)]`, so a flag
//! reads and is documented the same everywhere. Only flags whose help text is the same in
//! every command that has them are grouped.

use crate::core::market::Timeframe;

/// `--account-id`: one account, or every active account.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct AccountFilter {
    /// Only this account (default: every active account).
    #[arg(long)]
    pub account_id: Option<i64>,
}

/// `--timeframe`, defaulting to `market.timeframe`.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct TimeframeFlag {
    /// Candle interval (1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w; default: market.timeframe).
    #[arg(long)]
    pub timeframe: Option<Timeframe>,
}

#[cfg(test)]
mod tests {
    /// The grouped flags keep their names and help in every subcommand that has them.
    #[test]
    fn grouped_flags_keep_their_help() {
        let mut cmd = crate::cli::command();
        cmd.build();
        let help = |sub: &str, id: &str| {
            let s = cmd.find_subcommand(sub).unwrap();
            let a = s.get_arguments().find(|a| a.get_id() == id).unwrap();
            assert_eq!(a.get_long(), Some(id.replace('_', "-").as_str()));
            a.get_help().map(|h| h.to_string()).unwrap_or_default()
        };
        for sub in ["analyze-risk", "calculate-metrics", "generate-report"] {
            assert_eq!(
                help(sub, "account_id"),
                // clap drops the full stop of a one-sentence doc comment
                "Only this account (default: every active account)"
            );
        }
        for sub in ["candles", "indicators"] {
            assert_eq!(
                help(sub, "timeframe"),
                "Candle interval (1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w; default: market.timeframe)"
            );
        }
    }
}
