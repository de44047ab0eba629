-- A status column with a default: on PostgreSQL 11+ this is a metadata-only change,
-- so it does not rewrite the table.
ALTER TABLE orders
    ADD COLUMN status text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'paid', 'shipped', 'cancelled'));
