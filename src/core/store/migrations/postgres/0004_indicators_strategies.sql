-- fks store, version 4: indicator cache and state, strategies, backtest results.
CREATE TABLE indicators (
    symbol       TEXT    NOT NULL,
    timeframe    TEXT    NOT NULL,
    open_time    BIGINT  NOT NULL,
    rsi14        DOUBLE PRECISION,
    macd         DOUBLE PRECISION,
    macd_signal  DOUBLE PRECISION,
    macd_hist    DOUBLE PRECISION,
    bb_upper     DOUBLE PRECISION,
    bb_middle    DOUBLE PRECISION,
    bb_lower     DOUBLE PRECISION,
    atr14        DOUBLE PRECISION,
    sma20        DOUBLE PRECISION,
    sma50        DOUBLE PRECISION,
    sma200       DOUBLE PRECISION,
    ema12        DOUBLE PRECISION,
    ema26        DOUBLE PRECISION,
    PRIMARY KEY (symbol, timeframe, open_time)
);

CREATE TABLE indicator_state (
    symbol          TEXT    NOT NULL,
    timeframe       TEXT    NOT NULL,
    last_open_time  BIGINT  NOT NULL,
    bars            BIGINT  NOT NULL,
    state           TEXT    NOT NULL,
    updated_ms      BIGINT  NOT NULL,
    PRIMARY KEY (symbol, timeframe)
);

CREATE TABLE strategies (
    id               BIGSERIAL PRIMARY KEY,
    name             TEXT    NOT NULL UNIQUE,
    kind             TEXT    NOT NULL,
    spec             TEXT    NOT NULL,
    symbols          TEXT    NOT NULL,
    timeframe        TEXT    NOT NULL,
    enabled          BIGINT  NOT NULL DEFAULT 1,
    disabled_reason  TEXT,
    disabled_ms      BIGINT,
    created_ms       BIGINT  NOT NULL,
    updated_ms       BIGINT  NOT NULL
);

CREATE TABLE backtest_results (
    id           BIGSERIAL PRIMARY KEY,
    strategy_id  BIGINT,
    run_id       BIGINT,
    kind         TEXT    NOT NULL,
    symbol       TEXT    NOT NULL,
    timeframe    TEXT    NOT NULL,
    phase        TEXT    NOT NULL,
    params       TEXT    NOT NULL,
    from_ms      BIGINT,
    to_ms        BIGINT,
    metrics      TEXT    NOT NULL,
    created_ms   BIGINT  NOT NULL
);
CREATE INDEX backtest_results_strategy ON backtest_results (strategy_id, created_ms);
