SET lock_timeout = '2s';
-- Back to the narrower types: fails, changing nothing, once an id or an
-- amount no longer fits them.
ALTER TABLE orders ALTER COLUMN id TYPE integer, ALTER COLUMN amount TYPE numeric(12,2);
