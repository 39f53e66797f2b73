-- Schema 2: the 申立書 details sealed outside the database's reach (R27; src/form_keys.rs).
-- A file whose claims carry 摘要 comments or worklist facts gets a key of its own, kept in a
-- file of the payer's form-key folder and named here; the claims' comments and facts are
-- stored sealed under it, and the key file is deleted once the month is settled. Rows written
-- by schema 1 keep their values in clear (tekiyou, facts) and read as before.
ALTER TABLE submission ADD COLUMN form_key text;
-- the 摘要 comments sealed (a JSON array); tekiyou is then empty
ALTER TABLE claim ADD COLUMN tekiyou_sealed bytea;
-- the worklist facts sealed (JSON); facts is then NULL
ALTER TABLE worklist ADD COLUMN facts_sealed bytea;
ALTER TABLE worklist ALTER COLUMN facts DROP NOT NULL;
ALTER TABLE worklist ADD CHECK ((facts IS NULL) <> (facts_sealed IS NULL));
