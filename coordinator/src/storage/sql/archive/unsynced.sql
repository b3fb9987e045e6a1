-- storage::archive::move_finished_unsynced: this transaction commits without
-- waiting for its WAL flush.
SET LOCAL synchronous_commit = off
