//! A fault-injecting [`StorageBackend`]: a disk with a volatile write cache.
//!
//! Every `write` and `set_len` goes to the *current* image (what reads see, as the OS page
//! cache would) and is queued as *pending*; `sync_data` makes everything pending durable.
//! At a chosen call (the n-th write, sync or mutating call) the disk can:
//!
//! - fail the call with an I/O error, once (`sticky: false`) or for every later call too;
//! - "lose power" just before the call: the durable image becomes the synced bytes plus the
//!   part of the pending writes that a [`Keep`] policy says reached the platter (nothing,
//!   everything, an in-order prefix torn at a sector boundary, or random 512-byte sectors of
//!   random writes, in any combination: a reordering cache); every later call fails;
//! - panic, before doing the call's work or after it (for in-process abort tests).
//!
//! Sectors of [`SECTOR`] bytes are the unit of atomicity: a kept write keeps whole sectors.
//! This file has no dependency but `pipeline_deps`, so the fuzz crate includes it by path.
#![allow(dead_code)]

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use pipeline_deps::storage::StorageBackend;

/// The atomic unit of a simulated write.
pub const SECTOR: u64 = 512;

/// A small deterministic random generator (splitmix64): tests need no `rand` dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `percent / 100`.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Which calls a fault plan counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The n-th `write`.
    Write,
    /// The n-th `sync_data`.
    Sync,
    /// The n-th mutating call (`write`, `set_len` or `sync_data`).
    AnyMutation,
}

/// What survives of the unsynced writes when power is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Only synced bytes survive.
    Nothing,
    /// Every write reached the disk (as if the cache had been flushed just in time).
    Everything,
    /// The writes reached the disk in order, and the one in flight was torn after a random
    /// number of sectors.
    Prefix { seed: u64 },
    /// Each sector of each unsynced write, and each unsynced length change, independently
    /// survives or not (a write cache that reorders).
    RandomSectors { seed: u64 },
}

/// What the disk does at the chosen call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The call returns an I/O error; with `sticky`, every later mutating call does too.
    IoError { sticky: bool },
    /// Power is lost just before the call: see [`Keep`]. Every later call fails.
    PowerLoss { keep: Keep },
    /// The call panics, before (`after: false`) or after doing its work.
    Panic { after: bool },
}

/// A fault at the `nth` (0-based) call counted by `target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultPlan {
    pub target: Target,
    pub nth: u64,
    pub fault: Fault,
}

#[derive(Debug, Clone)]
enum Pending {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

/// Call counters, for dry runs that measure how many fault points an operation sequence has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub writes: u64,
    pub syncs: u64,
    pub set_lens: u64,
    pub reads: u64,
}

impl Counts {
    pub fn mutations(&self) -> u64 {
        self.writes + self.syncs + self.set_lens
    }

    pub fn of(&self, target: Target) -> u64 {
        match target {
            Target::Write => self.writes,
            Target::Sync => self.syncs,
            Target::AnyMutation => self.mutations(),
        }
    }
}

/// What a pending call replaced in the current image: the image's length before it, and the
/// bytes at `at` that it overwrote or cut off. Undoing the pending calls in reverse order
/// gives the durable image, which is therefore never kept as a copy of its own (copying whole
/// images was a few percent of a fuzz execution).
#[derive(Debug)]
struct Undo {
    len: usize,
    at: usize,
    bytes: Vec<u8>,
}

impl Undo {
    /// What a call that changes `range` (clamped to the image) of `image` replaces.
    fn of(image: &[u8], start: usize, end: usize) -> Undo {
        let at = start.min(image.len());
        let end = end.clamp(at, image.len());
        Undo {
            len: image.len(),
            at,
            bytes: image[at..end].to_vec(),
        }
    }

    fn revert(&self, image: &mut Vec<u8>) {
        image.resize(self.len, 0);
        image[self.at..self.at + self.bytes.len()].copy_from_slice(&self.bytes);
    }
}

/// The disk's state. The durable image (the synced bytes) is the current image with the
/// pending calls undone.
#[derive(Debug, Default)]
struct State {
    current: Vec<u8>,
    pending: Vec<(Pending, Undo)>,
    counts: Counts,
    plan: Option<FaultPlan>,
    fired: bool,
    sticky: bool,
    powered_off: bool,
    crash_image: Option<Vec<u8>>,
}

