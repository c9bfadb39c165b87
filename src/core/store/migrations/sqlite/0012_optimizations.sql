-- fks store, version 12: an optimisation (run-backtest --optimize) is stored as a result of
-- its own; the strategy's parameters change only when it is applied (--apply, validated out
-- of sample). Its grid, in-sample and out-of-sample rows in backtest_results point to it.
CREATE TABLE optimizations (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id           INTEGER,
    strategy_id      INTEGER,
    kind             TEXT    NOT NULL,
    timeframe        TEXT    NOT NULL,
    symbols          TEXT    NOT NULL,
    objective        TEXT    NOT NULL,
    grid             TEXT    NOT NULL,
    train_ratio      REAL,
    grid_size        INTEGER NOT NULL,
    combinations     INTEGER NOT NULL,
    runs_stored      INTEGER NOT NULL,
    params           TEXT,
    summary          TEXT    NOT NULL,
    verdict          TEXT    NOT NULL,
    apply_requested  INTEGER NOT NULL DEFAULT 0,
    applied          INTEGER NOT NULL DEFAULT 0,
    apply_reasons    TEXT    NOT NULL DEFAULT '[]',
    created_ms       INTEGER NOT NULL
);
CREATE INDEX optimizations_strategy ON optimizations (strategy_id, created_ms);
ALTER TABLE backtest_results ADD COLUMN optimization_id INTEGER;
CREATE INDEX backtest_results_optimization ON backtest_results (optimization_id);
