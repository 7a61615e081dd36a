//! `membarrier(2)`: the heavy half of the asymmetric fence.
//!
//! `MEMBARRIER_CMD_PRIVATE_EXPEDITED` makes every thread of this process that
//! is running on some CPU execute a full memory barrier (an IPI runs `smp_mb()`
//! there) before the call returns; threads not running get one from the
//! context switch that will run them again. Together with a compiler barrier
//! on the owner side this gives the store→load ordering of a Dekker pair
//! without any fence instruction on the owner's fast path.
//!
//! Detection happens once per process: `MEMBARRIER_CMD_QUERY` must list
//! `PRIVATE_EXPEDITED` and `REGISTER_PRIVATE_EXPEDITED` and the registration
//! must succeed. Valgrind versions without the syscall answer `ENOSYS` (3.19
//! implements it), old kernels (< 4.14) lack the
//! command, seccomp sandboxes may refuse it: all of these select the fallback.
//! Setting `PERCPU_FORCE_FALLBACK=1` in the environment forces the fallback
//! for the whole process; `SlabConfig::percpu_fallback` forces it for the
//! caches of one world (what the tests use).

#[cfg(not(loom))]
use std::sync::OnceLock;

// From <linux/membarrier.h>; `libc` does not export them.
#[cfg(not(loom))]
const MEMBARRIER_CMD_QUERY: libc::c_int = 0;
#[cfg(not(loom))]
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
#[cfg(not(loom))]
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;
#[cfg(not(loom))]
const MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ: libc::c_int = 1 << 7;
#[cfg(not(loom))]
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ: libc::c_int = 1 << 8;
#[cfg(not(loom))]
const MEMBARRIER_CMD_FLAG_CPU: libc::c_uint = 1 << 0;

#[cfg(not(loom))]
static AVAILABLE: OnceLock<bool> = OnceLock::new();

#[cfg(not(loom))]
fn membarrier(cmd: libc::c_int) -> libc::c_long {
    membarrier_on(cmd, 0, 0)
}

#[cfg(not(loom))]
fn membarrier_on(cmd: libc::c_int, flags: libc::c_uint, cpu: libc::c_int) -> libc::c_long {
    // SAFETY: membarrier takes (cmd, flags, cpu_id) integers and touches no
    // user memory; a failure is reported through the return value and errno.
    unsafe { libc::syscall(libc::SYS_membarrier, cmd, flags, cpu) }
}

/// Registers this process for `MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ` (the
/// remote side of the real-CPU slots, `slub/rseq/`); false if the kernel
/// does not offer it (before 5.10) or refuses.
#[cfg(not(loom))]
pub(crate) fn register_rseq() -> bool {
    let query = membarrier(MEMBARRIER_CMD_QUERY);
    let need = (MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ) as libc::c_long;
    query >= 0 && query & need == need && membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ) == 0
}

/// `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ)`, on one CPU
/// (`MEMBARRIER_CMD_FLAG_CPU`) or on all: every thread of the process
/// running there gets its rseq critical section aborted (if it is inside
/// one) and a full barrier before the call returns.
///
/// Only called for real-CPU slots, which exist only after [`register_rseq`]
/// succeeded; a failure would void the remote side's exclusion, so it panics.
#[cfg(not(loom))]
pub(crate) fn private_expedited_rseq(cpu: Option<usize>) {
    let r = match cpu {
        Some(cpu) => membarrier_on(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, MEMBARRIER_CMD_FLAG_CPU, cpu as libc::c_int),
        None => membarrier_on(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, 0, 0),
    };
    if r != 0 {
        panic!("membarrier(PRIVATE_EXPEDITED_RSEQ) failed after registration: {}", std::io::Error::last_os_error());
    }
}

#[cfg(not(loom))]
fn detect() -> bool {
    if std::env::var_os("PERCPU_FORCE_FALLBACK").is_some_and(|v| v != "0" && !v.is_empty()) {
        return false;
    }
    let query = membarrier(MEMBARRIER_CMD_QUERY);
    if query < 0 {
        return false;
    }
    let need = (MEMBARRIER_CMD_PRIVATE_EXPEDITED | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) as libc::c_long;
    if query & need != need {
        return false;
    }
    membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0
}

/// Whether the heavy fence is usable in this process (detected and
/// registered on the first call; later calls are one load).
#[cfg(not(loom))]
pub fn available() -> bool {
    *AVAILABLE.get_or_init(detect)
}

/// Benchmarks only: makes [`available`] answer true *without* registering,
/// so a single-threaded instruction count under a valgrind that answers
/// `ENOSYS` measures the membarrier-mode fast path. Fail-stop, not unsound:
/// any heavy fence (a remote operation or a steal) then gets an error from
/// the kernel or valgrind and panics in [`private_expedited`] before touching
/// the data. Must be called before the first [`available`]; returns whether
/// it took effect.
#[cfg(not(loom))]
#[doc(hidden)]
pub fn assume_available_for_single_threaded_bench() -> bool {
    AVAILABLE.set(true).is_ok()
}

/// Under loom the heavy fence is a modelled `fence(SeqCst)`, always available;
/// models choose the fallback explicitly with `Mode::Fallback`.
#[cfg(loom)]
pub fn available() -> bool {
    true
}

/// `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0)`.
///
/// Only called by slots in membarrier mode, which exist only after
/// [`available`] returned true (registration succeeded), so the command
/// cannot fail with `EPERM`; any failure is a broken kernel contract and,
/// since silently continuing would void mutual exclusion, aborts via panic.
#[cfg(not(loom))]
pub fn private_expedited() {
    let r = membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
    if r != 0 {
        panic!("membarrier(PRIVATE_EXPEDITED) failed after registration: {}", std::io::Error::last_os_error());
    }
}
