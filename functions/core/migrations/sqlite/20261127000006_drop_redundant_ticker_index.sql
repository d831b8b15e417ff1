-- `subscriptions_ticker (ticker)` is a prefix of the three `subscriptions_state_*` indexes, which
-- answer every `WHERE ticker = ?` as well; it only cost one more index entry written by each
-- registration, AddWatch and change of ticker.
DROP INDEX IF EXISTS subscriptions_ticker;
