-- The secret that signs browsers' bin-password cookies. Kept in the
-- database, so a restart does not log browsers out of protected bins.
-- Made on first start (random, 32 bytes); never shown or sent.
CREATE TABLE cookie_secret (
    id    INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    value BLOB    NOT NULL CHECK (length(value) = 32)
) STRICT;
