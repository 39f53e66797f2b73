-- Schema 5: when the insurer registered the qualification in the OQS (R23). NULL on rows made
-- before, and where the insurer's file did not give it.
ALTER TABLE qualification ADD COLUMN registered_on date;
