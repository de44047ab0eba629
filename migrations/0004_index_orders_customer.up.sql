-- stackflow:no-transaction
-- Built CONCURRENTLY so writes to orders are not blocked while the index builds;
-- that cannot run inside a transaction, hence the marker on the first line.
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_id_idx ON orders (customer_id);