fn apply(image: &mut Vec<u8>, op: &Pending) {
    match op {
        Pending::Write { offset, data } => write_into(image, *offset, data),
        Pending::SetLen(len) => image.resize(to_usize(*len), 0),
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn write_into(image: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let start = to_usize(offset);
    let end = start.saturating_add(data.len());
    if image.len() < end {
        image.resize(end, 0);
    }
    image[start..end].copy_from_slice(data);
}

/// The sector-aligned pieces of a write: `(offset, bytes)`.
fn sectors(offset: u64, data: &[u8]) -> Vec<(u64, &[u8])> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < data.len() {
        let at = offset + pos as u64;
        let room = to_usize(SECTOR - at % SECTOR);
        let end = (pos + room).min(data.len());
        out.push((at, &data[pos..end]));
        pos = end;
    }
    out
}

impl State {
    /// The synced bytes.
    fn durable(&self) -> Vec<u8> {
        let mut image = self.current.clone();
        for (_, undo) in self.pending.iter().rev() {
            undo.revert(&mut image);
        }
        image
    }

    /// Durable bytes plus what `keep` lets survive of the pending writes.
    fn power_loss_image(&self, keep: Keep) -> Vec<u8> {
        let mut image = self.durable();
        match keep {
            Keep::Nothing => {}
            Keep::Everything => {
                for (op, _) in &self.pending {
                    apply(&mut image, op);
                }
            }
            Keep::Prefix { seed } => {
                let mut rng = Rng::new(seed);
                let total: usize = self
                    .pending
                    .iter()
                    .map(|(op, _)| match op {
                        Pending::Write { offset, data } => sectors(*offset, data).len(),
                        Pending::SetLen(_) => 1,
                    })
                    .sum();
                let mut budget = rng.below(total as u64 + 1);
                'ops: for (op, _) in &self.pending {
                    match op {
                        Pending::SetLen(_) => {
                            if budget == 0 {
                                break 'ops;
                            }
                            budget -= 1;
                            apply(&mut image, op);
                        }
                        Pending::Write { offset, data } => {
                            for (at, piece) in sectors(*offset, data) {
                                if budget == 0 {
                                    break 'ops;
                                }
                                budget -= 1;
                                write_into(&mut image, at, piece);
                            }
                        }
                    }
                }
            }
            Keep::RandomSectors { seed } => {
                let mut rng = Rng::new(seed);
                let percent = [10, 50, 90][to_usize(rng.below(3))];
                for (op, _) in &self.pending {
                    match op {
                        Pending::SetLen(_) => {
                            if rng.chance(percent) {
                                apply(&mut image, op);
                            }
                        }
                        Pending::Write { offset, data } => {
                            for (at, piece) in sectors(*offset, data) {
                                if rng.chance(percent) {
                                    write_into(&mut image, at, piece);
                                }
                            }
                        }
                    }
                }
            }
        }
        image
    }

    fn sync(&mut self) {
        self.pending.clear();
    }
}

/// The disk: keep this handle to arm faults and take images; give [`Disk::backend`] to the
/// database.
#[derive(Debug, Clone, Default)]
pub struct Disk(Arc<Mutex<State>>);

/// The [`StorageBackend`] view of a [`Disk`].
#[derive(Debug, Clone)]
pub struct FaultBackend(Arc<Mutex<State>>);

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic injected by this very disk must not make the disk itself unusable.
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn power_lost() -> io::Error {
    io::Error::other("simulated power loss: the disk is gone")
}

fn injected() -> io::Error {
    io::Error::other("simulated I/O error")
}

impl Disk {
    /// An empty disk.
    pub fn new() -> Self {
        Disk::default()
    }

    /// A disk whose durable content is `image` (as after a reboot).
    pub fn from_image(image: Vec<u8>) -> Self {
        Disk(Arc::new(Mutex::new(State {
            current: image,
            ..State::default()
        })))
    }

    /// The backend to open a database on.
    pub fn backend(&self) -> FaultBackend {
        FaultBackend(Arc::clone(&self.0))
    }

    /// Arms a fault (replacing any earlier plan); counting starts from the calls made so far.
    pub fn arm(&self, plan: FaultPlan) {
        let mut state = lock(&self.0);
        state.plan = Some(plan);
        state.fired = false;
    }

    /// Whether the armed fault has fired.
    pub fn fired(&self) -> bool {
        lock(&self.0).fired
    }

    pub fn counts(&self) -> Counts {
        lock(&self.0).counts
    }

    /// Whether power was lost (every call fails since).
    pub fn powered_off(&self) -> bool {
        lock(&self.0).powered_off
    }

