-- a large transaction: :bigrows consecutive rows in one UPDATE
\set s random(1, :maxid - :bigrows)
UPDATE orders SET amount = amount + 1, note = 'big ' || :s WHERE id BETWEEN :s AND :s + :bigrows - 1;
