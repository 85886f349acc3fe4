-- Orders are listed by status on the back office's dashboard.
CREATE INDEX orders_status_idx ON orders (status);
