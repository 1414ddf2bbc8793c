-- What a listen-mode capture answered its sender: the local app's answer
-- relayed by a forwarder, or the bin's default when none came in time.
-- Only listen-mode captures have a row; every other capture answered with
-- its bin's settings.
CREATE TABLE listen_responses (
    bin_id     BLOB    NOT NULL,
    request_id BLOB    NOT NULL,
    from_app   INTEGER NOT NULL,  -- 1: the local app's answer; 0: the bin's default
    status     INTEGER NOT NULL,
    headers    BLOB    NOT NULL,  -- encoded like requests.headers (store::codec)
    body       BLOB    NOT NULL,
    PRIMARY KEY (bin_id, request_id),
    FOREIGN KEY (bin_id, request_id) REFERENCES requests (bin_id, id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
