-- Schema 3: the qualification's details (other name, 性別2, the 高齢受給者証 issue date, the
-- 限度額適用認定証 and 特定疾病療養受療証, 未就学区分 2 = 就学中). NULL / false on older rows.
ALTER TABLE qualification
    ADD COLUMN name_of_other        text,
    ADD COLUMN name_of_other_kana   text,
    ADD COLUMN sex2                 text,
    ADD COLUMN elderly_issued_on    date,
    ADD COLUMN limit_certificate    text,
    ADD COLUMN limit_issued_on      date,
    ADD COLUMN limit_valid_from     date,
    ADD COLUMN limit_valid_to       date,
    ADD COLUMN limit_long_term_date date,
    -- JSON list of the 特定疾病療養受療証 (most have none: NULL)
    ADD COLUMN specific_diseases    text,
    ADD COLUMN in_school            boolean NOT NULL DEFAULT false;
