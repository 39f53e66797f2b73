-- Schema 6: the uniqueness of the My Number's keyed hash held by a named index
-- (person_by_my_number) instead of the column's UNIQUE constraint, so that an initial load can
-- drop it and build it once at commit by a sort (sqlite.rs, DEFERRED_INDEXES) instead of
-- inserting every person's random key into a B-tree. The table is rebuilt as SQLite's
-- ALTER TABLE page describes (the writer runs the migrations with foreign keys off and checks
-- them afterwards); ids, rows and the other indexes stay as they were.
CREATE TABLE person_v6 (
    id             INTEGER PRIMARY KEY,
    my_number_hash TEXT NOT NULL,
    name           TEXT NOT NULL,
    name_kana      TEXT NOT NULL,
    name_key       TEXT NOT NULL,
    kana_key       TEXT NOT NULL,
    sex            TEXT NOT NULL,
    birthdate      TEXT NOT NULL,
    post_number    TEXT,
    address        TEXT
);
INSERT INTO person_v6 (id, my_number_hash, name, name_kana, name_key, kana_key, sex, birthdate,
                       post_number, address)
    SELECT id, my_number_hash, name, name_kana, name_key, kana_key, sex, birthdate,
           post_number, address
    FROM person ORDER BY id;
DROP TABLE person;
ALTER TABLE person_v6 RENAME TO person;
CREATE UNIQUE INDEX person_by_my_number ON person (my_number_hash);
CREATE INDEX person_by_kana_birth ON person (kana_key, birthdate);
CREATE INDEX outage_person_by_name_birth ON person (name_key, birthdate);
