-- storage::sessions::insert: a new session hashed $1, logged in with the
-- token hashed $2, its form token $3, lasting $4 seconds.
INSERT INTO sessions (secret_hash, token_hash, csrf, expires_at)
VALUES ($1, $2, $3, now() + make_interval(secs => $4))
