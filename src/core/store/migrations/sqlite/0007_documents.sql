-- fks store, version 7: knowledge documents (backtest results, past signals with their
-- outcomes, closed trades) with full-text search.
CREATE TABLE documents (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    kind     TEXT    NOT NULL,
    ref      TEXT    NOT NULL,
    symbol   TEXT,
    title    TEXT    NOT NULL,
    body     TEXT    NOT NULL,
    time_ms  INTEGER NOT NULL,
    UNIQUE (kind, ref)
);
CREATE INDEX documents_symbol_time ON documents (symbol, time_ms);
CREATE VIRTUAL TABLE documents_fts USING fts5 (title, body, content = 'documents', content_rowid = 'id');
CREATE TRIGGER documents_ai AFTER INSERT ON documents BEGIN
    INSERT INTO documents_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
END;
CREATE TRIGGER documents_ad AFTER DELETE ON documents BEGIN
    INSERT INTO documents_fts (documents_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
END;
