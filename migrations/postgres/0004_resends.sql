-- Resends: a stored request sent again to another URL (dashboard, API,
-- `hookscope forward --replay`), with what the target answered. Deleted
-- with their request (and so with their bin).
CREATE TABLE IF NOT EXISTS resends (
    id          uuid    NOT NULL PRIMARY KEY,  -- UUID v7
    bin_id      uuid    NOT NULL,
    request_id  uuid    NOT NULL,
    at          bigint  NOT NULL,              -- microseconds since the epoch
    origin      text    NOT NULL,              -- dashboard, api, forward
    target      text    NOT NULL,
    status      integer,                       -- NULL: no answer (see error)
    headers     bytea   NOT NULL,              -- encoded like requests.headers (store::codec)
    body        bytea   NOT NULL,              -- the answer's first 64 KiB
    truncated   boolean NOT NULL,
    duration_ms bigint  NOT NULL,
    error       text,
    FOREIGN KEY (bin_id, request_id) REFERENCES requests (bin_id, id) ON DELETE CASCADE
);

-- A request's list, and the cascade when requests are deleted.
CREATE INDEX IF NOT EXISTS resends_by_request ON resends (bin_id, request_id, id);
