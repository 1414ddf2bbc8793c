-- Bins and the requests captured into them. Ids are UUIDs stored as
-- 16-byte blobs; times are microseconds since the Unix epoch (UTC).

CREATE TABLE bins (
    id         BLOB    NOT NULL PRIMARY KEY,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE requests (
    id          BLOB    NOT NULL,  -- UUID v7: time-ordered
    bin_id      BLOB    NOT NULL REFERENCES bins (id) ON DELETE CASCADE,
    received_at INTEGER NOT NULL,
    method      TEXT    NOT NULL,
    path        TEXT    NOT NULL,
    query       TEXT,              -- raw query string; NULL when there was no '?'
    version     TEXT    NOT NULL,
    remote_addr TEXT    NOT NULL,
    headers     BLOB    NOT NULL,  -- see store::codec: names and values as received
    body        BLOB    NOT NULL,
    size        INTEGER NOT NULL
) STRICT;

-- Every read is per bin, newest or oldest first by id, or one id in a bin.
CREATE UNIQUE INDEX requests_by_bin ON requests (bin_id, id);
