-- storage::sessions::live: the unexpired session hashed $1.
SELECT token_hash, csrf
FROM sessions
WHERE secret_hash = $1 AND expires_at > now()
