//! Sorting and map building that instantiate the standard library's sorts once, not once per
//! element type. Each `sort_by_key` on a new type and each `collect()` into a `BTreeMap` or
//! `BTreeSet` (which sorts its items first) compiles another copy of the stable sort, ≈ 4–5 KB
//! of a router's flash apiece; thirty of them were ≈ 0.17 MB (BENCHMARKS.md "Footprint", fourth
//! pass). Nothing here is on a path where the sort's speed matters: the lists are short.

use std::collections::{BTreeMap, BTreeSet};

/// Sorts `items` by `key`, stably (equal keys keep their order), through one shared
/// instance of the sort of `(u64, usize)` pairs.
pub fn sort_stably_by_key<T>(items: &mut Vec<T>, key: impl Fn(&T) -> u64) {
    if items.len() < 2 {
        return;
    }
    // (key, position): positions are distinct, so the unstable sort of the pairs is stable for
    // the items.
    let mut order: Vec<(u64, usize)> = items.iter().enumerate().map(|(i, t)| (key(t), i)).collect();
    order.sort_unstable();
    let mut slots: Vec<Option<T>> = items.drain(..).map(Some).collect();
    items.extend(order.iter().filter_map(|&(_, i)| slots[i].take()));
}

/// An `i64` as a `u64` that sorts the same way.
pub fn i64_key(value: i64) -> u64 {
    u64::from_ne_bytes(value.to_ne_bytes()) ^ (1 << 63)
}

/// A map from items, inserted one at a time (later items win, as with `collect()`).
pub fn btree_map<K: Ord, V>(items: impl IntoIterator<Item = (K, V)>) -> BTreeMap<K, V> {
    let mut map = BTreeMap::new();
    map.extend(items);
    map
}

/// A set from items, inserted one at a time.
pub fn btree_set<T: Ord>(items: impl IntoIterator<Item = T>) -> BTreeSet<T> {
    let mut set = BTreeSet::new();
    set.extend(items);
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn sorts_as_the_standard_stable_sort(items in proptest::collection::vec((0u8..6, any::<u16>()), 0..40)) {
            let mut ours = items.clone();
            sort_stably_by_key(&mut ours, |(k, _)| u64::from(*k));
            let mut std_sorted = items;
            std_sorted.sort_by_key(|(k, _)| *k);
            prop_assert_eq!(ours, std_sorted);
        }

        #[test]
        fn i64_keys_keep_their_order(a in any::<i64>(), b in any::<i64>()) {
            prop_assert_eq!(a.cmp(&b), i64_key(a).cmp(&i64_key(b)));
        }
    }

    #[test]
    fn maps_and_sets_match_collect() {
        let items = [(3, "c"), (1, "a"), (3, "x"), (2, "b")];
        assert_eq!(
            btree_map(items),
            items.into_iter().collect::<BTreeMap<_, _>>()
        );
        assert_eq!(
            btree_set([5, 1, 5, 2]),
            [5, 1, 5, 2].into_iter().collect::<BTreeSet<_>>()
        );
    }
}
