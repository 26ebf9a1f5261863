-- Balances change with every transfer: leave room on each page so the update
-- stays on the same page (a HOT update, no index entry to write).
ALTER TABLE ledger_accounts SET (fillfactor = 50);
