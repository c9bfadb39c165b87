-- fks store, version 15: evaluate-signals results, one row per symbol and run. Signals carry
-- the latest row's measured skill, and decide with its calibration (fitted only on decisions
-- resolved by through_ms, so a replay uses the rows with through_ms <= its --as-of).
CREATE TABLE signal_evaluations (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id              INTEGER,
    symbol              TEXT    NOT NULL,
    timeframe           TEXT    NOT NULL,
    horizon             INTEGER NOT NULL,
    step                INTEGER NOT NULL,
    through_ms          INTEGER NOT NULL,
    decisions           INTEGER NOT NULL,
    directional         INTEGER NOT NULL,
    brier_skill_score   REAL,
    bss_low             REAL,
    bss_high            REAL,
    ece                 REAL,
    all_brier_skill_score REAL,
    all_ece             REAL,
    skill_demonstrated  INTEGER NOT NULL,
    skill_summary       TEXT    NOT NULL,
    verdict             TEXT    NOT NULL,
    calibration         TEXT    NOT NULL,
    details             TEXT    NOT NULL,
    created_ms          INTEGER NOT NULL
);
CREATE INDEX signal_evaluations_symbol ON signal_evaluations (symbol, timeframe, horizon, through_ms);
