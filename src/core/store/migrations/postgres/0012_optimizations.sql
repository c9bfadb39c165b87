-- fks store, version 12: an optimisation (run-backtest --optimize) is stored as a result of
-- its own; the strategy's parameters change only when it is applied (--apply, validated out
-- of sample). Its grid, in-sample and out-of-sample rows in backtest_results point to it.
CREATE TABLE optimizations (
    id               BIGSERIAL PRIMARY KEY,
    run_id           BIGINT,
    strategy_id      BIGINT,
    kind             TEXT    NOT NULL,
    timeframe        TEXT    NOT NULL,
    symbols          TEXT    NOT NULL,
    objective        TEXT    NOT NULL,
    grid             TEXT    NOT NULL,
    train_ratio      DOUBLE PRECISION,
    grid_size        BIGINT  NOT NULL,
    combinations     BIGINT  NOT NULL,
    runs_stored      BIGINT  NOT NULL,
    params           TEXT,
    summary          TEXT    NOT NULL,
    verdict          TEXT    NOT NULL,
    apply_requested  BIGINT  NOT NULL DEFAULT 0,
    applied          BIGINT  NOT NULL DEFAULT 0,
    apply_reasons    TEXT    NOT NULL DEFAULT '[]',
    created_ms       BIGINT  NOT NULL
);
CREATE INDEX optimizations_strategy ON optimizations (strategy_id, created_ms);
ALTER TABLE backtest_results ADD COLUMN optimization_id BIGINT;
CREATE INDEX backtest_results_optimization ON backtest_results (optimization_id);
