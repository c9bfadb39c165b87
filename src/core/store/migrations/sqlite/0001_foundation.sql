-- fks store, version 1: market data, sync status, run journal, locks, key/value state.
CREATE TABLE candles (
    symbol     TEXT    NOT NULL,
    timeframe  TEXT    NOT NULL,
    open_time  INTEGER NOT NULL,
    open       TEXT    NOT NULL,
    high       TEXT    NOT NULL,
    low        TEXT    NOT NULL,
    close      TEXT    NOT NULL,
    volume     TEXT    NOT NULL,
    PRIMARY KEY (symbol, timeframe, open_time)
) WITHOUT ROWID;

CREATE TABLE sync_status (
    symbol          TEXT    NOT NULL,
    timeframe       TEXT    NOT NULL,
    last_sync_ms    INTEGER NOT NULL,
    last_open_time  INTEGER,
    status          TEXT    NOT NULL,
    error           TEXT,
    PRIMARY KEY (symbol, timeframe)
);

CREATE TABLE task_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    task        TEXT    NOT NULL,
    args        TEXT    NOT NULL,
    started_ms  INTEGER NOT NULL,
    ended_ms    INTEGER,
    status      TEXT    NOT NULL,
    result      TEXT,
    error       TEXT,
    host        TEXT    NOT NULL,
    pid         INTEGER NOT NULL
);
CREATE INDEX task_runs_task_started ON task_runs (task, started_ms);

CREATE TABLE locks (
    name         TEXT    PRIMARY KEY,
    holder       TEXT    NOT NULL,
    host         TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    acquired_ms  INTEGER NOT NULL,
    expires_ms   INTEGER NOT NULL
);

CREATE TABLE kv (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_ms  INTEGER NOT NULL
);
