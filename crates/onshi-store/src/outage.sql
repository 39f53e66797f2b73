-- System-outage mode (システム障害時モード, R12–R14): schema applied after schema.sql.
-- Times are RFC 3339 text in JST ('YYYY-MM-DDTHH:MM:SS.sss+09:00'); they sort as text.

-- The contact details of a facility as registered (保険医療機関届): the call-back of R13 is made
-- to this number and no other. Written by the administrator's CLI only, never over the API.
CREATE TABLE IF NOT EXISTS outage_facility_contact (
    facility   TEXT PRIMARY KEY,
    phone      TEXT NOT NULL,
    email      TEXT,
    updated_at TEXT NOT NULL
);

-- Call-centre operators (オンライン資格確認等コールセンター), known by the hash of their token.
CREATE TABLE IF NOT EXISTS outage_operator (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

-- One activation of the outage mode for one facility (R13), with each step's time and actor.
CREATE TABLE IF NOT EXISTS outage_request (
    id                  INTEGER PRIMARY KEY,
    facility            TEXT NOT NULL,
    facility_name       TEXT NOT NULL,
    contact_person      TEXT NOT NULL,
    reason              TEXT NOT NULL,
    state               TEXT NOT NULL,
    requested_at        TEXT NOT NULL,
    requested_by        TEXT NOT NULL,
    verified_at         TEXT,
    verified_by         TEXT,
    callback_phone      TEXT,
    form_issued_at      TEXT,
    form_issued_by      TEXT,
    form_email          TEXT,
    enabled_at          TEXT,
    enabled_by          TEXT,
    window_until        TEXT,
    closed_at           TEXT,
    closed_by           TEXT,
    reported_at         TEXT,
    reported_by         TEXT,
    report              TEXT,
    cancelled_at        TEXT,
    cancelled_by        TEXT
);
CREATE INDEX IF NOT EXISTS outage_request_by_facility ON outage_request (facility, state, id);
CREATE INDEX IF NOT EXISTS outage_request_by_state ON outage_request (state, id);

-- Append-only log of every step and every refused step or search of the procedure.
CREATE TABLE IF NOT EXISTS outage_event (
    id         INTEGER PRIMARY KEY,
    request_id INTEGER,
    facility   TEXT NOT NULL,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    detail     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outage_event_by_request ON outage_event (request_id, id);
CREATE INDEX IF NOT EXISTS outage_event_by_facility ON outage_event (facility, id);

-- Append-only audit of the outage-mode search (R14): every search, every choice of a person,
-- every refused attempt.
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

-- The search by name in kanji (the search by kana uses person_by_kana_birth).
CREATE INDEX IF NOT EXISTS outage_person_by_name_birth ON person (name_key, birthdate);
