-- fks store, version 8: gaps found by the last sync, reused when a sync stores nothing new.
ALTER TABLE sync_status ADD COLUMN gaps TEXT;
