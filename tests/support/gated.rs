//! A disk (over the fault-injecting one) whose `sync_data` can be held shut, so that
//! writers queue behind a commit and join the next group-committed batch.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use pipeline_deps::storage::StorageBackend;

use super::TestResult;
use super::fault_backend::{Disk, FaultBackend};

/// A disk whose `sync_data` can be held shut, so that writers queue behind a commit.
#[derive(Debug, Clone)]
pub struct Gated {
    inner: FaultBackend,
    gate: Arc<(Mutex<GateState>, Condvar)>,
}

#[derive(Debug, Default)]
struct GateState {
    closed: bool,
    /// Syncs waiting at the closed gate.
    waiting: usize,
}

impl Gated {
    pub fn new(disk: &Disk) -> Self {
        Gated {
            inner: disk.backend(),
            gate: Arc::default(),
        }
    }

    pub fn close(&self) {
        self.gate.0.lock().map(|mut g| g.closed = true).ok();
    }

    pub fn open(&self) {
        if let Ok(mut g) = self.gate.0.lock() {
            g.closed = false;
        }
        self.gate.1.notify_all();
    }

    /// Waits until a sync is held at the gate.
    pub fn await_held_sync(&self) -> TestResult {
        let (lock, cv) = &*self.gate;
        let mut g = lock.lock().map_err(|_| "gate poisoned")?;
        while g.waiting == 0 {
            g = cv
                .wait_timeout(g, Duration::from_secs(30))
                .map_err(|_| "gate poisoned")?
                .0;
        }
        Ok(())
    }
}

impl StorageBackend for Gated {
    fn len(&self) -> std::io::Result<u64> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        let (lock, cv) = &*self.gate;
        let mut g = lock
            .lock()
            .map_err(|_| std::io::Error::other("gate poisoned"))?;
        g.waiting += 1;
        cv.notify_all();
        while g.closed {
            g = cv
                .wait(g)
                .map_err(|_| std::io::Error::other("gate poisoned"))?;
        }
        g.waiting -= 1;
        drop(g);
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.inner.write(offset, data)
    }
}
