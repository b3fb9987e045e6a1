-- storage::figures::active_tag_sets: the distinct tag sets of the workers
-- that take work (active: neither draining nor gone).
SELECT DISTINCT tags FROM workers WHERE state = 'active'
