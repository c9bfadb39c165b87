-- fks store, version 3: the notification outbox, news with full-text search, archive manifest.
CREATE TABLE notifications (
    id              BIGSERIAL PRIMARY KEY,
    kind            TEXT    NOT NULL,
    title           TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    fields          TEXT    NOT NULL DEFAULT '[]',
    color           BIGINT,
    urgent          BIGINT  NOT NULL DEFAULT 0,
    dedup_key       TEXT,
    attachment_path TEXT,
    status          TEXT    NOT NULL,
    created_ms      BIGINT  NOT NULL,
    updated_ms      BIGINT  NOT NULL
);
CREATE INDEX notifications_status ON notifications (status, created_ms);
CREATE INDEX notifications_dedup ON notifications (dedup_key, created_ms);

CREATE TABLE notification_deliveries (
    notification_id  BIGINT  NOT NULL REFERENCES notifications (id),
    channel          TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    attempts         BIGINT  NOT NULL DEFAULT 0,
    parts_sent       BIGINT  NOT NULL DEFAULT 0,
    remote_id        TEXT,
    last_error       TEXT,
    updated_ms       BIGINT  NOT NULL,
    PRIMARY KEY (notification_id, channel)
);

CREATE TABLE news (
    id            BIGSERIAL PRIMARY KEY,
    item_id       TEXT    NOT NULL UNIQUE,
    source        TEXT    NOT NULL,
    title         TEXT    NOT NULL,
    link          TEXT,
    summary       TEXT    NOT NULL,
    published_ms  BIGINT,
    fetched_ms    BIGINT  NOT NULL,
    symbols       TEXT    NOT NULL,
    categories    TEXT    NOT NULL,
    sentiment     DOUBLE PRECISION NOT NULL,
    search        tsvector GENERATED ALWAYS AS (to_tsvector('english', title || ' ' || summary)) STORED
);
CREATE INDEX news_published ON news (published_ms);
CREATE INDEX news_search ON news USING GIN (search);

CREATE TABLE archives (
    id          BIGSERIAL PRIMARY KEY,
    table_name  TEXT    NOT NULL,
    month       TEXT    NOT NULL,
    from_ms     BIGINT  NOT NULL,
    to_ms       BIGINT  NOT NULL,
    rows        BIGINT  NOT NULL,
    path        TEXT    NOT NULL,
    sha256      TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    created_ms  BIGINT  NOT NULL
);
