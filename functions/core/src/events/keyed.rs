//! One holder per key at a time: for handlers that take events concurrently but must never
//! work on the same thing twice at once (two deliveries of one alert, a redelivery racing the
//! first), whichever transport brought them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

type Slot = Arc<tokio::sync::Mutex<()>>;

/// Locks by key; a key's entry lives only while someone holds or waits for it.
#[derive(Default)]
pub struct KeyedLocks {
    slots: Mutex<HashMap<String, Slot>>,
}

/// Held while it lives; the next holder of the key waits until it is dropped.
pub struct KeyGuard<'a> {
    locks: &'a KeyedLocks,
    key: String,
    slot: Slot,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl KeyedLocks {
    pub fn new() -> Self {
        Self::default()
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        // The map stays consistent whatever panicked while holding it: every change is one call.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until no one else holds `key`, then holds it.
    pub async fn lock(&self, key: &str) -> KeyGuard<'_> {
        let slot = self.slots().entry(key.to_owned()).or_default().clone();
        let guard = slot.clone().lock_owned().await;
        KeyGuard {
            locks: self,
            key: key.to_owned(),
            slot,
            guard: Some(guard),
        }
    }

    /// Keys held or waited for.
    pub fn len(&self) -> usize {
        self.slots().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut slots = self.locks.slots();
        // The map's reference and this guard's: no one else holds or waits, so the entry goes.
        // Waiters take their reference under the same map lock, so none can be missed.
        if Arc::strong_count(&self.slot) == 2 {
            slots.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_holder_per_key_and_entries_go_when_released() {
        let locks = Arc::new(KeyedLocks::new());
        let first = locks.lock("a").await;
        // Another key is free.
        drop(locks.lock("b").await);
        let waiter = {
            let locks = locks.clone();
            tokio::spawn(async move {
                let _held = locks.lock("a").await;
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "the second holder of a key waits");
        assert_eq!(locks.len(), 1);
        drop(first);
        waiter.await.unwrap();
        assert!(locks.is_empty(), "nothing kept once released");
    }
}
