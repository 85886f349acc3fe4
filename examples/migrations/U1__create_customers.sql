-- Undoes V1 (its index goes with the table).
DROP TABLE customers;
