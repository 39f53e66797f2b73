-- Schema 2: the card / 資格確認書 dates of a qualification (NULL on rows made before).
ALTER TABLE qualification
    ADD COLUMN card_issued_on  date,
    ADD COLUMN card_valid_from date,
    ADD COLUMN card_valid_to   date;
