-- /readyz: does the database answer at all? Nothing is read, so the probe costs
-- the same whatever the queues hold; the caller bounds how long it may take.
SELECT 1
