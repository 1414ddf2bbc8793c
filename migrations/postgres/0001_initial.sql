-- The whole schema of the PostgreSQL backend, in the shape the SQLite
-- migrations 0001-0008 reached. Ids are UUIDs; times are microseconds
-- since the Unix epoch (UTC), as on SQLite; bodies and header blobs are
-- bytea (headers encoded as in store::codec).

CREATE TABLE bins (
    id                   uuid    NOT NULL PRIMARY KEY,
    created_at           bigint  NOT NULL,
    updated_at           bigint  NOT NULL,
    alias                text,
    description          text,
    default_status       integer NOT NULL DEFAULT 200,
    default_content      bytea   NOT NULL,
    default_content_type text    NOT NULL,
    response_headers     bytea   NOT NULL,
    timeout              integer NOT NULL DEFAULT 0,   -- seconds
    listen               integer NOT NULL DEFAULT 0,   -- seconds
    cors                 boolean NOT NULL DEFAULT false,
    request_limit        bigint,                       -- NULL: server cap
    expiry               bigint,                       -- seconds; NULL: never
    creator_ip           text,
    creator_user_agent   text,
    password_hash        text,
    -- Kept by the writer in the batch that inserts (and prunes), and by
    -- every delete, under the bin row's lock: pruning never counts rows.
    request_count        bigint  NOT NULL DEFAULT 0
);

-- Aliases become capture URLs: unique, ignoring case.
CREATE UNIQUE INDEX bins_by_alias ON bins (lower(alias)) WHERE alias IS NOT NULL;
CREATE INDEX bins_by_expiry ON bins (expiry) WHERE expiry IS NOT NULL;

-- The commit order of requests (see store::postgres, "Order without
-- gaps"): each writer batch takes its numbers from this one row and holds
-- the row's lock until it commits, so numbers are committed in order.
CREATE TABLE commit_seq (
    id integer NOT NULL PRIMARY KEY CHECK (id = 1),
    n  bigint  NOT NULL
);
INSERT INTO commit_seq (id, n) VALUES (1, 0);

CREATE TABLE requests (
    seq         bigint  NOT NULL PRIMARY KEY,  -- commit order, from commit_seq
    id          uuid    NOT NULL,              -- UUID v7
    bin_id      uuid    NOT NULL REFERENCES bins (id) ON DELETE CASCADE,
    received_at bigint  NOT NULL,
    method      text    NOT NULL,
    path        text    NOT NULL,
    query       text,                          -- raw query string; NULL without '?'
    version     text    NOT NULL,
    remote_addr text    NOT NULL,
    headers     bytea   NOT NULL,
    body        bytea   NOT NULL,
    size        bigint  NOT NULL,
    -- The search index's words, made by the store (store::postgres::search),
    -- never by PostgreSQL's own parsers: the same words SQLite indexes.
    words       tsvector NOT NULL
);

-- Lists, catch-up and pruning walk a bin's requests in commit order.
CREATE UNIQUE INDEX requests_by_bin ON requests (bin_id, seq);
CREATE UNIQUE INDEX requests_by_id ON requests (bin_id, id);
CREATE INDEX requests_by_words ON requests USING gin (words);

CREATE TABLE listen_responses (
    bin_id     uuid    NOT NULL,
    request_id uuid    NOT NULL,
    from_app   boolean NOT NULL,
    status     integer NOT NULL,
    headers    bytea   NOT NULL,
    body       bytea   NOT NULL,
    PRIMARY KEY (bin_id, request_id),
    FOREIGN KEY (bin_id, request_id) REFERENCES requests (bin_id, id) ON DELETE CASCADE
);

CREATE TABLE cookie_secret (
    id    integer NOT NULL PRIMARY KEY CHECK (id = 1),
    value bytea   NOT NULL CHECK (length(value) = 32)
);
