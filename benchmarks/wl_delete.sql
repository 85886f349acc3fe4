\set id random(1, :maxid)
DELETE FROM orders WHERE id = :id;
