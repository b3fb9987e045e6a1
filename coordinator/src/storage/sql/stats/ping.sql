-- storage::stats::ping: a trivial round trip.
SELECT 1
