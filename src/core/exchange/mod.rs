//! Exchanges: Binance spot and USD-M futures over REST.
