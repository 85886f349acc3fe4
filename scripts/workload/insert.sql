\set c random(1, 5000)
\set a random(1, 100000)
BEGIN;
SELECT nextval('orders_id_seq') AS nid \gset
INSERT INTO orders (id, customer_id, status, amount, note) VALUES (:nid, :c, 'new', :a / 100.0, NULL);
INSERT INTO truth (id, customer_id, status, amount, note, created_at) SELECT id, customer_id, status, amount, note, created_at FROM orders WHERE id = :nid;
END;
