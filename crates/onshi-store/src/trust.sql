-- The central's side of the trust chain (issue 10; docs/security.md).

-- Public key (ed25519, hex) of each card's 利用者証明用電子証明書. The private key stays in
-- the card emulation; the central only verifies signatures with this.
CREATE TABLE IF NOT EXISTS card_key (
    serial     TEXT PRIMARY KEY,
    public_key TEXT NOT NULL
) WITHOUT ROWID;

-- Certified face-auth card readers: a device key registered for one facility.
CREATE TABLE IF NOT EXISTS reader (
    id            TEXT PRIMARY KEY,
    facility      TEXT NOT NULL,
    public_key    TEXT NOT NULL UNIQUE,
    registered_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    revoked_at    TEXT
) WITHOUT ROWID;

-- Every assertion the central refused, with why (kept for the operators).
CREATE TABLE IF NOT EXISTS assertion_refusal (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    facility    TEXT NOT NULL,
    reader_id   TEXT,
    card_serial TEXT,
    reason      TEXT NOT NULL
);
