-- onshi SQLite schema. Dates are ISO 'YYYY-MM-DD' text; codes are text (leading zeros kept).
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1');

CREATE TABLE IF NOT EXISTS insurer (
    insurer_number TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL
);

-- A person is known by the keyed hash of their My Number only.
CREATE TABLE IF NOT EXISTS person (
    id             INTEGER PRIMARY KEY,
    my_number_hash TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    name_kana      TEXT NOT NULL,
    name_key       TEXT NOT NULL,
    kana_key       TEXT NOT NULL,
    sex            TEXT NOT NULL,
    birthdate      TEXT NOT NULL,
    post_number    TEXT,
    address        TEXT
);
CREATE INDEX IF NOT EXISTS person_by_kana_birth ON person (kana_key, birthdate);

CREATE TABLE IF NOT EXISTS qualification (
    id                    INTEGER PRIMARY KEY,
    person_id             INTEGER NOT NULL REFERENCES person (id),
    registered_name       TEXT NOT NULL,
    insurer_number        TEXT NOT NULL,
    insurer_name          TEXT NOT NULL,
    card_classification   TEXT NOT NULL,
    symbol                TEXT NOT NULL,
    number                TEXT NOT NULL,
    number_key            TEXT NOT NULL,
    branch                TEXT NOT NULL,
    family_class          TEXT NOT NULL,
    insured_name          TEXT NOT NULL,
    employer              TEXT,
    qualification_date    TEXT NOT NULL,
    disqualification_date TEXT,
    reason_of_loss        TEXT,
    contribution_ratio    INTEGER,
    elderly_ratio         INTEGER,
    elderly_valid_from    TEXT,
    elderly_valid_to      TEXT,
    limit_class           TEXT,
    preschool             INTEGER NOT NULL DEFAULT 0,
    -- the card / 資格確認書 dates (schema 2); older files get them by ADDED_COLUMNS in sqlite.rs
    card_issued_on        TEXT,
    card_valid_from       TEXT,
    card_valid_to         TEXT,
    -- the qualification's details (other name, 性別2, certificates); preschool 2 = 就学中
    name_of_other         TEXT,
    name_of_other_kana    TEXT,
    sex2                  TEXT,
    elderly_issued_on     TEXT,
    limit_certificate     TEXT,
    limit_issued_on       TEXT,
    limit_valid_from      TEXT,
    limit_valid_to        TEXT,
    limit_long_term_date  TEXT,
    -- JSON list of the 特定疾病療養受療証 (most have none: NULL)
    specific_diseases     TEXT,
    UNIQUE (person_id, insurer_number, qualification_date)
);
CREATE INDEX IF NOT EXISTS qualification_by_number ON qualification (insurer_number, number_key);

-- Certificate side of a My Number card (what the central sees).
CREATE TABLE IF NOT EXISTS card (
    serial      TEXT PRIMARY KEY,
    person_id   INTEGER NOT NULL REFERENCES person (id),
    cert_expiry TEXT NOT NULL,
    status      TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS facility (
    code       TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE
);

