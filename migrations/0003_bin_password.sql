-- A bin's password, as an argon2 PHC string (never the password itself).
-- NULL: the bin's dashboard, live feed and API are open to anyone with its id.
ALTER TABLE bins ADD COLUMN password_hash TEXT;
