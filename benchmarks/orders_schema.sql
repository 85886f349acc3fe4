-- The benchmark table, loaded deterministically with :rows rows (ids 1..rows).
-- Used by scripts/bench to fill the template database once per size.
CREATE TABLE orders (
  id bigserial PRIMARY KEY,
  customer_id bigint NOT NULL,
  status text NOT NULL,
  amount numeric(12,2) NOT NULL,
  note text,
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO orders (id, customer_id, status, amount, note, created_at)
SELECT i,
       (i * 7919) % 200000 + 1,
       (ARRAY['new', 'paid', 'shipped', 'delivered', 'cancelled'])[1 + i % 5],
       ((i * 104729) % 1000000) / 100.0,
       CASE WHEN i % 4 = 0 THEN NULL ELSE 'order note ' || md5(i::text) END,
       timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second'
FROM generate_series(1::bigint, :rows) AS i;
SELECT setval('orders_id_seq', :rows);
CREATE INDEX orders_customer_id_idx ON orders (customer_id);
CREATE INDEX orders_status_created_at_idx ON orders (status, created_at);
VACUUM ANALYZE orders;
CREATE EXTENSION pg_repack;
