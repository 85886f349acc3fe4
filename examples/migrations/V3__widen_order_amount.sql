SET lock_timeout = '2s';
-- Bigger orders: more digits before the point (no rewrite), and ids that
-- will outgrow integer (a rewrite).
ALTER TABLE orders ALTER COLUMN amount TYPE numeric(14,2);
ALTER TABLE orders ALTER COLUMN id TYPE bigint;
