-- The desk's visits (desk.sqlite): one row per reception, its steps, the 事後確認 state
-- and the 申立書 in its own table so that the R27 purge deletes it completely.
PRAGMA secure_delete = ON;
CREATE TABLE IF NOT EXISTS visit (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    service_date TEXT NOT NULL,
    facility TEXT NOT NULL,
    patient_label TEXT,
    birth_date TEXT,
    situation TEXT NOT NULL,
    form_state TEXT NOT NULL DEFAULT 'not_asked',
    charged_at TEXT,
    charged_percent INTEGER,
    claim TEXT,
    form_purged_at TEXT,
    card_serial TEXT
);
CREATE TABLE IF NOT EXISTS visit_step (
    id INTEGER PRIMARY KEY,
    visit_id INTEGER NOT NULL REFERENCES visit(id),
    at TEXT NOT NULL,
    staff TEXT,
    action TEXT NOT NULL,
    next_step TEXT NOT NULL,
    share_percent INTEGER,
    claim_basis TEXT,
    rules TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS unconfirmed (
    visit_id INTEGER PRIMARY KEY REFERENCES visit(id),
    since TEXT NOT NULL,
    cause TEXT NOT NULL,
    resolved_at TEXT,
    source TEXT,
    audit_id INTEGER,
    staff TEXT
);
CREATE TABLE IF NOT EXISTS moushitatesho (
    visit_id INTEGER PRIMARY KEY REFERENCES visit(id),
    form TEXT NOT NULL,
    received_at TEXT NOT NULL
);
