//! The redb store behind the storage seam: its read and write transactions, seen through
//! the seam's traits.

use super::{CatalogRead, CatalogWrite, ContextRead, ContextWrite};
use crate::codec::CatalogRecordV1;
use crate::error::Result;
use crate::spec::StepSpecification;
use crate::store::{ContextReader, ContextWriter, GroupCommit, PutOutcome, Reader, Store, Writer};

/// A redb read transaction as a [`CatalogRead`].
struct FileReader<'t>(&'t Reader);

/// A redb write transaction as a [`CatalogWrite`].
struct FileWriter<'t>(&'t Writer);

pub(super) fn read<T>(
    store: &Store,
    action: &str,
    f: impl FnOnce(&mut dyn CatalogRead) -> Result<T>,
) -> Result<T> {
    store
        .read(|| action.to_owned(), |reader| f(&mut FileReader(reader)))
        .map_err(|e| store.naming_file(e))
}

pub(super) fn write<T>(
    store: &Store,
    action: &str,
    f: impl FnOnce(&mut dyn CatalogWrite) -> Result<T>,
) -> Result<T> {
    store
        .write(|| action.to_owned(), |writer| f(&mut FileWriter(writer)))
        .map_err(|e| store.naming_file(e))
}

pub(super) fn write_grouped<T>(
    store: &Store,
    group: &GroupCommit,
    action: &str,
    f: &mut dyn FnMut(&mut dyn CatalogWrite) -> Result<T>,
) -> Result<T> {
    group
        .run(store, &|| action.to_owned(), &mut |writer| {
            f(&mut FileWriter(writer))
        })
        .map_err(|e| store.naming_file(e))
}

impl CatalogRead for FileReader<'_> {
    fn catalog(&mut self) -> Result<Vec<(String, CatalogRecordV1)>> {
        self.0.catalog()
    }

    fn catalog_entry(&mut self, name: &str) -> Result<Option<CatalogRecordV1>> {
        self.0.catalog_entry(name)
    }

    fn context_entry(&mut self, name: &str, id: u64) -> Result<CatalogRecordV1> {
        self.0.context_entry(name, id)
    }

    fn context<'a>(&'a mut self, name: &str, id: u64) -> Result<Box<dyn ContextRead + 'a>> {
        Ok(Box::new(self.0.context(name, id)?))
    }
}

impl ContextRead for ContextReader<'_> {
    fn get(&mut self, step: &str) -> Result<Option<StepSpecification>> {
        ContextReader::get(self, step)
    }

    fn contains(&mut self, step: &str) -> Result<bool> {
        ContextReader::contains(self, step)
    }

    fn names(&mut self) -> Result<Vec<String>> {
        ContextReader::names(self)
    }

    fn all(&mut self) -> Result<Vec<(String, StepSpecification)>> {
        ContextReader::all(self)
    }

    fn for_each(
        &mut self,
        visit: &mut dyn FnMut(String, StepSpecification) -> Result<()>,
    ) -> Result<u64> {
        ContextReader::for_each(self, visit)
    }

    fn step_types(&mut self) -> Result<Vec<String>> {
        ContextReader::step_types(self)
    }

    fn by_type(&mut self, step_type: &str) -> Result<Vec<(String, StepSpecification)>> {
        ContextReader::by_type(self, step_type)
    }

    fn type_members(&mut self) -> Result<Vec<(String, Vec<String>)>> {
        ContextReader::type_members(self)
    }
}

impl CatalogWrite for FileWriter<'_> {
    fn context_names(&mut self) -> Result<Vec<String>> {
        self.0.context_names()
    }

    fn create_context(&mut self, name: &str) -> Result<(CatalogRecordV1, bool)> {
        self.0.create_context(name)
    }

    fn drop_context(&mut self, name: &str) -> Result<Option<CatalogRecordV1>> {
        self.0.drop_context(name)
    }

    fn context<'a>(&'a mut self, name: &str, id: u64) -> Result<Box<dyn ContextWrite + 'a>> {
        Ok(Box::new(self.0.context(name, id)?))
    }

    fn reset_context(&mut self, name: &str, id: u64) -> Result<bool> {
        self.0.reset_context(name, id)
    }

    fn unchanged(&mut self) {
        self.0.unchanged();
    }
}

impl ContextWrite for ContextWriter<'_> {
    fn put(&mut self, step: &str, spec: &StepSpecification, replace: bool) -> Result<bool> {
        ContextWriter::put(self, step, spec, replace).map(|outcome| outcome == PutOutcome::Inserted)
    }

    fn remove(&mut self, step: &str) -> Result<bool> {
        ContextWriter::remove(self, step)
    }

    fn step_count(&self) -> u64 {
        ContextWriter::step_count(self)
    }

    fn changed(&self) -> bool {
        ContextWriter::changed(self)
    }

    fn finish(self: Box<Self>) -> Result<CatalogRecordV1> {
        ContextWriter::finish(*self)
    }
}
