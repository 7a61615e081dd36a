//! Decodes a merged cache's sysfs directory name, as written by
//! `create_unique_id()` in `mm/slub.c`.
//!
//! `:` then one letter per merge-relevant flag, `-` if any letter was
//! written, then `s->size` (the stride, sysfs `slab_size`) as `%07u`.
//! Letters, in the kernel's order:
//! * `d` `SLAB_CACHE_DMA`
//! * `D` `SLAB_CACHE_DMA32` (since 4.19)
//! * `a` `SLAB_RECLAIM_ACCOUNT`
//! * `F` `SLAB_CONSISTENCY_CHECKS` (called `SLAB_DEBUG_FREE` before 4.6)
//! * `t` written when `SLAB_NOTRACK` was *not* set (kmemcheck era, 2.6.31 –
//!   4.14; removed with kmemcheck)
//! * `A` `SLAB_ACCOUNT` (since 4.5)

/// The decoded parts of a unique id such as `:aA-0000104`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct UniqueId {
    /// `s->size`: the per-object stride (sysfs `slab_size`).
    pub size: u32,
    /// `d`: `SLAB_CACHE_DMA`.
    pub dma: bool,
    /// `D`: `SLAB_CACHE_DMA32`.
    pub dma32: bool,
    /// `a`: `SLAB_RECLAIM_ACCOUNT`.
    pub reclaim_account: bool,
    /// `F`: `SLAB_CONSISTENCY_CHECKS` (sysfs `sanity_checks`).
    pub consistency_checks: bool,
    /// `t`: kmemcheck tracking (not `SLAB_NOTRACK`), kernels 2.6.31 – 4.14 only.
    pub tracked: bool,
    /// `A`: `SLAB_ACCOUNT` (memcg accounted).
    pub account: bool,
}

impl UniqueId {
    /// Parses `:[dDaFtA]*[-]NNNNNNN`; `None` for any other name (a
    /// self-named cache, an alias). The `-` must be present exactly when a
    /// letter is; letters must be in the kernel's order, each at most once.
    pub fn parse(name: &str) -> Option<UniqueId> {
        let rest = name.strip_prefix(':')?;
        let (letters, digits) = match rest.split_once('-') {
            Some((l, d)) if !l.is_empty() => (l, d),
            Some(_) => return None,
            None => ("", rest),
        };
        if digits.len() < 7 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let size: u32 = digits.parse().ok()?;
        let mut id = UniqueId { size, ..UniqueId::default() };
        let order = "dDaFtA";
        let mut last = None;
        for c in letters.chars() {
            let pos = order.find(c)?;
            if last.is_some_and(|l| pos <= l) {
                return None;
            }
            last = Some(pos);
            match c {
                'd' => id.dma = true,
                'D' => id.dma32 = true,
                'a' => id.reclaim_account = true,
                'F' => id.consistency_checks = true,
                't' => id.tracked = true,
                _ => id.account = true,
            }
        }
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_kernel_spellings() {
        let id = UniqueId::parse(":aA-0000104").unwrap();
        assert_eq!((id.size, id.reclaim_account, id.account, id.dma), (104, true, true, false));
        assert_eq!(UniqueId::parse(":0000024").unwrap(), UniqueId { size: 24, ..Default::default() });
        assert!(UniqueId::parse(":dDaFtA-0004096").unwrap().tracked);
        assert_eq!(UniqueId::parse(":t-0000064").unwrap().size, 64);
        for bad in ["dentry", ":", ":-0000024", ":A0000024", ":Aa-0000024", ":AA-0000024", ":x-0000024", ":000024"] {
            assert_eq!(UniqueId::parse(bad), None, "{bad}");
        }
    }
}
