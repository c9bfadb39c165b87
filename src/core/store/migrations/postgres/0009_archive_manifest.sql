-- fks store, version 9: the archive manifest is written before each file. A row is
-- 'pending' (committed before the file is written) until the transaction that deletes the
-- archived rows marks it 'done'; only this store's pending rows are ever cleaned up. A store
-- id (in kv) tells stores apart, also in archive file names.
ALTER TABLE archives ADD COLUMN store_id TEXT;
ALTER TABLE archives ADD COLUMN file_name TEXT;
ALTER TABLE archives ADD COLUMN host TEXT;
UPDATE archives SET status = 'done' WHERE status = 'verified';
CREATE INDEX archives_status ON archives (status, store_id);
CREATE INDEX archives_sha256 ON archives (sha256);
INSERT INTO kv (key, value, updated_ms)
    VALUES ('store_id', substr(md5(random()::text || clock_timestamp()::text || pg_backend_pid()::text), 1, 16), 0)
    ON CONFLICT (key) DO NOTHING;
