\set k random(1, :maxid)
BEGIN;
UPDATE orders SET status = 'rolled back' WHERE id = :k;
UPDATE truth SET status = 'rolled back' WHERE id = :k;
DELETE FROM orders WHERE id = :k + 2;
DELETE FROM truth WHERE id = :k + 2;
ROLLBACK;
