-- History file, version 2: the other logs written on the hot path move here from the registry
-- file — the outage-mode search audit (R14) and the medical-information consents and views
-- (R2). A commit in a file makes every reader of that file drop its cache and mapping, so a
-- search's audit line or a consent written into the registry file cost every registry reader
-- its warm pages; here they cost nothing. Columns as they were in outage.sql and medinfo.sql
-- (the rows of an older registry file are copied over with their ids, then dropped there:
-- `move_logs` in sqlite.rs).

CREATE TABLE IF NOT EXISTS outage_audit (
    id               INTEGER PRIMARY KEY,
    facility         TEXT NOT NULL,
    request_id       INTEGER,
    at               TEXT NOT NULL,
    staff_id         TEXT,
    kind             TEXT NOT NULL,
    criteria         TEXT NOT NULL,
    hits             INTEGER,
    hit_person_ids   TEXT NOT NULL,
    search_id        INTEGER,
    chosen_person_id INTEGER,
    outcome          TEXT NOT NULL,
    message          TEXT
);
CREATE INDEX IF NOT EXISTS outage_audit_by_facility ON outage_audit (facility, id);

CREATE TABLE IF NOT EXISTS med_consent (
    id              INTEGER PRIMARY KEY,
    person_id       INTEGER NOT NULL,
    facility        TEXT NOT NULL,
    kind            TEXT NOT NULL,
    given_at        TEXT NOT NULL,
    available_until TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS med_consent_by_key ON med_consent (person_id, facility, kind, given_at);

CREATE TABLE IF NOT EXISTS med_view (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    facility  TEXT NOT NULL,
    person_id INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    channel   TEXT NOT NULL,
    granted   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS med_view_by_facility ON med_view (facility, id);
CREATE INDEX IF NOT EXISTS med_view_by_person ON med_view (person_id, id);
