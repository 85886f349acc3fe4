\set c random(1, 200000)
INSERT INTO orders (customer_id, status, amount, note) VALUES (:c, 'new', 9.99, 'bench insert');
