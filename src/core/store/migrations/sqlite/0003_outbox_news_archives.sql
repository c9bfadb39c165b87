-- fks store, version 3: the notification outbox, news with full-text search, archive manifest.
CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT    NOT NULL,
    title           TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    fields          TEXT    NOT NULL DEFAULT '[]',
    color           INTEGER,
    urgent          INTEGER NOT NULL DEFAULT 0,
    dedup_key       TEXT,
    attachment_path TEXT,
    status          TEXT    NOT NULL,
    created_ms      INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL
);
CREATE INDEX notifications_status ON notifications (status, created_ms);
CREATE INDEX notifications_dedup ON notifications (dedup_key, created_ms);

CREATE TABLE notification_deliveries (
    notification_id  INTEGER NOT NULL REFERENCES notifications (id),
    channel          TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    parts_sent       INTEGER NOT NULL DEFAULT 0,
    remote_id        TEXT,
    last_error       TEXT,
    updated_ms       INTEGER NOT NULL,
    PRIMARY KEY (notification_id, channel)
);

CREATE TABLE news (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id       TEXT    NOT NULL UNIQUE,
    source        TEXT    NOT NULL,
    title         TEXT    NOT NULL,
    link          TEXT,
    summary       TEXT    NOT NULL,
    published_ms  INTEGER,
    fetched_ms    INTEGER NOT NULL,
    symbols       TEXT    NOT NULL,
    categories    TEXT    NOT NULL,
    sentiment     REAL    NOT NULL
);
CREATE INDEX news_published ON news (published_ms);
CREATE VIRTUAL TABLE news_fts USING fts5 (title, summary, content = 'news', content_rowid = 'id');
CREATE TRIGGER news_ai AFTER INSERT ON news BEGIN
    INSERT INTO news_fts (rowid, title, summary) VALUES (new.id, new.title, new.summary);
END;
CREATE TRIGGER news_ad AFTER DELETE ON news BEGIN
    INSERT INTO news_fts (news_fts, rowid, title, summary) VALUES ('delete', old.id, old.title, old.summary);
END;

CREATE TABLE archives (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    table_name  TEXT    NOT NULL,
    month       TEXT    NOT NULL,
    from_ms     INTEGER NOT NULL,
    to_ms       INTEGER NOT NULL,
    rows        INTEGER NOT NULL,
    path        TEXT    NOT NULL,
    sha256      TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    created_ms  INTEGER NOT NULL
);
