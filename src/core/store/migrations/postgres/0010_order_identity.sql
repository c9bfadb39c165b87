-- fks store, version 10: when each order was journaled by the exchange's clock (local clock
-- plus the measured offset), so reconciliation can tell an order made before it for the one
-- journaled. Client order ids are random from this version on (see execution/ids.rs); the
-- store's own id is kept in kv under 'store_id'.
ALTER TABLE orders ADD COLUMN exchange_time_ms BIGINT;
