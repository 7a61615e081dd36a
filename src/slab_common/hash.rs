//! The hash of the registry's maps (the merge index, the sysfs tree).
//!
//! `std`'s SipHash resists collisions an adversary chooses; here every key
//! is a cache name, an address or a `(size, flags)` pair that the world's
//! own creators made, so that buys nothing, and on 100,000 creates SipHash
//! costs more than the map operation it serves. This is rustc's Fx hash
//! (one multiply per word), with its final rotation: the multiply leaves
//! the entropy in the high bits, and the rotation brings it to the low bits
//! that pick a bucket (cache addresses have no low bits of their own).

use std::hash::{BuildHasherDefault, Hasher};

/// `HashMap`'s hasher for the registry's keys.
pub(crate) type FxBuildHasher = BuildHasherDefault<FxHasher>;

/// A `HashMap` with [`FxHasher`].
pub(crate) type FxHashMap<K, V> = std::collections::HashMap<K, V, FxBuildHasher>;

const SEED: u64 = 0xf135_7aea_2e62_a9c5;

/// rustc's Fx hash as `rustc-hash` 2 has it for words, `hash = (hash +
/// word) * SEED`; a byte string goes in as its length, then eight bytes to
/// the word.
#[derive(Clone, Copy, Default)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = self.hash.wrapping_add(word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // The length first: a zero word adds nothing to a zero hash, and the
        // last word is padded with zeros, so without it `""` and `"\0"`, or
        // `"a"` and `"a\0"`, would collide.
        self.add(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash.rotate_left(26)
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    /// Strings that differ only past a word boundary, or only in length
    /// (`str`'s `Hash` writes a terminator), hash apart; addresses that
    /// differ only above their alignment spread over the low bits.
    #[test]
    fn keys_of_the_registry_hash_apart() {
        let h = FxBuildHasher::default();
        assert_ne!(h.hash_one("scale-100000"), h.hash_one("scale-100001"));
        assert_ne!(h.hash_one("kmalloc-8"), h.hash_one("kmalloc-8\0"));
        assert_ne!(h.hash_one(""), h.hash_one("\0"));
        let low: std::collections::HashSet<u64> =
            (0..64usize).map(|i| h.hash_one(0x7f00_0000_0000 + i * 64) & 63).collect();
        assert!(low.len() > 32, "cache-aligned addresses crowd into {} of 64 buckets", low.len());
    }
}
