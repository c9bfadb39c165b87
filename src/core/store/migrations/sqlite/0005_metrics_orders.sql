-- fks store, version 5: stored account metrics, the order journal, exchange rules cache,
-- stop specifications, portfolio targets.
CREATE TABLE account_metrics (
    account_id   INTEGER NOT NULL REFERENCES accounts (id),
    date         TEXT    NOT NULL,
    period_days  INTEGER NOT NULL,
    status       TEXT    NOT NULL,
    metrics      TEXT    NOT NULL,
    created_ms   INTEGER NOT NULL,
    PRIMARY KEY (account_id, date, period_days)
);

CREATE TABLE orders (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id         INTEGER NOT NULL REFERENCES accounts (id),
    run_id             INTEGER,
    client_order_id    TEXT    NOT NULL UNIQUE,
    symbol             TEXT    NOT NULL,
    side               TEXT    NOT NULL,
    type               TEXT    NOT NULL,
    quantity           TEXT    NOT NULL,
    price              TEXT,
    status             TEXT    NOT NULL,
    exchange_order_id  TEXT,
    filled_qty         TEXT,
    avg_price          TEXT,
    fee                TEXT,
    fee_asset          TEXT,
    reason             TEXT    NOT NULL,
    error              TEXT,
    created_ms         INTEGER NOT NULL,
    updated_ms         INTEGER NOT NULL
);
CREATE INDEX orders_account_created ON orders (account_id, created_ms);

CREATE TABLE symbol_rules (
    market      TEXT    NOT NULL,
    symbol      TEXT    NOT NULL,
    info        TEXT    NOT NULL,
    fetched_ms  INTEGER NOT NULL,
    PRIMARY KEY (market, symbol)
);

ALTER TABLE positions ADD COLUMN stop_spec TEXT;

CREATE TABLE portfolio_targets (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  INTEGER NOT NULL REFERENCES accounts (id),
    method      TEXT    NOT NULL,
    targets     TEXT    NOT NULL,
    created_ms  INTEGER NOT NULL
);
