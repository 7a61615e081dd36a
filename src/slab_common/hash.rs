//! The hash of the registry's maps (the merge index, the sysfs tree).
//!
//! `std`'s SipHash resists collisions an adversary chooses; here every key
//! is a cache name, an address or a `(size, flags)` pair that the world's
//! own creators made, so that buys nothing, and on 100,000 creates SipHash
//! costs more than the map operation it serves. This hash takes a word at a
//! time with one folded multiply (the two halves of the 128-bit product
//! xored, as foldhash does): a plain multiply (Fx) only carries entropy
//! upwards, and names that differ in a digit or two (`scale-1`,
//! `scale-2`, ...) then crowd into a tenth of the buckets a table indexes
//! with the low bits.

use std::hash::{BuildHasherDefault, Hasher};

/// `HashMap`'s hasher for the registry's keys.
pub(crate) type FoldBuildHasher = BuildHasherDefault<FoldHasher>;

/// A `HashMap` with [`FoldHasher`].
pub(crate) type FoldHashMap<K, V> = std::collections::HashMap<K, V, FoldBuildHasher>;

/// An odd constant with no structure (the digits of pi, as foldhash's seed).
const SEED: u64 = 0x243f_6a88_85a3_08d3;

/// One folded multiply per word: `hash = fold((hash ^ word) * SEED)`.
#[derive(Clone, Copy, Default)]
pub(crate) struct FoldHasher {
    hash: u64,
}

impl FoldHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        let product = u128::from(self.hash ^ word) * u128::from(SEED);
        self.hash = (product as u64) ^ ((product >> 64) as u64);
    }
}

/// The last 1-7 bytes as a little-endian word padded with zeros, read in
/// pieces of 4, 2 and 1: a copy into a zeroed buffer is a `memcpy` call of a
/// length known only at run time, which costs more than the hash (the kmem
/// parser hashes three texts a line).
#[inline]
fn tail_word(rest: &[u8]) -> u64 {
    debug_assert!(rest.len() < 8);
    let mut word = 0u64;
    let mut k = 0;
    if rest.len() >= 4 {
        word = u64::from(u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")));
        k = 4;
    }
    if rest.len() - k >= 2 {
        word |= u64::from(u16::from_le_bytes(rest[k..k + 2].try_into().expect("2 bytes"))) << (8 * k);
        k += 2;
    }
    if rest.len() > k {
        word |= u64::from(rest[k]) << (8 * k);
    }
    word
}

impl Hasher for FoldHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // The length first: a zero word folds a zero hash to zero, and the
        // last word is padded with zeros, so without it `""` and `"\0"`, or
        // `"a"` and `"a\0"`, would collide.
        self.add(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            self.add(tail_word(rest));
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
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    use super::*;

    /// The tail word is the zero-padded little-endian word of the last bytes.
    #[test]
    fn tail_word_pads_with_zeros() {
        let bytes = [0x11u8, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77];
        for n in 1..8 {
            let mut word = [0u8; 8];
            word[..n].copy_from_slice(&bytes[..n]);
            assert_eq!(tail_word(&bytes[..n]), u64::from_le_bytes(word), "{n}");
        }
    }

    /// Strings that differ only past a word boundary, or only in length,
    /// hash apart; and the keys a world makes by the thousand — names that
    /// differ in their digits, cache-aligned addresses, strides — spread
    /// over the low bits a table indexes with as random keys would (about
    /// 70,000 distinct values of 17 bits for 100,000 keys).
    #[test]
    fn keys_of_the_registry_hash_apart_and_spread() {
        let h = FoldBuildHasher::default();
        assert_ne!(h.hash_one("scale-100000"), h.hash_one("scale-100001"));
        assert_ne!(h.hash_one("kmalloc-8"), h.hash_one("kmalloc-8\0"));
        assert_ne!(h.hash_one(""), h.hash_one("\0"));
        let low =
            |hashes: &mut dyn Iterator<Item = u64>| hashes.map(|x| x & ((1 << 17) - 1)).collect::<HashSet<_>>().len();
        let names = low(&mut (0..100_000).map(|i| h.hash_one(format!("scale-{i}"))));
        let addresses = low(&mut (0..100_000usize).map(|i| h.hash_one(0x7f00_0000_0000 + i * 64)));
        let strides = low(&mut (0..100_000u32).map(|i| h.hash_one((8 * (i + 1), crate::flags::SlabFlags::EMPTY))));
        for (what, distinct) in [("names", names), ("addresses", addresses), ("strides", strides)] {
            assert!(distinct > 60_000, "{what}: {distinct} distinct low bits of 100,000");
        }
    }
}
