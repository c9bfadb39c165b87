-- fks store, version 15: evaluate-signals results, one row per symbol and run. Signals carry
-- the latest row's measured skill, and decide with its calibration (fitted only on decisions
-- resolved by through_ms, so a replay uses the rows with through_ms <= its --as-of).
CREATE TABLE signal_evaluations (
    id                  BIGSERIAL PRIMARY KEY,
    run_id              BIGINT,
    symbol              TEXT    NOT NULL,
    timeframe           TEXT    NOT NULL,
    horizon             BIGINT  NOT NULL,
    step                BIGINT  NOT NULL,
    through_ms          BIGINT  NOT NULL,
    decisions           BIGINT  NOT NULL,
    directional         BIGINT  NOT NULL,
    brier_skill_score   DOUBLE PRECISION,
    bss_low             DOUBLE PRECISION,
    bss_high            DOUBLE PRECISION,
    ece                 DOUBLE PRECISION,
    all_brier_skill_score DOUBLE PRECISION,
    all_ece             DOUBLE PRECISION,
    skill_demonstrated  BIGINT  NOT NULL,
    skill_summary       TEXT    NOT NULL,
    verdict             TEXT    NOT NULL,
    calibration         TEXT    NOT NULL,
    details             TEXT    NOT NULL,
    created_ms          BIGINT  NOT NULL
);
CREATE INDEX signal_evaluations_symbol ON signal_evaluations (symbol, timeframe, horizon, through_ms);
