-- fks store, version 7: knowledge documents (backtest results, past signals with their
-- outcomes, closed trades) with full-text search.
CREATE TABLE documents (
    id       BIGSERIAL PRIMARY KEY,
    kind     TEXT    NOT NULL,
    ref      TEXT    NOT NULL,
    symbol   TEXT,
    title    TEXT    NOT NULL,
    body     TEXT    NOT NULL,
    time_ms  BIGINT  NOT NULL,
    search   tsvector GENERATED ALWAYS AS (to_tsvector('simple', title || ' ' || body)) STORED,
    UNIQUE (kind, ref)
);
CREATE INDEX documents_symbol_time ON documents (symbol, time_ms);
CREATE INDEX documents_search ON documents USING GIN (search);
