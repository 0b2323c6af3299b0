-- Pages walk records in (occurred_at, id) order and skip the categories their purpose may
-- not read. With the category (and the voided flag) in the index, a skipped row costs an
-- index entry, not a table lookup: a semester's enrolments all date from its first day,
-- and a first page of a purpose without enrolments stepped over each of them (0.3 s for
-- 20,000 students, growing with the institution; 18 ms with this index).
DROP INDEX records_by_time;
CREATE INDEX records_by_time ON records (occurred_at, id, category, voided);
