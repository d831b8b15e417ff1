//! Which offsets a consumer may commit while it handles several messages of a partition at
//! once: a Kafka commit of offset N + 1 says "every message up to N is done", so it may only
//! be made once every message up to N has been handled, whatever order they finish in.
//!
//! Pure bookkeeping, no I/O: the consumer loop tells it what started and what finished, and
//! asks it what to commit.

use std::collections::{BTreeSet, HashMap};

/// The messages in flight per partition of one topic, and what each partition may commit.
#[derive(Debug, Default)]
pub struct InOrderCommits {
    partitions: HashMap<i32, Partition>,
}

#[derive(Debug, Default)]
struct Partition {
    /// Offsets started and not yet finished.
    in_flight: BTreeSet<i64>,
    /// One past the highest offset started: the commit once nothing is in flight.
    next: i64,
    /// The last commit handed out by [`InOrderCommits::ready`].
    committed: Option<i64>,
}

impl Partition {
    /// Every message below this offset is handled.
    fn position(&self) -> i64 {
        self.in_flight.first().copied().unwrap_or(self.next)
    }
}

impl InOrderCommits {
    pub fn new() -> Self {
        Self::default()
    }

    /// A message is taken on. Offsets of a partition arrive in increasing order; one that
    /// goes back (a redelivery after the group moved the partition) is simply tracked too.
    pub fn start(&mut self, partition: i32, offset: i64) {
        // The group's position is already at the first offset delivered: no commit says it.
        let p = self
            .partitions
            .entry(partition)
            .or_insert_with(|| Partition {
                committed: Some(offset),
                ..Partition::default()
            });
        p.in_flight.insert(offset);
        p.next = p.next.max(offset + 1);
    }

    /// A message is done with: handled, or skipped for good. An offset never started is
    /// ignored (its partition was forgotten meanwhile).
    pub fn finish(&mut self, partition: i32, offset: i64) {
        if let Some(p) = self.partitions.get_mut(&partition) {
            p.in_flight.remove(&offset);
        }
    }

    /// The commits to make now: `(partition, offset to commit)` for each partition whose
    /// handled prefix grew since the last call. Each one is handed out once.
    pub fn ready(&mut self) -> Vec<(i32, i64)> {
        let mut commits: Vec<(i32, i64)> = self
            .partitions
            .iter_mut()
            .filter_map(|(&partition, p)| {
                let position = p.position();
                (p.committed < Some(position)).then(|| {
                    p.committed = Some(position);
                    (partition, position)
                })
            })
            .collect();
        commits.sort_unstable();
        commits
    }

    /// Messages started and not finished, over all partitions.
    pub fn in_flight(&self) -> usize {
        self.partitions.values().map(|p| p.in_flight.len()).sum()
    }

    /// Forgets everything: the partitions were taken away (a rebalance), so nothing still in
    /// flight may be committed by this consumer.
    pub fn clear(&mut self) {
        self.partitions.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What happens, in order.
    #[derive(Debug, Clone, Copy)]
    enum Step {
        Start(i32, i64),
        Finish(i32, i64),
        Clear,
    }
    use Step::{Clear, Finish, Start};

    /// A case: what it shows, the steps, and the commits they must give.
    type Case = (&'static str, &'static [Step], &'static [(i32, i64)]);

    /// Runs the steps, asking for commits after each; returns every commit handed out.
    fn run(steps: &[Step]) -> Vec<(i32, i64)> {
        let mut t = InOrderCommits::new();
        let mut commits = Vec::new();
        for step in steps {
            match *step {
                Start(p, o) => t.start(p, o),
                Finish(p, o) => t.finish(p, o),
                Clear => t.clear(),
            }
            commits.extend(t.ready());
        }
        commits
    }

    #[test]
    fn table() {
        let cases: &[Case] = &[
            ("nothing started, nothing to commit", &[], &[]),
            (
                "started, not finished: nothing to commit",
                &[Start(0, 5), Start(0, 6)],
                &[],
            ),
            (
                "in order",
                &[Start(0, 0), Finish(0, 0), Start(0, 1), Finish(0, 1)],
                &[(0, 1), (0, 2)],
            ),
            (
                "a later one finishing first commits nothing past the earlier one",
                &[
                    Start(0, 0),
                    Start(0, 1),
                    Start(0, 2),
                    Finish(0, 2),
                    Finish(0, 1),
                ],
                &[],
            ),
            (
                "the earliest finishing last releases all of them at once",
                &[
                    Start(0, 0),
                    Start(0, 1),
                    Start(0, 2),
                    Finish(0, 2),
                    Finish(0, 1),
                    Finish(0, 0),
                ],
                &[(0, 3)],
            ),
            (
                "a gap in offsets (compacted or skipped records) does not hold the commit",
                &[Start(0, 10), Start(0, 14), Finish(0, 10), Finish(0, 14)],
                &[(0, 14), (0, 15)],
            ),
            (
                "partitions are independent: one stuck does not hold the other",
                &[
                    Start(0, 0),
                    Start(1, 0),
                    Start(1, 1),
                    Finish(1, 0),
                    Finish(1, 1),
                ],
                &[(1, 1), (1, 2)],
            ),
            (
                "the middle one stuck: commit up to it only",
                &[
                    Start(2, 7),
                    Start(2, 8),
                    Start(2, 9),
                    Finish(2, 7),
                    Finish(2, 9),
                ],
                &[(2, 8)],
            ),
            (
                "after a rebalance nothing from before is committed",
                &[Start(0, 0), Start(0, 1), Clear, Finish(0, 1), Finish(0, 0)],
                &[],
            ),
            (
                "after a rebalance the partition starts again from what is delivered",
                &[Start(0, 3), Clear, Start(0, 3), Finish(0, 3)],
                &[(0, 4)],
            ),
            (
                "finishing an offset never started changes nothing",
                &[Start(0, 1), Finish(0, 0), Finish(3, 9)],
                &[],
            ),
        ];
        for (what, steps, want) in cases {
            assert_eq!(run(steps), *want, "{what}");
        }
    }

    #[test]
    fn counts_what_is_in_flight() {
        let mut t = InOrderCommits::new();
        t.start(0, 0);
        t.start(0, 1);
        t.start(1, 0);
        assert_eq!(t.in_flight(), 3);
        t.finish(0, 1);
        assert_eq!(t.in_flight(), 2);
        t.clear();
        assert_eq!(t.in_flight(), 0);
    }
}
