-- fks store, version 11: the valuation each balance snapshot was made from (cash, every
-- position marked once, margin, equity, fees), so jobs that do not call the exchange read the
-- same figures as sync-account-balance. Keyed by the snapshot's id (no foreign key: archiving
-- balance history must not be blocked; an orphan valuation is simply never read).
CREATE TABLE account_valuations (
    balance_id  BIGINT PRIMARY KEY,
    account_id  BIGINT NOT NULL,
    time_ms     BIGINT NOT NULL,
    valuation   TEXT   NOT NULL
);
CREATE INDEX account_valuations_account_time ON account_valuations (account_id, time_ms);
