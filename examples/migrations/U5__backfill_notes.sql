-- The notes V5 set to '' stay '' (a data fix has no undo).
ALTER TABLE orders RENAME COLUMN comment TO note;
