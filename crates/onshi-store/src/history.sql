-- The confirmation history lives in a file of its own (`<name>.history.sqlite` beside the
-- registry file): it is appended to on every confirmation, and keeping those commits out of
-- the registry file keeps the registry readers' page caches valid.
-- 資格確認履歴: append-only.
CREATE TABLE IF NOT EXISTS confirmation (
    id                       INTEGER PRIMARY KEY,
    facility                 TEXT NOT NULL,
    processed_at             TEXT NOT NULL,
    confirmation_date        TEXT NOT NULL,
    reference_classification TEXT NOT NULL,
    identity_method          TEXT,
    staff_id                 TEXT,
    card_serial              TEXT,
    person_id                INTEGER,
    birthdate                TEXT,
    kana_key                 TEXT,
    outcome                  TEXT NOT NULL,
    result                   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS confirmation_by_facility_date ON confirmation (facility, confirmation_date);
-- Deliberately no index on the patient (kana_key, birthdate): its entries would land on a
-- random page per row and every group commit would rewrite those pages. A patient filter
-- scans the facility's rows in the date range instead.
