-- The search index is filled off the capture path: every request with
-- `seq` above `indexed_up_to` is still to be indexed. The writer indexes
-- them when captures pause, and before any search runs, so a search always
-- sees every stored request. New requests always get a `seq` above it.

CREATE TABLE search_index_state (
    id            INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    indexed_up_to INTEGER NOT NULL
) STRICT;

INSERT INTO search_index_state (id, indexed_up_to)
SELECT 1, ifnull(max(seq), 0) FROM requests;
