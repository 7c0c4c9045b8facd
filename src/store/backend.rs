//! A storage seam of our own, so that fault-injecting and in-memory storage can be plugged in
//! without redb types in the public API.

use std::io;

/// Byte storage under a registry database: a file, memory, or a test double that injects
/// faults.
///
/// The contract is the one of a file: `write` may be buffered until `sync_data`, after which
/// everything written before must survive power loss. Positions past the end read as an
/// error; `set_len` zero-fills new space. Implementations do not need to support locking:
/// a database on a custom backend runs in exclusive mode.
///
/// ```
/// use std::io;
/// use std::sync::Mutex;
///
/// use pipeline_deps::RegistryManager;
/// use pipeline_deps::storage::StorageBackend;
///
/// /// Bytes in memory (a test double would inject faults here).
/// #[derive(Debug, Default)]
/// struct Memory(Mutex<Vec<u8>>);
///
/// impl Memory {
///     fn bytes(&self) -> io::Result<std::sync::MutexGuard<'_, Vec<u8>>> {
///         self.0.lock().map_err(|_| io::Error::other("poisoned"))
///     }
/// }
///
/// impl StorageBackend for Memory {
///     fn len(&self) -> io::Result<u64> {
///         Ok(self.bytes()?.len() as u64)
///     }
///     fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
///         let bytes = self.bytes()?;
///         let start = usize::try_from(offset).map_err(io::Error::other)?;
///         let slice = bytes.get(start..start + out.len()).ok_or(io::ErrorKind::UnexpectedEof)?;
///         out.copy_from_slice(slice);
///         Ok(())
///     }
///     fn set_len(&self, len: u64) -> io::Result<()> {
///         self.bytes()?.resize(usize::try_from(len).map_err(io::Error::other)?, 0);
///         Ok(())
///     }
///     fn sync_data(&self) -> io::Result<()> {
///         Ok(())
///     }
///     fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
///         let mut bytes = self.bytes()?;
///         let start = usize::try_from(offset).map_err(io::Error::other)?;
///         if bytes.len() < start + data.len() {
///             bytes.resize(start + data.len(), 0);
///         }
///         bytes[start..start + data.len()].copy_from_slice(data);
///         Ok(())
///     }
/// }
///
/// # fn main() -> pipeline_deps::Result<()> {
/// let manager = RegistryManager::builder().with_backend(Memory::default(), "memory")?;
/// manager.get_registry("ml")?;
/// assert_eq!(manager.list_contexts()?, ["ml"]);
/// # Ok(()) }
/// ```
pub trait StorageBackend: std::fmt::Debug + Send + Sync + 'static {
    /// The current length in bytes.
    ///
    /// # Errors
    /// Any I/O failure.
    fn len(&self) -> io::Result<u64>;

    /// Whether the storage is empty.
    ///
    /// # Errors
    /// Any I/O failure.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Fills `out` with the bytes at `offset`.
    ///
    /// # Errors
    /// Any I/O failure, or a range past the end.
    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()>;

    /// Grows (zero-filling) or truncates the storage.
    ///
    /// # Errors
    /// Any I/O failure.
    fn set_len(&self, len: u64) -> io::Result<()>;

    /// Makes every earlier write durable.
    ///
    /// # Errors
    /// Any I/O failure; the database handle is unusable afterwards.
    fn sync_data(&self) -> io::Result<()>;

    /// Writes `data` at `offset`.
    ///
    /// # Errors
    /// Any I/O failure.
    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()>;
}

/// Storage in memory, lost on drop: what `RegistryManager::in_memory` uses.
#[derive(Debug, Default)]
pub(crate) struct MemoryBackend(std::sync::RwLock<Vec<u8>>);

impl MemoryBackend {
    /// Memory storage starting with a copy of some database's bytes.
    pub(crate) fn from_bytes(bytes: Vec<u8>) -> Self {
        MemoryBackend(std::sync::RwLock::new(bytes))
    }

    fn poisoned() -> io::Error {
        io::Error::other("the in-memory storage lock was poisoned by a panic")
    }
}

impl StorageBackend for MemoryBackend {
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.read().map_err(|_| Self::poisoned())?.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let data = self.0.read().map_err(|_| Self::poisoned())?;
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        let src = start
            .checked_add(out.len())
            .and_then(|end| data.get(start..end))
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end"))?;
        out.copy_from_slice(src);
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(io::Error::other)?;
        self.0.write().map_err(|_| Self::poisoned())?.resize(len, 0);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut buf = self.0.write().map_err(|_| Self::poisoned())?;
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        let dst = start
            .checked_add(data.len())
            .and_then(|end| buf.get_mut(start..end))
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "write past the end"))?;
        dst.copy_from_slice(data);
        Ok(())
    }
}

/// A backend shared between redb and the store, so the store can still copy its bytes (to
/// upgrade an older file in memory on a read-only open).
#[derive(Debug)]
pub(super) struct Shared<B>(pub std::sync::Arc<B>);

impl<B: StorageBackend> StorageBackend for Shared<B> {
    fn len(&self) -> io::Result<u64> {
        self.0.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.0.read(offset, out)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.0.write(offset, data)
    }
}

/// Every byte of `backend`.
pub(super) fn read_all(backend: &impl StorageBackend) -> io::Result<Vec<u8>> {
    let len = usize::try_from(backend.len()?).map_err(io::Error::other)?;
    let mut bytes = vec![0; len];
    backend.read(0, &mut bytes)?;
    Ok(bytes)
}

/// Presents a [`StorageBackend`] to redb.
///
/// A panic in the backend is turned into an I/O error: unwinding through the storage engine
/// while it holds its locks would poison them, and its cleanup would then panic again and
/// abort the process. As an I/O error it leaves the handle failed (later calls return
/// [`Error::Poisoned`](crate::Error::Poisoned)) and the last commit intact.
#[derive(Debug)]
pub(super) struct Adapter<B>(pub B);

fn contained<T>(call: &str, f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(io::Error::other(format!(
            "the storage backend panicked in {call}"
        )))
    })
}

impl<B: StorageBackend> redb::StorageBackend for Adapter<B> {
    fn len(&self) -> Result<u64, io::Error> {
        contained("len", || self.0.len())
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        contained("read", || self.0.read(offset, out))
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        contained("set_len", || self.0.set_len(len))
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        contained("sync_data", || self.0.sync_data())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        contained("write", || self.0.write(offset, data))
    }
}
