-- storage::sessions::delete_expired: every session past its expiry.
DELETE FROM sessions WHERE expires_at <= now()
