-- fks store, version 16: strategies bound to an account with an allocation (the share of
-- its equity they trade with), and the once-per-bar journal of run-strategies' decisions.
-- (Assigned number 17 for this work; renumbered 15 at the merge after 13 order_position and 14 runs_hosts_shards.)
ALTER TABLE strategies ADD COLUMN account_id BIGINT;
ALTER TABLE strategies ADD COLUMN allocation TEXT;

CREATE TABLE strategy_decisions (
    id              BIGSERIAL PRIMARY KEY,
    strategy_id     BIGINT  NOT NULL,
    account_id      BIGINT  NOT NULL,
    symbol          TEXT    NOT NULL,
    timeframe       TEXT    NOT NULL,
    -- The open time of the closed bar whose close decided.
    bar_ms          BIGINT  NOT NULL,
    -- flat | long | short
    target          TEXT    NOT NULL,
    -- decided (order to place at the next open) | done | no_change | skipped | failed
    status          TEXT    NOT NULL,
    detail          TEXT,
    client_order_id TEXT,
    run_id          BIGINT,
    created_ms      BIGINT  NOT NULL,
    updated_ms      BIGINT  NOT NULL,
    UNIQUE (strategy_id, symbol, bar_ms)
);
CREATE INDEX strategy_decisions_pending ON strategy_decisions (account_id, status);
