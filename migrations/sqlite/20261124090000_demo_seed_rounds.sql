-- The demo's records are written in rounds, each committed with the count of students
-- done, so a large demo needs no single huge transaction and an interrupted seed continues.
ALTER TABLE demo_seed ADD COLUMN students_done BIGINT NOT NULL DEFAULT 0;
ALTER TABLE demo_seed ADD COLUMN finished_at TEXT;
-- Seeds from before this change ran in one transaction: a row means they finished.
UPDATE demo_seed SET finished_at = seeded_at;
