UPDATE orders SET note = '' WHERE note IS NULL;
ALTER TABLE orders RENAME COLUMN note TO comment;
