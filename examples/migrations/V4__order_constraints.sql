BEGIN;
ALTER TABLE orders ADD CONSTRAINT orders_amount_positive CHECK (amount >= 0);
ALTER TABLE orders ADD COLUMN customer_ref bigint REFERENCES customers (id);
ALTER TABLE orders ALTER COLUMN note SET NOT NULL;
COMMIT;
