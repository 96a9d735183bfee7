//! The work queue: keys due at times, deduplicated by key (the earliest due time wins), handed out
//! when due, and never handed out again while they are being worked on (kube-runtime's scheduler
//! and runner in one). A key scheduled while it runs is held back and queued when it finishes,
//! at the earliest time asked for meanwhile.

use std::collections::{BTreeMap, BTreeSet};

/// Keys waiting for a due time, and keys being worked on.
#[derive(Debug)]
pub struct Scheduler<K: Ord + Clone> {
    /// Each waiting key's due time (ms).
    due: BTreeMap<K, u64>,
    /// The same, ordered by due time.
    queue: BTreeSet<(u64, K)>,
    /// Keys being worked on, with the earliest time asked for meanwhile.
    running: BTreeMap<K, Option<u64>>,
}

impl<K: Ord + Clone> Default for Scheduler<K> {
    fn default() -> Self {
        Self {
            due: BTreeMap::new(),
            queue: BTreeSet::new(),
            running: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Clone> Scheduler<K> {
    /// Asks for `key` to be worked on at `at_ms`; an earlier request for it stands.
    pub fn schedule(&mut self, key: K, at_ms: u64) {
        if let Some(later) = self.running.get_mut(&key) {
            *later = Some(later.map_or(at_ms, |t| t.min(at_ms)));
            return;
        }
        match self.due.get(&key) {
            Some(&current) if current <= at_ms => {}
            Some(&current) => {
                self.queue.remove(&(current, key.clone()));
                self.queue.insert((at_ms, key.clone()));
                self.due.insert(key, at_ms);
            }
            None => {
                self.queue.insert((at_ms, key.clone()));
                self.due.insert(key, at_ms);
            }
        }
    }

    /// Takes up to `max` keys due by `now_ms`, earliest first, with their due times, and marks
    /// them running.
    pub fn pop_due(&mut self, now_ms: u64, max: usize) -> Vec<(K, u64)> {
        let mut taken = Vec::new();
        while taken.len() < max {
            let Some((at, _)) = self.queue.first() else {
                break;
            };
            if *at > now_ms {
                break;
            }
            let Some((at, key)) = self.queue.pop_first() else {
                break;
            };
            self.due.remove(&key);
            self.running.insert(key.clone(), None);
            taken.push((key, at));
        }
        taken
    }

    /// Marks `key` done; a request made while it ran is queued now.
    pub fn finish(&mut self, key: &K) {
        if let Some(Some(at)) = self.running.remove(key) {
            self.schedule(key.clone(), at);
        }
    }

    /// Forgets a waiting key (a running one finishes normally).
    pub fn cancel(&mut self, key: &K) {
        if let Some(at) = self.due.remove(key) {
            self.queue.remove(&(at, key.clone()));
        }
    }

    /// The earliest due time of a waiting key.
    pub fn next_due(&self) -> Option<u64> {
        self.queue.first().map(|(at, _)| *at)
    }

    /// How many waiting keys are due by `now_ms`, counting up to `cap`.
    pub fn due_count(&self, now_ms: u64, cap: usize) -> usize {
        self.queue
            .iter()
            .take_while(|(at, _)| *at <= now_ms)
            .take(cap)
            .count()
    }

    /// Keys waiting (not running).
    pub fn waiting(&self) -> usize {
        self.queue.len()
    }

    /// Keys being worked on.
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// Whether `key` is being worked on.
    pub fn is_running(&self, key: &K) -> bool {
        self.running.contains_key(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_due_time_wins() {
        let mut s = Scheduler::default();
        s.schedule("a", 100);
        s.schedule("a", 50);
        s.schedule("a", 70);
        assert_eq!(s.waiting(), 1);
        assert_eq!(s.next_due(), Some(50));
        assert!(s.pop_due(49, 10).is_empty());
        assert_eq!(s.pop_due(50, 10), vec![("a", 50)]);
    }

    #[test]
    fn a_running_key_is_never_handed_out_twice() {
        let mut s = Scheduler::default();
        s.schedule("a", 0);
        assert_eq!(s.pop_due(0, 10).len(), 1);
        // Asked for again while it runs: held back, not queued.
        s.schedule("a", 5);
        s.schedule("a", 3);
        assert!(s.pop_due(10, 10).is_empty());
        assert!(s.is_running(&"a"));
        // Finished: queued at the earliest time asked for meanwhile.
        s.finish(&"a");
        assert_eq!(s.pop_due(10, 10), vec![("a", 3)]);
    }

    #[test]
    fn pop_takes_at_most_max_keys_earliest_first() {
        let mut s = Scheduler::default();
        for (i, k) in ["c", "a", "b", "d"].into_iter().enumerate() {
            s.schedule(k, i as u64);
        }
        assert_eq!(s.due_count(2, 10), 3);
        assert_eq!(s.due_count(2, 2), 2);
        assert_eq!(s.pop_due(2, 2), vec![("c", 0), ("a", 1)]);
        assert_eq!(s.pop_due(2, 5), vec![("b", 2)]);
        assert_eq!(s.running(), 3);
        assert_eq!(s.waiting(), 1);
        s.cancel(&"d");
        assert_eq!(s.next_due(), None);
    }

    #[test]
    fn finishing_without_a_new_request_leaves_nothing_queued() {
        let mut s = Scheduler::default();
        s.schedule("a", 0);
        let _ = s.pop_due(0, 1);
        s.finish(&"a");
        assert_eq!(s.waiting(), 0);
        assert_eq!(s.running(), 0);
    }
}
