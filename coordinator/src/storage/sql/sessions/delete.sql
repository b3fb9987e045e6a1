-- storage::sessions::delete: the session hashed $1 (logged out, or found
-- expired or with a refused token).
DELETE FROM sessions WHERE secret_hash = $1
