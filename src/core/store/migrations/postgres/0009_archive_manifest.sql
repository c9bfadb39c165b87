-- fks store, version 9: the archive manifest is written before each file. A row is
-- 'pending' (committed before the file is written) until the transaction that deletes the
-- archived rows marks it 'done'; only this store's pending rows are ever cleaned up. The
-- store id (kv 'store_id', made on first use by store::identity::store_id) tells stores
-- apart, also in archive file names.
ALTER TABLE archives ADD COLUMN store_id TEXT;
ALTER TABLE archives ADD COLUMN file_name TEXT;
ALTER TABLE archives ADD COLUMN host TEXT;
UPDATE archives SET status = 'done' WHERE status = 'verified';
CREATE INDEX archives_status ON archives (status, store_id);
CREATE INDEX archives_sha256 ON archives (sha256);
