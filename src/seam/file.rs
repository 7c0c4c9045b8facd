//! The redb store behind the storage seam.

use super::{CatalogRead, CatalogWrite, ContextRead, ContextWrite};
use crate::codec::CatalogRecordV1;
use crate::error::Result;
use crate::spec::StepSpecification;
use crate::store::{ContextReader, ContextWriter, Reader, Store, Writer};

pub(super) fn read<T>(
    store: &Store,
    action: &str,
    f: impl FnOnce(&mut dyn CatalogRead) -> Result<T>,
) -> Result<T> {
    crate::store::contain(
        || action.to_owned(),
        || {
            let mut reader = store.begin_read(action)?;
            f(&mut reader)
        },
    )
}

pub(super) fn write<T>(
    store: &Store,
    action: &str,
    f: impl FnOnce(&mut dyn CatalogWrite) -> Result<T>,
) -> Result<T> {
    crate::store::contain(
        || action.to_owned(),
        || {
            let mut writer = store.begin_write()?;
            let out = f(&mut writer)?;
            writer.commit(|| action.to_owned())?;
            Ok(out)
        },
    )
}

impl CatalogRead for Reader {
    fn catalog(&mut self) -> Result<Vec<(String, CatalogRecordV1)>> {
        Reader::catalog(self)
    }

    fn catalog_entry(&mut self, name: &str) -> Result<Option<CatalogRecordV1>> {
        Reader::catalog_entry(self, name)
    }

    fn context_entry(&mut self, name: &str, id: u64) -> Result<CatalogRecordV1> {
        Reader::context_entry(self, name, id)
    }

    fn context<'a>(&'a mut self, name: &str, id: u64) -> Result<Box<dyn ContextRead + 'a>> {
        Ok(Box::new(Reader::context(self, name, id)?))
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

    fn step_types(&mut self) -> Result<Vec<String>> {
        ContextReader::step_types(self)
    }

    fn by_type(&mut self, step_type: &str) -> Result<Vec<(String, StepSpecification)>> {
        ContextReader::by_type(self, step_type)
    }
}

impl CatalogWrite for Writer {
    fn context_names(&mut self) -> Result<Vec<String>> {
        Writer::context_names(self)
    }

    fn create_context(&mut self, name: &str) -> Result<(CatalogRecordV1, bool)> {
        Writer::create_context(self, name)
    }

    fn drop_context(&mut self, name: &str) -> Result<Option<u64>> {
        Writer::drop_context(self, name)
    }

    fn context<'a>(&'a mut self, name: &str, id: u64) -> Result<Box<dyn ContextWrite + 'a>> {
        Ok(Box::new(Writer::context(self, name, id)?))
    }

    fn reset_context(&mut self, name: &str, id: u64) -> Result<()> {
        Writer::reset_context(self, name, id)
    }
}

impl ContextWrite for ContextWriter<'_> {
    fn put(&mut self, step: &str, spec: &StepSpecification, replace: bool) -> Result<()> {
        ContextWriter::put(self, step, spec, replace).map(drop)
    }

    fn remove(&mut self, step: &str) -> Result<bool> {
        ContextWriter::remove(self, step)
    }

    fn finish(self: Box<Self>) -> Result<CatalogRecordV1> {
        ContextWriter::finish(*self)
    }
}
