-- onshi on PostgreSQL, schema 6: every text column that a key or an index compares is put
-- in byte order (COLLATE "C"), whatever the database's own collation.
--
-- The keys are hashes, serials, codes and the normalised kana and name keys: they are looked
-- up by equality, never sorted for a reader, so a linguistic order buys nothing. Under any
-- collation but "C" (C.UTF-8 and en_US.UTF-8 included) PostgreSQL compares text through the
-- C library's strcoll and cannot use abbreviated keys in its sorts; in byte order it compares
-- with memcmp. Measured on a 10 M-person registry (docs/performance.md, "The keys in byte
-- order on PostgreSQL"): the My Number hash index built in 9.9 s against 22.6 s, the card
-- serials' in 4.4 s against 10.7 s. Byte order is also the order SQLite's keys have, so
-- both backends order alike. Changing a column's collation rewrites no table; the indexes on
-- it are built again.

ALTER TABLE insurer ALTER COLUMN insurer_number TYPE text COLLATE "C";

ALTER TABLE person
    ALTER COLUMN my_number_hash TYPE text COLLATE "C",
    ALTER COLUMN name_key TYPE text COLLATE "C",
    ALTER COLUMN kana_key TYPE text COLLATE "C";

ALTER TABLE qualification
    ALTER COLUMN insurer_number TYPE text COLLATE "C",
    ALTER COLUMN number_key TYPE text COLLATE "C";

ALTER TABLE card ALTER COLUMN serial TYPE text COLLATE "C";
ALTER TABLE card_key ALTER COLUMN serial TYPE text COLLATE "C";

ALTER TABLE reader
    ALTER COLUMN id TYPE text COLLATE "C",
    ALTER COLUMN public_key TYPE text COLLATE "C";

ALTER TABLE facility
    ALTER COLUMN code TYPE text COLLATE "C",
    ALTER COLUMN token_hash TYPE text COLLATE "C";

-- the partitioned history: the change goes down to every partition
ALTER TABLE confirmation ALTER COLUMN facility TYPE text COLLATE "C";

ALTER TABLE outage_facility_contact ALTER COLUMN facility TYPE text COLLATE "C";
ALTER TABLE outage_operator
    ALTER COLUMN name TYPE text COLLATE "C",
    ALTER COLUMN token_hash TYPE text COLLATE "C";
ALTER TABLE outage_request
    ALTER COLUMN facility TYPE text COLLATE "C",
    ALTER COLUMN state TYPE text COLLATE "C";
ALTER TABLE outage_event ALTER COLUMN facility TYPE text COLLATE "C";
ALTER TABLE outage_audit ALTER COLUMN facility TYPE text COLLATE "C";

ALTER TABLE med_consent
    ALTER COLUMN facility TYPE text COLLATE "C",
    ALTER COLUMN kind TYPE text COLLATE "C";
ALTER TABLE med_view ALTER COLUMN facility TYPE text COLLATE "C";
