-- ERP request budgets shared by every host, counted the way the ERPs count them: a
-- rolling window over each account's recent calls (e.g. 60 calls in any 60 seconds for
-- a Xero organisation), instead of a fixed window that let twice the budget out around
-- the window's edge. One row per call; rows older than the window are deleted as calls
-- are taken.
DROP TABLE erp_rate_windows;

CREATE TABLE erp_rate_calls (
    account  TEXT NOT NULL,
    at_ms    BIGINT NOT NULL
);
CREATE INDEX erp_rate_calls_by_account ON erp_rate_calls (account, at_ms);
