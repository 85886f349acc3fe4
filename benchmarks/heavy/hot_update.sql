-- hot keys: every session updates one of the first :hot rows
\set id random(1, :hot)
UPDATE orders SET amount = amount + 1 WHERE id = :id;
