\set k random(1, :maxid)
\set a random(1, 100000)
BEGIN;
UPDATE orders SET status = 'paid', amount = :a / 100.0 WHERE id = :k;
UPDATE truth SET status = 'paid', amount = :a / 100.0 WHERE id = :k;
END;
