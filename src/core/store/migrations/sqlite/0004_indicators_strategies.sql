-- fks store, version 4: indicator cache and state, strategies, backtest results.
CREATE TABLE indicators (
    symbol       TEXT    NOT NULL,
    timeframe    TEXT    NOT NULL,
    open_time    INTEGER NOT NULL,
    rsi14        REAL,
    macd         REAL,
    macd_signal  REAL,
    macd_hist    REAL,
    bb_upper     REAL,
    bb_middle    REAL,
    bb_lower     REAL,
    atr14        REAL,
    sma20        REAL,
    sma50        REAL,
    sma200       REAL,
    ema12        REAL,
    ema26        REAL,
    PRIMARY KEY (symbol, timeframe, open_time)
) WITHOUT ROWID;

CREATE TABLE indicator_state (
    symbol          TEXT    NOT NULL,
    timeframe       TEXT    NOT NULL,
    last_open_time  INTEGER NOT NULL,
    bars            INTEGER NOT NULL,
    state           TEXT    NOT NULL,
    updated_ms      INTEGER NOT NULL,
    PRIMARY KEY (symbol, timeframe)
);

CREATE TABLE strategies (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT    NOT NULL UNIQUE,
    kind             TEXT    NOT NULL,
    spec             TEXT    NOT NULL,
    symbols          TEXT    NOT NULL,
    timeframe        TEXT    NOT NULL,
    enabled          INTEGER NOT NULL DEFAULT 1,
    disabled_reason  TEXT,
    disabled_ms      INTEGER,
    created_ms       INTEGER NOT NULL,
    updated_ms       INTEGER NOT NULL
);

CREATE TABLE backtest_results (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    strategy_id  INTEGER,
    run_id       INTEGER,
    kind         TEXT    NOT NULL,
    symbol       TEXT    NOT NULL,
    timeframe    TEXT    NOT NULL,
    phase        TEXT    NOT NULL,
    params       TEXT    NOT NULL,
    from_ms      INTEGER,
    to_ms        INTEGER,
    metrics      TEXT    NOT NULL,
    created_ms   INTEGER NOT NULL
);
CREATE INDEX backtest_results_strategy ON backtest_results (strategy_id, created_ms);
