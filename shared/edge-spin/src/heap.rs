//! The components' allocator: Talc (JSON building and shaping allocate a lot; Talc is
//! faster there than Rust's default dlmalloc) over a heap that first uses a static arena.
//!
//! The arena lies in the module's zero-initialised data, so it is part of the initial
//! linear memory: a request that fits in it never grows memory. Each growth would cost
//! the host two `mprotect` calls (one to open the pages, one to close them again when the
//! instance's slot is recycled) and a TLB shoot-down on every core. Beyond the arena the
//! heap grows through `memory.grow`, at least `MIN_GROWTH` at a time.

use core::alloc::Layout;
use core::arch::wasm32::memory_grow;
use core::mem::MaybeUninit;
use core::ptr::NonNull;
use talc::base::binning::Binning;
use talc::base::{Talc, CHUNK_UNIT};
use talc::cell::TalcSyncCell;
use talc::source::Source;
use talc::wasm::WasmBinning;

/// Heap every request gets without growing memory (a `/search` answer of 20 persons uses
/// well under half of it).
const ARENA_BYTES: usize = 4 << 20;
const PAGE: usize = 64 << 10;
/// Smallest growth beyond the arena, in WebAssembly pages (1 MiB).
const MIN_GROWTH: usize = 16;

static mut ARENA: [MaybeUninit<u8>; ARENA_BYTES] = [MaybeUninit::uninit(); ARENA_BYTES];

/// Claims the arena on the first shortage, then grows linear memory, extending the last
/// grown heap when the new pages follow it.
#[derive(Debug)]
pub struct ArenaThenGrow {
    arena_claimed: bool,
    grown_end: Option<NonNull<u8>>,
}

// SAFETY: `acquire` only claims memory nothing else uses (the arena is private to this
// module; grown pages are fresh) and never allocates.
unsafe impl Source for ArenaThenGrow {
    fn acquire<B: Binning>(talc: &mut Talc<Self, B>, layout: Layout) -> Result<(), ()> {
        if !talc.source.arena_claimed {
            talc.source.arena_claimed = true;
            let base = (&raw mut ARENA).cast::<u8>();
            // SAFETY: the arena is handed over once and never touched otherwise.
            if unsafe { talc.claim(base, ARENA_BYTES) }.is_some() {
                return Ok(());
            }
        }
        // Room for the chunk, its alignment and a heap's own bookkeeping.
        let needed = layout.size() + layout.align() + 8 * CHUNK_UNIT;
        let pages = needed.div_ceil(PAGE).max(MIN_GROWTH);
        let previous = memory_grow::<0>(pages);
        if previous == usize::MAX {
            return Err(());
        }
        let base = (previous * PAGE) as *mut u8;
        let bytes = pages * PAGE;
        if let Some(end) = talc.source.grown_end.take() {
            if end.as_ptr() == base {
                // SAFETY: `end` ends the last grown heap and the new pages follow it.
                let end = unsafe { talc.extend(end, base.wrapping_add(bytes)) };
                talc.source.grown_end = Some(end);
                return Ok(());
            }
        }
        // SAFETY: fresh pages, owned by no one else.
        talc.source.grown_end = unsafe { talc.claim(base, bytes) };
        talc.source.grown_end.map(|_| ()).ok_or(())
    }
}

pub type Heap = TalcSyncCell<ArenaThenGrow, WasmBinning>;

pub const fn heap() -> Heap {
    TalcSyncCell::new_wasm(ArenaThenGrow {
        arena_claimed: false,
        grown_end: None,
    })
}
