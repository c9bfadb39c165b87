-- fks store, version 6: the knowledge base (market-state snapshots with their realised
-- outcomes) and stored signals.
CREATE TABLE knowledge_states (
    symbol       TEXT    NOT NULL,
    timeframe    TEXT    NOT NULL,
    open_time    INTEGER NOT NULL,
    features     TEXT    NOT NULL,
    outcome_ret  REAL,
    outcome_mae  REAL,
    outcome_mfe  REAL,
    known_at     INTEGER,
    PRIMARY KEY (symbol, timeframe, open_time)
) WITHOUT ROWID;
CREATE INDEX knowledge_known ON knowledge_states (timeframe, known_at);

CREATE TABLE signals (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id            INTEGER,
    account_id        INTEGER,
    job               TEXT    NOT NULL,
    symbol            TEXT    NOT NULL,
    timeframe         TEXT    NOT NULL,
    as_of_ms          INTEGER NOT NULL,
    method            TEXT    NOT NULL,
    action            TEXT    NOT NULL,
    confidence        REAL    NOT NULL,
    price             REAL    NOT NULL,
    horizon           INTEGER NOT NULL,
    expected_return   REAL,
    sources_used      INTEGER NOT NULL,
    position_size_usd REAL,
    stop_loss         REAL,
    reasoning         TEXT    NOT NULL,
    reasoning_source  TEXT    NOT NULL,
    details           TEXT    NOT NULL,
    outcome_ret       REAL,
    outcome_ms        INTEGER,
    created_ms        INTEGER NOT NULL
);
CREATE INDEX signals_symbol_asof ON signals (symbol, as_of_ms);
