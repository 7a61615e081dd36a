//! Small fast hashers for the kmem capture's tables (the std SipHash is
//! DoS-resistant and slow; these tables are bounded and keyed by trace text
//! or integers).
//!
//! Texts (cache names, call sites, GFP flags) hash with the registry's
//! folded multiply (`slab_common::hash`, crate-private): names that differ
//! in a digit or two (`kmalloc-64`, `kmalloc-96`, `bio-184`) must spread
//! over the low bits a table indexes with, which a plain multiply-rotate
//! hash (FxHash) does not do.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map keyed by text, with the registry's folded-multiply hash.
pub(crate) type StrMap<K, V> = crate::slab_common::hash::FoldHashMap<K, V>;

/// FxHash's multiplier, for [`IntHasher`]'s byte fallback.
const K: u64 = 0x517c_c1b7_2722_0a95;

/// A multiply-shift hasher for one integer key (pointers, ids): the high
/// bits of a pointer differ little, so the key is folded before the multiply.
#[derive(Default, Clone, Copy)]
pub struct IntHasher(u64);

impl Hasher for IntHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// A map keyed by one integer, with [`IntHasher`].
pub type IntMap<K, V> = HashMap<K, V, BuildHasherDefault<IntHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    /// The capture's short names hash apart, and names that differ in a
    /// digit spread over the low bits (FxHash put `kmalloc-8` ...
    /// `kmalloc-8192` into a few buckets of a small table).
    #[test]
    fn names_hash_apart_and_spread() {
        let b = StrMap::<Box<str>, u32>::default().hasher().clone();
        let names = ["kmalloc-64", "kmalloc-96", "filp", "pid", "", "a", "b", "kmalloc-cg-64"];
        let hashes: std::collections::HashSet<u64> = names.iter().map(|n| b.hash_one(n)).collect();
        assert_eq!(hashes.len(), names.len());
        let low: std::collections::HashSet<u64> =
            (0..1000).map(|i| b.hash_one(format!("kmalloc-{i}")) & 1023).collect();
        assert!(low.len() > 550, "{} distinct low bits of 1,000", low.len());
    }
}
