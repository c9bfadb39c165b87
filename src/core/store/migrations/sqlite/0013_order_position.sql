-- fks store, version 13: an order that closes a position names it, so a position is closed
-- once: while one close of it is in flight (new, sent, unknown, or not final on the
-- exchange), no second close can be journaled (the unique index holds this even for two
-- jobs at once), and a filled close is "already done" until the position is read again
-- from the exchange (see orders::journal_close).
ALTER TABLE orders ADD COLUMN position_id INTEGER;
CREATE UNIQUE INDEX orders_one_close_in_flight ON orders (position_id)
    WHERE position_id IS NOT NULL
      AND status IN ('new', 'sent', 'unknown', 'new_on_exchange', 'partially_filled');
CREATE INDEX orders_position ON orders (position_id);
