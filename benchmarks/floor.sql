-- The raw server-side floor: a key-only copy filled by one INSERT ... SELECT,
-- then the two secondary indexes (what any rebuild has to do at least).
CREATE TABLE floor_copy (LIKE orders INCLUDING DEFAULTS);
ALTER TABLE floor_copy ADD PRIMARY KEY (id);
INSERT INTO floor_copy SELECT * FROM orders;
CREATE INDEX ON floor_copy (customer_id);
CREATE INDEX ON floor_copy (status, created_at);
