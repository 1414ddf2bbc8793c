-- Resends: a stored request sent again to another URL (dashboard, API,
-- `hookscope forward --replay`), with what the target answered. Deleted
-- with their request (and so with their bin). IF NOT EXISTS: a test (and a
-- tool) may step the schema version back over it and apply it again.
CREATE TABLE IF NOT EXISTS resends (
    id          BLOB    NOT NULL PRIMARY KEY,  -- UUID v7
    bin_id      BLOB    NOT NULL,
    request_id  BLOB    NOT NULL,
    at          INTEGER NOT NULL,              -- microseconds since the epoch
    origin      TEXT    NOT NULL,              -- dashboard, api, forward
    target      TEXT    NOT NULL,
    status      INTEGER,                       -- NULL: no answer (see error)
    headers     BLOB    NOT NULL,              -- encoded like requests.headers (store::codec)
    body        BLOB    NOT NULL,              -- the answer's first 64 KiB
    truncated   INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    error       TEXT,
    FOREIGN KEY (bin_id, request_id) REFERENCES requests (bin_id, id) ON DELETE CASCADE
) STRICT;

-- A request's list, and the cascade when requests are deleted.
CREATE INDEX IF NOT EXISTS resends_by_request ON resends (bin_id, request_id, id);
