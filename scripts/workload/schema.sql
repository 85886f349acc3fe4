-- The sample table and its truth mirror. psql variable :rows sets the size.
DROP TABLE IF EXISTS orders, truth, _orders_old;
CREATE TABLE orders (
  id serial PRIMARY KEY,
  customer_id int NOT NULL,
  status text NOT NULL,
  amount numeric(12,2) NOT NULL,
  note text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_customer_idx ON orders (customer_id);
CREATE TABLE truth (
  id int PRIMARY KEY,
  customer_id int NOT NULL,
  status text NOT NULL,
  amount numeric(12,2) NOT NULL,
  note text,
  created_at timestamptz NOT NULL
);
INSERT INTO orders (customer_id, status, amount, note)
SELECT i % 5000, (ARRAY['new','paid','shipped'])[1 + i % 3], (i % 100000) / 100.0,
       CASE WHEN i % 500 = 0 THEN (SELECT string_agg(md5(i::text || g::text), '') FROM generate_series(1, 2000) g)
            WHEN i % 7 = 0 THEN NULL ELSE 'note ' || i END
FROM generate_series(1, :rows) AS i;
INSERT INTO truth SELECT * FROM orders;
ANALYZE orders;
ANALYZE truth;
