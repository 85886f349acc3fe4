\set k random(1, :maxid)
\set r random(1, 1000000000)
BEGIN;
UPDATE orders SET note = (SELECT string_agg(md5(:r::text || g::text), '') FROM generate_series(1, 2000) g) WHERE id = :k;
UPDATE truth SET note = (SELECT string_agg(md5(:r::text || g::text), '') FROM generate_series(1, 2000) g) WHERE id = :k;
END;
