-- fks store, version 6: the knowledge base (market-state snapshots with their realised
-- outcomes) and stored signals.
CREATE TABLE knowledge_states (
    symbol       TEXT    NOT NULL,
    timeframe    TEXT    NOT NULL,
    open_time    BIGINT  NOT NULL,
    features     TEXT    NOT NULL,
    outcome_ret  DOUBLE PRECISION,
    outcome_mae  DOUBLE PRECISION,
    outcome_mfe  DOUBLE PRECISION,
    known_at     BIGINT,
    PRIMARY KEY (symbol, timeframe, open_time)
);
CREATE INDEX knowledge_known ON knowledge_states (timeframe, known_at);

CREATE TABLE signals (
    id                BIGSERIAL PRIMARY KEY,
    run_id            BIGINT,
    account_id        BIGINT,
    job               TEXT    NOT NULL,
    symbol            TEXT    NOT NULL,
    timeframe         TEXT    NOT NULL,
    as_of_ms          BIGINT  NOT NULL,
    method            TEXT    NOT NULL,
    action            TEXT    NOT NULL,
    confidence        DOUBLE PRECISION    NOT NULL,
    price             DOUBLE PRECISION    NOT NULL,
    horizon           BIGINT  NOT NULL,
    expected_return   DOUBLE PRECISION,
    sources_used      BIGINT  NOT NULL,
    position_size_usd DOUBLE PRECISION,
    stop_loss         DOUBLE PRECISION,
    reasoning         TEXT    NOT NULL,
    reasoning_source  TEXT    NOT NULL,
    details           TEXT    NOT NULL,
    outcome_ret       DOUBLE PRECISION,
    outcome_ms        BIGINT,
    created_ms        BIGINT  NOT NULL
);
CREATE INDEX signals_symbol_asof ON signals (symbol, as_of_ms);
