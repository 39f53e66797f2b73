-- The payer's own database (payer.sqlite). Times are RFC 3339 text (UTC); months are YYYYMM.
-- Every row carries the payer ('1' 支払基金, '2' 国保連): a payer only ever reads its own rows.

-- Who may call the payer's API: payer staff (subject = staff name), a facility (subject =
-- 医療機関コード) or an insurer (subject = 保険者番号), known by the hash of their token.
CREATE TABLE IF NOT EXISTS principal (
    token_hash TEXT PRIMARY KEY,
    role       TEXT NOT NULL CHECK (role IN ('staff', 'facility', 'insurer')),
    payer      TEXT NOT NULL CHECK (payer IN ('1', '2')),
    subject    TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Facilities registered with a payer (医療機関コード 10 digits, name, settlement hook URL).
CREATE TABLE IF NOT EXISTS facility (
    payer      TEXT NOT NULL,
    code       TEXT NOT NULL,
    name       TEXT NOT NULL,
    hook_url   TEXT,
    PRIMARY KEY (payer, code)
);

-- One accepted file. A file is recognised again by its SHA-256 (never stored twice).
-- settled_at: when its month was settled; from then its assigned claims read as settled.
CREATE TABLE IF NOT EXISTS submission (
    id            INTEGER PRIMARY KEY,
    payer         TEXT NOT NULL,
    facility      TEXT NOT NULL,
    billing_month TEXT NOT NULL,
    file_sha256   TEXT NOT NULL,
    file_name     TEXT NOT NULL,
    received_at   TEXT NOT NULL,
    source        TEXT NOT NULL,
    claims        INTEGER NOT NULL,
    total_points  INTEGER NOT NULL,
    settled_at    TEXT,
    UNIQUE (payer, file_sha256)
);
CREATE INDEX IF NOT EXISTS submission_by_facility ON submission (payer, facility, billing_month);

-- One claim (レセプト) as reviewed. status: assigned (billed to the parts below; read as
-- settled once its file is settled), worklist (staff decide), pool (按分), settled (databases
-- of schema 1), apportioned (settled through 按分), unapportioned (no
-- basis to share on).
-- The claim's facts are typed columns (schema 4; before, one JSON column `facts`):
-- claimed_insurer is the 保険者番号 as written, claimed_number the number read from it when
-- the claim names an insurer (NULL for 不詳, fusho = 1, and for 公費単独, fusho = 0);
-- service_days the JD days as '3,20' (empty without JD); funds the KO parts as JSON (NULL
-- without KO); tekiyou the 摘要 comments as a JSON array (NULL when none, and only the
-- 「不詳」 marker kept once paid: R27).
CREATE TABLE IF NOT EXISTS claim (
    id              INTEGER PRIMARY KEY,
    submission_id   INTEGER NOT NULL REFERENCES submission (id),
    payer           TEXT NOT NULL,
    facility        TEXT NOT NULL,
    billing_month   TEXT NOT NULL,
    service_month   TEXT NOT NULL,
    receipt_number  INTEGER NOT NULL,
    claimed_insurer TEXT NOT NULL,
    fusho           INTEGER NOT NULL,
    status          TEXT NOT NULL,
    kakunin_kubun   TEXT NOT NULL,
    identified      INTEGER NOT NULL,
    person_id       INTEGER,
    reason          TEXT NOT NULL,
    points          INTEGER NOT NULL,
    copay_yen       INTEGER NOT NULL,
    amount_yen      INTEGER NOT NULL,
    evidence        TEXT,
    line            INTEGER NOT NULL,
    receipt_kind    TEXT NOT NULL,
    name            TEXT NOT NULL,
    kana_name       TEXT NOT NULL,
    sex             TEXT NOT NULL,
    birthdate       TEXT NOT NULL,
    claimed_number  TEXT,
    symbol          TEXT NOT NULL,
    number          TEXT NOT NULL,
    branch          TEXT,
    service_days    TEXT NOT NULL,
    actual_days     INTEGER NOT NULL,
    public_funds    INTEGER NOT NULL,
    funds           TEXT,
    tekiyou         TEXT,
    UNIQUE (submission_id, receipt_number)
);
CREATE INDEX IF NOT EXISTS claim_by_month ON claim (payer, billing_month, facility, status);

-- What a claim is billed as: one part, or one per insurer for 分割. public_fund: billed to a
-- public fund (公費単独: insurer_number holds the 公費負担者番号, number the 受給者番号).
CREATE TABLE IF NOT EXISTS claim_part (
    claim_id       INTEGER NOT NULL REFERENCES claim (id),
    part_no        INTEGER NOT NULL,
    insurer_number TEXT NOT NULL,
    symbol         TEXT NOT NULL,
    number         TEXT NOT NULL,
    branch         TEXT NOT NULL,
    days           TEXT NOT NULL,
    points         INTEGER NOT NULL,
    copay_yen      INTEGER NOT NULL,
    amount_yen     INTEGER NOT NULL,
    share_percent  INTEGER,
    public_fund    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (claim_id, part_no)
);
CREATE INDEX IF NOT EXISTS claim_part_by_insurer ON claim_part (insurer_number, claim_id);

-- Identification with several candidates (R22): staff decide.
CREATE TABLE IF NOT EXISTS worklist (
    claim_id   INTEGER PRIMARY KEY REFERENCES claim (id),
    payer      TEXT NOT NULL,
    candidates TEXT NOT NULL,
    facts      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    decided_at TEXT,
    decided_by TEXT,
    decision   TEXT
);
CREATE INDEX IF NOT EXISTS worklist_open ON worklist (payer, decided_at);

-- 按分 shares (R22), one row per insurer of a pool, with its inputs.
CREATE TABLE IF NOT EXISTS pool_share (
    payer          TEXT NOT NULL,
    facility       TEXT NOT NULL,
    billing_month  TEXT NOT NULL,
    service_month  TEXT NOT NULL,
    insurer_number TEXT NOT NULL,
    share_yen      INTEGER NOT NULL,
    inputs         TEXT NOT NULL,
    PRIMARY KEY (payer, facility, billing_month, service_month, insurer_number)
);
CREATE INDEX IF NOT EXISTS pool_share_by_insurer ON pool_share (insurer_number);

-- The payment record 按分 weighs by: what each insurer paid each facility per service month.
-- source: settled (by this payer's settlements), public_fund (what public funds paid for
-- 公費単独 claims: recorded, never a weight of 按分) or synthetic (a generated past).
CREATE TABLE IF NOT EXISTS payment (
    payer          TEXT NOT NULL,
    insurer_number TEXT NOT NULL,
    facility       TEXT NOT NULL,
    service_month  TEXT NOT NULL,
    source         TEXT NOT NULL,
    amount_yen     INTEGER NOT NULL,
    claims         INTEGER NOT NULL,
    PRIMARY KEY (payer, facility, service_month, insurer_number, source)
);

-- One statement per facility and billing month (docs/formats/settlement.md).
CREATE TABLE IF NOT EXISTS settlement (
    payer         TEXT NOT NULL,
    facility      TEXT NOT NULL,
    billing_month TEXT NOT NULL,
    settled_at    TEXT NOT NULL,
    statement     TEXT NOT NULL,
    hook_status   TEXT,
    PRIMARY KEY (payer, facility, billing_month)
);

-- the schema version (PRAGMA user_version) is set by the store once its upgrades are done
