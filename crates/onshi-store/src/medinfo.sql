-- Medical information under consent (R2): per person the drug history (claims, 電子処方箋
-- prescriptions and dispensing), diagnosis / procedure items and specific health checkups;
-- the consents given at the reader; every view by a facility. Each record keeps its key
-- columns for the searches and the whole record as JSON (`body`).

CREATE TABLE IF NOT EXISTS med_drug (
    id           INTEGER PRIMARY KEY,
    person_id    INTEGER NOT NULL REFERENCES person(id),
    source       TEXT NOT NULL,
    dispensed_on TEXT NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS med_drug_by_person ON med_drug (person_id, dispensed_on);

CREATE TABLE IF NOT EXISTS med_diagnosis (
    id         INTEGER PRIMARY KEY,
    person_id  INTEGER NOT NULL REFERENCES person(id),
    treated_on TEXT NOT NULL,
    operation  INTEGER NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS med_diagnosis_by_person ON med_diagnosis (person_id, treated_on);

CREATE TABLE IF NOT EXISTS med_checkup (
    id         INTEGER PRIMARY KEY,
    person_id  INTEGER NOT NULL REFERENCES person(id),
    checked_on TEXT NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS med_checkup_by_person ON med_checkup (person_id, checked_on);

-- A consent per (person, facility, kind), given at the reader; the latest one counts.
CREATE TABLE IF NOT EXISTS med_consent (
    id              INTEGER PRIMARY KEY,
    person_id       INTEGER NOT NULL,
    facility        TEXT NOT NULL,
    kind            TEXT NOT NULL,
    given_at        TEXT NOT NULL,
    available_until TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS med_consent_by_key ON med_consent (person_id, facility, kind, given_at);

-- Every view (or refused request) of a person's medical information by a facility.
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
