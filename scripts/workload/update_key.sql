\set k random(1, :maxid)
BEGIN;
SELECT nextval('orders_id_seq') AS nid \gset
UPDATE orders SET id = :nid WHERE id = :k;
UPDATE truth SET id = :nid WHERE id = :k;
END;
