//! Which step types each context's index holds, remembered between write transactions.
//!
//! A write that creates a step type must know whether the type already has chunks in the
//! file: a damaged branch page can hide them from the range read of that type, and writing
//! a new chunk 0 would then count the type twice. The complete answer comes from a scan of
//! every chunk key of the context, which costs time in proportion to the context's types
//! (12.6 ms at 20,000 types). So the store remembers the set a scan found, with the context's
//! revision it describes, and each committed write that had the set hands it on, updated
//! with the types it created and removed, under the revision it committed. A later write
//! whose context still has that revision uses the set instead of scanning.
//!
//! This is sound because one store is the only writer of its file (redb locks it) and every
//! write to a context's index goes through a context writer that bumps its revision, while
//! a clear bumps it too (and forgets the set) and a dropped context's id is never reused.
//! A set is installed only when its transaction commits; a transaction that is discarded
//! loses the sets it took, and the next write scans again. The damage check itself is
//! unchanged: a type the set lists whose range read finds nothing is still refused as
//! corruption. What the set cannot see is damage done to the file by something else while
//! this process has it open, which the scan at the first type creation would have caught.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use rustc_hash::FxHashMap;

/// The types of one context's index as of one revision.
pub(crate) struct Known {
    pub revision: u64,
    pub types: BTreeSet<String>,
}

/// The store's sets, by context id: the committed state.
#[derive(Default)]
pub(crate) struct KnownTypes {
    sets: Mutex<FxHashMap<u64, Known>>,
}

/// One write transaction's view: the store's sets, and the changes it makes to them, which
/// take effect only if it commits.
pub(crate) struct TxnKnownTypes {
    shared: Arc<KnownTypes>,
    /// By context id: the set as of this transaction's last write to it, or `None` for a
    /// context whose set must be forgotten (cleared or dropped).
    pending: RefCell<FxHashMap<u64, Option<Known>>>,
}

impl TxnKnownTypes {
    pub(crate) fn new(shared: Arc<KnownTypes>) -> Self {
        TxnKnownTypes {
            shared,
            pending: RefCell::default(),
        }
    }

    /// Takes the set of context `id` if it describes revision `revision`: first one this
    /// transaction handed on, then the store's.
    pub(crate) fn take(&self, id: u64, revision: u64) -> Option<BTreeSet<String>> {
        let mut pending = self.pending.borrow_mut();
        if let Some(entry) = pending.get_mut(&id) {
            return match entry.take() {
                Some(known) if known.revision == revision => Some(known.types),
                _ => None,
            };
        }
        drop(pending);
        let mut sets = self
            .shared
            .sets
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match sets.remove(&id) {
            Some(known) if known.revision == revision => Some(known.types),
            _ => None,
        }
    }

    /// Hands on the set of context `id` as of `revision`, installed if this transaction
    /// commits.
    pub(crate) fn put(&self, id: u64, revision: u64, types: BTreeSet<String>) {
        self.pending
            .borrow_mut()
            .insert(id, Some(Known { revision, types }));
    }

    /// Forgets the set of context `id` if this transaction commits.
    pub(crate) fn forget(&self, id: u64) {
        self.pending.borrow_mut().insert(id, None);
    }

    /// Installs this transaction's changes: call only once it has committed.
    pub(crate) fn committed(self) {
        let mut sets = self
            .shared
            .sets
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (id, known) in self.pending.into_inner() {
            match known {
                Some(known) => {
                    sets.insert(id, known);
                }
                None => {
                    sets.remove(&id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(types: &[&str]) -> BTreeSet<String> {
        types.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn a_set_is_used_only_at_its_revision_and_only_once_committed() {
        let shared = Arc::new(KnownTypes::default());
        let txn = TxnKnownTypes::new(Arc::clone(&shared));
        txn.put(7, 3, set(&["A"]));
        // Within the transaction, at the revision it was handed on with.
        assert_eq!(txn.take(7, 2), None);
        txn.put(7, 3, set(&["A"]));
        assert_eq!(txn.take(7, 3), Some(set(&["A"])));
        txn.put(7, 4, set(&["A", "B"]));
        // A discarded transaction installs nothing.
        drop(txn);
        assert_eq!(TxnKnownTypes::new(Arc::clone(&shared)).take(7, 4), None);

        let txn = TxnKnownTypes::new(Arc::clone(&shared));
        txn.put(7, 4, set(&["A", "B"]));
        txn.committed();
        let txn = TxnKnownTypes::new(Arc::clone(&shared));
        assert_eq!(txn.take(7, 5), None, "another revision");
        // The mismatch above dropped it: a stale set is never kept.
        assert_eq!(txn.take(7, 4), None);
    }

    #[test]
    fn a_forgotten_set_is_gone_for_the_transaction_and_after_its_commit() {
        let shared = Arc::new(KnownTypes::default());
        let txn = TxnKnownTypes::new(Arc::clone(&shared));
        txn.put(1, 1, set(&["A"]));
        txn.committed();
        let txn = TxnKnownTypes::new(Arc::clone(&shared));
        txn.forget(1);
        assert_eq!(txn.take(1, 1), None);
        txn.committed();
        assert_eq!(TxnKnownTypes::new(shared).take(1, 1), None);
    }
}
