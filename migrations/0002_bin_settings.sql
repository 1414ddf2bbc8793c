-- Per-bin settings (what the capture URL answers, how much it keeps, when
-- it expires), a per-bin request count kept by the writer so pruning and
-- paging never count rows, and a full-text index over requests.

ALTER TABLE bins ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
UPDATE bins SET updated_at = created_at;
ALTER TABLE bins ADD COLUMN alias TEXT;
ALTER TABLE bins ADD COLUMN description TEXT;
ALTER TABLE bins ADD COLUMN default_status INTEGER NOT NULL DEFAULT 200;
ALTER TABLE bins ADD COLUMN default_content BLOB NOT NULL DEFAULT X'4F4B0A'; -- "OK\n"
ALTER TABLE bins ADD COLUMN default_content_type TEXT NOT NULL
    DEFAULT 'text/plain; charset=utf-8';
-- Extra answer headers in order, encoded like requests.headers (store::codec).
ALTER TABLE bins ADD COLUMN response_headers BLOB NOT NULL DEFAULT X'';
ALTER TABLE bins ADD COLUMN timeout INTEGER NOT NULL DEFAULT 0;       -- seconds
ALTER TABLE bins ADD COLUMN listen INTEGER NOT NULL DEFAULT 0;        -- seconds
ALTER TABLE bins ADD COLUMN cors INTEGER NOT NULL DEFAULT 0;          -- boolean
ALTER TABLE bins ADD COLUMN request_limit INTEGER;                    -- NULL: server cap
ALTER TABLE bins ADD COLUMN expiry INTEGER;                           -- seconds; NULL: never
ALTER TABLE bins ADD COLUMN creator_ip TEXT;
ALTER TABLE bins ADD COLUMN creator_user_agent TEXT;
ALTER TABLE bins ADD COLUMN request_count INTEGER NOT NULL DEFAULT 0;
UPDATE bins SET request_count = (SELECT count(*) FROM requests WHERE bin_id = bins.id);

CREATE INDEX bins_by_expiry ON bins (expiry) WHERE expiry IS NOT NULL;

-- A stable integer per request: the full-text index's rowid. (The implicit
-- rowid of `requests` may change on VACUUM; this does not.)
ALTER TABLE requests ADD COLUMN seq INTEGER;
UPDATE requests SET seq = rowid;
CREATE UNIQUE INDEX requests_by_seq ON requests (seq);

-- One row per request, rowid = requests.seq. Contentless: the text lives
-- in `requests` already; contentless_delete lets the writer delete rows.
-- `bin` holds one token ("b" + the bin's hex) so a search stays in its bin.
CREATE VIRTUAL TABLE requests_fts USING fts5 (
    bin, method, ip, path, headers, body,
    content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);

INSERT INTO requests_fts (rowid, bin, method, ip, path, headers, body)
SELECT seq, 'b' || lower(hex(bin_id)), method, remote_addr, path, '',
       CASE WHEN size <= 65536 THEN CAST(body AS TEXT) ELSE '' END
FROM requests;
