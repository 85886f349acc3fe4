\set id random(1, :maxid)
UPDATE orders SET amount = amount + 1, status = 'paid' WHERE id = :id;