    /// The bytes a reopen after a process crash (no power loss) sees: every write so far.
    pub fn current_image(&self) -> Vec<u8> {
        lock(&self.0).current.clone()
    }

    /// As [`Disk::current_image`], without copying it when no backend of this disk is left
    /// (the database on it was closed).
    pub fn into_current_image(self) -> Vec<u8> {
        match Arc::try_unwrap(self.0) {
            Ok(state) => {
                state
                    .into_inner()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .current
            }
            Err(shared) => lock(&shared).current.clone(),
        }
    }

    /// Only the synced bytes.
    pub fn durable_image(&self) -> Vec<u8> {
        lock(&self.0).durable()
    }

    /// The bytes a reopen after power loss sees: the image frozen by a fired power-loss
    /// fault, or else the synced bytes plus what `keep` lets survive of the unsynced ones.
    pub fn image_after_power_loss(&self, keep: Keep) -> Vec<u8> {
        let state = lock(&self.0);
        match &state.crash_image {
            Some(image) => image.clone(),
            None => state.power_loss_image(keep),
        }
    }

    /// Number of writes not yet synced.
    pub fn unsynced_writes(&self) -> usize {
        lock(&self.0).pending.len()
    }
}

/// What a call should do, decided under the lock.
enum Decision {
    Proceed,
    Fail(io::Error),
    PanicBefore,
    PanicAfter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Write,
    Sync,
    SetLen,
}

impl FaultBackend {
    fn decide(state: &mut State, call: Call) -> Decision {
        if state.powered_off {
            return Decision::Fail(power_lost());
        }
        if state.sticky {
            return Decision::Fail(injected());
        }
        let hit = match state.plan {
            Some(plan) if !state.fired => match plan.target {
                Target::AnyMutation => state.counts.mutations() == plan.nth,
                Target::Write => call == Call::Write && state.counts.writes == plan.nth,
                Target::Sync => call == Call::Sync && state.counts.syncs == plan.nth,
            },
            _ => false,
        };
        match call {
            Call::Write => state.counts.writes += 1,
            Call::Sync => state.counts.syncs += 1,
            Call::SetLen => state.counts.set_lens += 1,
        }
        let (true, Some(plan)) = (hit, state.plan) else {
            return Decision::Proceed;
        };
        state.fired = true;
        match plan.fault {
            Fault::IoError { sticky } => {
                state.sticky = sticky;
                Decision::Fail(injected())
            }
            Fault::PowerLoss { keep } => {
                state.crash_image = Some(state.power_loss_image(keep));
                state.powered_off = true;
                Decision::Fail(power_lost())
            }
            Fault::Panic { after: false } => Decision::PanicBefore,
            Fault::Panic { after: true } => Decision::PanicAfter,
        }
    }

    fn mutate(&self, call: Call, work: impl FnOnce(&mut State)) -> io::Result<()> {
        let decision = {
            let mut state = lock(&self.0);
            let decision = Self::decide(&mut state, call);
            if matches!(decision, Decision::Proceed | Decision::PanicAfter) {
                work(&mut state);
            }
            decision
        };
        match decision {
            Decision::Proceed => Ok(()),
            Decision::Fail(error) => Err(error),
            Decision::PanicBefore => panic!("injected panic inside the storage backend"),
            Decision::PanicAfter => {
                panic!("injected panic inside the storage backend, after its work")
            }
        }
    }
}

impl StorageBackend for FaultBackend {
    fn len(&self) -> io::Result<u64> {
        let state = lock(&self.0);
        if state.powered_off {
            return Err(power_lost());
        }
        Ok(state.current.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let mut state = lock(&self.0);
        if state.powered_off {
            return Err(power_lost());
        }
        state.counts.reads += 1;
        let start = to_usize(offset);
        let src = start
            .checked_add(out.len())
            .and_then(|end| state.current.get(start..end))
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end"))?;
        out.copy_from_slice(src);
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.mutate(Call::SetLen, |state| {
            let undo = Undo::of(&state.current, to_usize(len), usize::MAX);
            state.current.resize(to_usize(len), 0);
            state.pending.push((Pending::SetLen(len), undo));
        })
    }

    fn sync_data(&self) -> io::Result<()> {
        self.mutate(Call::Sync, State::sync)
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.mutate(Call::Write, |state| {
            let start = to_usize(offset);
            let undo = Undo::of(&state.current, start, start.saturating_add(data.len()));
            write_into(&mut state.current, offset, data);
            let write = Pending::Write {
                offset,
                data: data.to_vec(),
            };
            state.pending.push((write, undo));
        })
    }
}
