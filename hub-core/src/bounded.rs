//! A bounded in-memory map for caches whose keys name immutable things
//! (a git object id, a commit's content): a key's value never changes, so
//! nothing is ever invalidated, and memory is the only thing to bound. Each
//! entry has a weight (bytes, or entries of a listing); past the budget the
//! oldest entries go first (FIFO: cheap, lock held for a hash operation).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;

pub struct BoundedMap<K, V> {
    inner: Mutex<Inner<K, V>>,
    budget: usize,
}

struct Inner<K, V> {
    map: HashMap<K, (V, usize)>,
    order: VecDeque<K>,
    weight: usize,
}

impl<K: Eq + Hash + Clone, V: Clone> BoundedMap<K, V> {
    /// A map holding at most `budget` of weight.
    pub fn new(budget: usize) -> BoundedMap<K, V> {
        BoundedMap {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                order: VecDeque::new(),
                weight: 0,
            }),
            budget,
        }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let inner = self.inner.lock().expect("bounded map poisoned");
        inner.map.get(key).map(|(v, _)| v.clone())
    }

    /// Remembers `value` under `key` with its `weight` (at least 1 is
    /// counted). A key already there keeps its value (the same one, as
    /// keys name immutable things); one heavier than an eighth of the
    /// budget is not kept, so a few large values cannot flush all others.
    pub fn insert(&self, key: K, value: V, weight: usize) {
        let weight = weight.max(1);
        if weight > self.budget / 8 {
            return;
        }
        let mut inner = self.inner.lock().expect("bounded map poisoned");
        if inner.map.contains_key(&key) {
            return;
        }
        while inner.weight + weight > self.budget {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some((_, w)) = inner.map.remove(&oldest) {
                inner.weight -= w;
            }
        }
        inner.weight += weight;
        inner.order.push_back(key.clone());
        inner.map.insert(key, (value, weight));
    }

    /// The weight held now.
    pub fn weight(&self) -> usize {
        self.inner.lock().expect("bounded map poisoned").weight
    }
}

#[cfg(test)]
mod tests {
    use super::BoundedMap;

    #[test]
    fn keeps_within_budget_dropping_the_oldest() {
        let map = BoundedMap::new(100);
        for i in 0..20 {
            map.insert(i, i * 10, 10);
        }
        assert_eq!(map.weight(), 100);
        assert_eq!(map.get(&9), None, "the oldest went first");
        assert_eq!(map.get(&10), Some(100));
        assert_eq!(map.get(&19), Some(190));
    }

    #[test]
    fn keeps_the_first_value_and_skips_heavy_ones() {
        let map = BoundedMap::new(800);
        map.insert("a", 1, 5);
        map.insert("a", 2, 5);
        assert_eq!(map.get(&"a"), Some(1));
        map.insert("big", 3, 101);
        assert_eq!(map.get(&"big"), None, "over an eighth of the budget");
        assert_eq!(map.weight(), 5);
    }
}
