\set k random(1, :maxid)
\set c random(1, 5000)
BEGIN;
SELECT nextval('orders_id_seq') AS nid \gset
INSERT INTO orders (id, customer_id, status, amount) VALUES (:nid, :c, 'multi', 1.00);
INSERT INTO truth (id, customer_id, status, amount, note, created_at) SELECT id, customer_id, status, amount, note, created_at FROM orders WHERE id = :nid;
UPDATE orders SET status = 'shipped' WHERE id = :k;
UPDATE truth SET status = 'shipped' WHERE id = :k;
DELETE FROM orders WHERE id = :k + 1;
DELETE FROM truth WHERE id = :k + 1;
END;
