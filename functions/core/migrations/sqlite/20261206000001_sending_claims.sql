-- notify claims an alert before it mails it: a `sending` row in sent_alerts with a random
-- claim token and a lease. Another notify (a new owner of the partition after a rebalance, a
-- second digest of the same user) finds the claim and waits for it to be finished or to run
-- out instead of mailing the alert a second time; a notify killed mid-send leaves a claim that
-- runs out, and the alert is then mailed by whoever takes it over.
ALTER TABLE sent_alerts ADD COLUMN claim_token INTEGER NULL;
ALTER TABLE sent_alerts ADD COLUMN lease_until_ms INTEGER NULL;
