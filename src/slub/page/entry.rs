//! The descriptor word: what one page is (`struct page`'s `page_type` and
//! `slab_cache`, folded into one word).

use std::ptr::NonNull;

use crate::slub::slab::Slab;

/// What the page map knows about one page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PageEntry {
    /// Not a page in use (free, never handed out, or not slab memory at all).
    None,
    /// A page of this slab (`PageSlab`).
    Slab(NonNull<Slab>),
    /// A page of a large kmalloc allocation (`__kmalloc_large_node`); `head`
    /// for its first page.
    Large { head: bool, order: u32 },
}

const TAG_LARGE: usize = 1;
const TAG_HEAD: usize = 2;

impl PageEntry {
    /// The descriptor word: 0, an 8-byte aligned slab pointer, or a tagged
    /// large-kmalloc word below [`FIRST_SLAB_WORD`].
    #[inline(always)]
    pub(super) fn encode(self) -> usize {
        match self {
            PageEntry::None => 0,
            PageEntry::Slab(slab) => {
                let word = slab.as_ptr() as usize;
                assert!(word >= FIRST_SLAB_WORD && word & 7 == 0, "slab pointers are 8-byte aligned heap addresses");
                word
            }
            PageEntry::Large { head, order } => {
                let word = ((order as usize) << 2) | TAG_LARGE | if head { TAG_HEAD } else { 0 };
                assert!(word < FIRST_SLAB_WORD, "large-kmalloc orders are small");
                word
            }
        }
    }

    /// Decodes a descriptor word (inline: two tests, no call).
    #[inline(always)]
    pub(super) fn decode(word: usize) -> PageEntry {
        match word_to_slab(word) {
            Some(slab) => PageEntry::Slab(slab),
            None if word & TAG_LARGE != 0 => PageEntry::Large { head: word & TAG_HEAD != 0, order: (word >> 2) as u32 },
            None => PageEntry::None,
        }
    }

    /// The entry of page `index` of a run that starts with `self`: large
    /// kmalloc tail pages are not heads.
    #[inline]
    pub(super) fn for_page(self, index: usize) -> PageEntry {
        match self {
            PageEntry::Large { order, .. } => PageEntry::Large { head: index == 0, order },
            other => other,
        }
    }
}

/// Every descriptor word that is not a slab pointer is below this: 0 (no
/// page) and the large-kmalloc words, at most `(MAX_PAGE_ORDER << 2) | 3`.
/// A slab pointer is an address of the heap, never in the first page
/// (`vm.mmap_min_addr`), so "is a slab" is one compare.
const FIRST_SLAB_WORD: usize = 4096;

/// `folio_slab()` on a descriptor word: the slab, or none for free and
/// large-kmalloc pages. One compare.
#[inline(always)]
pub(super) fn word_to_slab(word: usize) -> Option<NonNull<Slab>> {
    if word < FIRST_SLAB_WORD { None } else { NonNull::new(word as *mut Slab) }
}
