\set k random(1, :maxid)
BEGIN;
DELETE FROM orders WHERE id = :k;
DELETE FROM truth WHERE id = :k;
END;
