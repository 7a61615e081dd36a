//! Loom models of the per-cpu protocol (`slub/percpu.rs`) on its own, for the
//! one interleaving the allocator's paths cannot produce: a *stale* fast path,
//! a thread entering the slot of the CPU it ran on a moment ago. In this
//! model a thread's CPU changes only when the thread itself calls
//! `set_current_cpu`, so `slab_alloc` never enters a slot it has migrated
//! away from; a preempted task in the kernel does, and the protocol is meant
//! to survive it (it is what the per-thread busy word is for). The slot data
//! is a two-object stack; loom's `UnsafeCell` tracking reports two contexts
//! inside at once, and the final count catches a lost or duplicated object.

use loom::sync::Arc;
use loom::thread;

use super::loom::{expect_caught, model};
use crate::config::Broken;
use crate::slub::cpu::set_current_cpu;
use crate::slub::percpu::{Mode, PerCpu, SectionData};

/// A sheaf-like stack of at most two objects.
#[derive(Debug, Default)]
struct Stack {
    objs: [u32; 2],
    len: usize,
}

/// These models run the virtual CPUs only (`Mode::Auto`): no section ever
/// asks for an open word.
impl SectionData for Stack {
    fn open_word(&self) -> usize {
        unreachable!("no real-CPU slots in these models")
    }
}

impl Stack {
    fn with(o: u32) -> Stack {
        Stack { objs: [o, 0], len: 1 }
    }
    fn pop(&mut self) -> Option<u32> {
        self.len = self.len.checked_sub(1)?;
        Some(self.objs[self.len])
    }
    fn push(&mut self, o: u32) {
        self.objs[self.len] = o;
        self.len += 1;
    }
    fn flush(&mut self, out: &mut Vec<u32>) {
        out.extend_from_slice(&self.objs[..self.len]);
        self.len = 0;
    }
}

/// A owns slot 0, migrates to CPU 1 and runs a stale fast path on slot 0
/// (as if preempted between reading its CPU and entering); C, on CPU 0,
/// steals the slot and works in it while R flushes it remotely.
fn stale_owner(broken: Option<Broken>) {
    model("percpu_stale_owner", move || {
        let mut pcs = PerCpu::new(2, Mode::Auto, |i| Stack::with(20 + i as u32));
        pcs.set_broken(broken);
        let pcs = Arc::new(pcs);
        set_current_cpu(0);
        drop(pcs.slot(0).enter().expect("the first entry claims the slot"));
        set_current_cpu(1);
        let c = {
            let pcs = pcs.clone();
            thread::spawn(move || {
                set_current_cpu(0);
                let mut held = Vec::new();
                if let Some((_, mut g)) = pcs.enter_local() {
                    if let Some(o) = g.with_mut(Stack::pop) {
                        g.with_mut(|s| s.push(o));
                    }
                    held.extend(g.with_mut(Stack::pop));
                }
                held
            })
        };
        let r = {
            let pcs = pcs.clone();
            thread::spawn(move || {
                set_current_cpu(7);
                let mut out = Vec::new();
                pcs.slot(0).lock_remote().with_mut(|s| s.flush(&mut out));
                out
            })
        };
        // A's stale fast path on slot 0.
        drop(pcs.slot(0).enter());
        let mut all = c.join().unwrap();
        all.extend(r.join().unwrap());
        for slot in pcs.iter() {
            slot.lock_remote().with_mut(|s| s.flush(&mut all));
        }
        all.sort_unstable();
        assert_eq!(all, [20, 21], "an object was lost or duplicated");
    });
}

/// The per-thread busy word: a stale former owner's stores touch only its
/// own word, so a remote never mistakes the new owner for idle.
#[test]
fn loom_percpu_busy_word_survives_stale_owner() {
    stale_owner(None);
}

/// The first design's per-slot busy word: the stale owner's clearing store
/// cancels the new owner's, and the flush enters alongside it.
#[test]
fn loom_catches_percpu_slot_busy() {
    expect_caught(
        "tests::loom_percpu::loom_catches_percpu_slot_busy",
        Broken::SlotBusy,
        stale_owner,
        &["Causality violation", "lost or duplicated"],
    );
}

/// A owns slot 0 and migrates to CPU 1, but its fast path still runs on
/// slot 0 (stale); C, on CPU 0, steals the slot through the remote protocol.
fn steal_from_stale_owner(broken: Option<Broken>) {
    model("percpu_steal_from_stale_owner", move || {
        let mut pcs = PerCpu::new(2, Mode::Auto, |i| Stack::with(10 + i as u32));
        pcs.set_broken(broken);
        let pcs = Arc::new(pcs);
        set_current_cpu(0);
        drop(pcs.slot(0).enter().expect("the first entry claims the slot"));
        let c = {
            let pcs = pcs.clone();
            thread::spawn(move || {
                set_current_cpu(0);
                let mut held = Vec::new();
                if let Some((idx, mut g)) = pcs.enter_local() {
                    assert_eq!(idx, 0);
                    held.extend(g.with_mut(Stack::pop));
                }
                held
            })
        };
        set_current_cpu(1);
        let mut held = Vec::new();
        if let Some(mut g) = pcs.slot(0).enter()
            && let Some(o) = g.with_mut(Stack::pop)
        {
            g.with_mut(|s| s.push(o));
        }
        held.extend(c.join().unwrap());
        for slot in pcs.iter() {
            slot.lock_remote().with_mut(|s| s.flush(&mut held));
        }
        held.sort_unstable();
        assert_eq!(held, [10, 11], "an object was lost or duplicated");
    });
}

/// The steal waits, after its heavy fence, for the stale owner's section.
#[test]
fn loom_percpu_claimer_steals_from_stale_owner() {
    steal_from_stale_owner(None);
}

/// A steal without membarrier enters alongside the stale owner.
#[test]
fn loom_catches_percpu_steal_skip_heavy_fence() {
    expect_caught(
        "tests::loom_percpu::loom_catches_percpu_steal_skip_heavy_fence",
        Broken::SkipHeavyFence,
        steal_from_stale_owner,
        &["Causality violation", "lost or duplicated"],
    );
}
