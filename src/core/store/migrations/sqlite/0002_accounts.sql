-- fks store, version 2: accounts, the paper exchange, positions, fills, balance history.
CREATE TABLE accounts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL UNIQUE,
    kind            TEXT    NOT NULL,
    quote           TEXT    NOT NULL DEFAULT 'USDT',
    active          INTEGER NOT NULL DEFAULT 1,
    initial_cash    TEXT    NOT NULL DEFAULT '0',
    baseline        TEXT,
    fee_rate        TEXT    NOT NULL DEFAULT '0.001',
    slippage_bps    TEXT    NOT NULL DEFAULT '0',
    api_key_env     TEXT,
    api_secret_env  TEXT,
    created_ms      INTEGER NOT NULL
);

-- Paper accounts: wallet balance (cash plus realized PnL minus fees), in the quote currency.
CREATE TABLE paper_wallets (
    account_id  INTEGER PRIMARY KEY REFERENCES accounts (id),
    balance     TEXT    NOT NULL,
    updated_ms  INTEGER NOT NULL
);

CREATE TABLE positions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      INTEGER NOT NULL REFERENCES accounts (id),
    symbol          TEXT    NOT NULL,
    side            TEXT    NOT NULL,
    quantity        TEXT    NOT NULL,
    entry_price     TEXT    NOT NULL,
    current_price   TEXT,
    unrealized_pnl  TEXT,
    pnl_pct         REAL,
    leverage        TEXT,
    stop_loss       TEXT,
    take_profit     TEXT,
    price_time      INTEGER,
    status          TEXT    NOT NULL DEFAULT 'open',
    opened_ms       INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL,
    closed_ms       INTEGER
);
CREATE UNIQUE INDEX positions_open ON positions (account_id, symbol) WHERE status = 'open';

CREATE TABLE fills (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id       INTEGER NOT NULL REFERENCES accounts (id),
    client_order_id  TEXT,
    symbol           TEXT    NOT NULL,
    side             TEXT    NOT NULL,
    quantity         TEXT    NOT NULL,
    price            TEXT    NOT NULL,
    fee              TEXT    NOT NULL,
    fee_asset        TEXT    NOT NULL,
    realized_pnl     TEXT    NOT NULL,
    time_ms          INTEGER NOT NULL
);
CREATE INDEX fills_account_time ON fills (account_id, time_ms);

CREATE TABLE balance_history (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id        INTEGER NOT NULL REFERENCES accounts (id),
    time_ms           INTEGER NOT NULL,
    balance           TEXT    NOT NULL,
    equity            TEXT    NOT NULL,
    unrealized_pnl    TEXT    NOT NULL,
    margin_used       TEXT    NOT NULL,
    margin_available  TEXT    NOT NULL,
    daily_pnl         TEXT    NOT NULL,
    cumulative_pnl    TEXT    NOT NULL
);
CREATE INDEX balance_history_account_time ON balance_history (account_id, time_ms);
