-- fks store, version 1: market data, sync status, run journal, locks, key/value state.
CREATE TABLE candles (
    symbol     TEXT   NOT NULL,
    timeframe  TEXT   NOT NULL,
    open_time  BIGINT NOT NULL,
    open       TEXT   NOT NULL,
    high       TEXT   NOT NULL,
    low        TEXT   NOT NULL,
    close      TEXT   NOT NULL,
    volume     TEXT   NOT NULL,
    PRIMARY KEY (symbol, timeframe, open_time)
);

CREATE TABLE sync_status (
    symbol          TEXT   NOT NULL,
    timeframe       TEXT   NOT NULL,
    last_sync_ms    BIGINT NOT NULL,
    last_open_time  BIGINT,
    status          TEXT   NOT NULL,
    error           TEXT,
    PRIMARY KEY (symbol, timeframe)
);

CREATE TABLE task_runs (
    id          BIGSERIAL PRIMARY KEY,
    task        TEXT   NOT NULL,
    args        TEXT   NOT NULL,
    started_ms  BIGINT NOT NULL,
    ended_ms    BIGINT,
    status      TEXT   NOT NULL,
    result      TEXT,
    error       TEXT,
    host        TEXT   NOT NULL,
    pid         BIGINT NOT NULL
);
CREATE INDEX task_runs_task_started ON task_runs (task, started_ms);

CREATE TABLE locks (
    name         TEXT   PRIMARY KEY,
    holder       TEXT   NOT NULL,
    host         TEXT   NOT NULL,
    pid          BIGINT NOT NULL,
    acquired_ms  BIGINT NOT NULL,
    expires_ms   BIGINT NOT NULL
);

CREATE TABLE kv (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_ms  BIGINT NOT NULL
);
