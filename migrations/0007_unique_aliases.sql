-- Aliases become capture URLs (`/{alias}`), so no two bins may share one.
-- Aliases were free names before: where several bins share one (ignoring
-- ASCII case, as aliases are matched), the oldest bin keeps it and the
-- others lose it.

UPDATE bins SET alias = NULL
WHERE alias IS NOT NULL
  AND EXISTS (
    SELECT 1 FROM bins AS older
    WHERE older.alias = bins.alias COLLATE NOCASE
      AND (older.created_at < bins.created_at
           OR (older.created_at = bins.created_at AND older.rowid < bins.rowid))
  );

CREATE UNIQUE INDEX bins_by_alias ON bins (alias COLLATE NOCASE) WHERE alias IS NOT NULL;
