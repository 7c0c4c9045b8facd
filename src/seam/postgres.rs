//! The PostgreSQL store behind the storage seam.

use super::{CatalogRead, CatalogWrite, ContextRead, ContextWrite};
use crate::codec::CatalogRecordV1;
use crate::error::Result;
use crate::pg::{PgContextReader, PgContextWriter, PgReader, PgWriter};
use crate::spec::StepSpecification;

impl CatalogRead for PgReader<'_> {
    fn catalog(&mut self) -> Result<Vec<(String, CatalogRecordV1)>> {
        PgReader::catalog(self)
    }

    fn catalog_entry(&mut self, name: &str) -> Result<Option<CatalogRecordV1>> {
        PgReader::catalog_entry(self, name)
    }

    fn context_entry(&mut self, name: &str, id: u64) -> Result<CatalogRecordV1> {
        PgReader::context_entry(self, name, id)
    }

    fn context<'a>(&'a mut self, name: &str, id: u64) -> Result<Box<dyn ContextRead + 'a>> {
        Ok(Box::new(PgReader::context(self, name, id)?))
    }
}

impl ContextRead for PgContextReader<'_, '_> {
    fn get(&mut self, step: &str) -> Result<Option<StepSpecification>> {
        PgContextReader::get(self, step)
    }

    fn get_many(&mut self, steps: &[&str]) -> Result<Vec<Option<StepSpecification>>> {
        PgContextReader::get_many(self, steps)
    }

    fn contains(&mut self, step: &str) -> Result<bool> {
        PgContextReader::contains(self, step)
    }

    fn names(&mut self) -> Result<Vec<String>> {
        PgContextReader::names(self)
    }

    fn all(&mut self) -> Result<Vec<(String, StepSpecification)>> {
        PgContextReader::all(self)
    }

    fn for_each(
        &mut self,
        visit: &mut dyn FnMut(String, StepSpecification) -> Result<()>,
    ) -> Result<u64> {
        PgContextReader::for_each(self, visit)
    }

    fn step_types(&mut self) -> Result<Vec<String>> {
        PgContextReader::step_types(self)
    }

    fn by_type(&mut self, step_type: &str) -> Result<Vec<(String, StepSpecification)>> {
        PgContextReader::by_type(self, step_type)
    }

    fn type_members(&mut self) -> Result<Vec<(String, Vec<String>)>> {
        PgContextReader::type_members(self)
    }
}

impl CatalogWrite for PgWriter<'_> {
    fn context_names(&mut self) -> Result<Vec<String>> {
        PgWriter::context_names(self)
    }

    fn create_context(&mut self, name: &str) -> Result<(CatalogRecordV1, bool)> {
        PgWriter::create_context(self, name)
    }

    fn drop_context(&mut self, name: &str) -> Result<Option<CatalogRecordV1>> {
        PgWriter::drop_context(self, name)
    }

    fn context<'a>(&'a mut self, name: &str, id: u64) -> Result<Box<dyn ContextWrite + 'a>> {
        Ok(Box::new(PgWriter::context(self, name, id)?))
    }

    fn reset_context(&mut self, name: &str, id: u64) -> Result<bool> {
        PgWriter::reset_context(self, name, id)
    }

    // A server transaction that changed nothing writes nothing when it commits.
    fn unchanged(&mut self) {}
}

impl ContextWrite for PgContextWriter<'_, '_> {
    fn put(&mut self, step: &str, spec: &StepSpecification, replace: bool) -> Result<bool> {
        PgContextWriter::put(self, step, spec, replace)
    }

    fn put_all(&mut self, items: &[(&str, &StepSpecification)], replace: bool) -> Result<usize> {
        PgContextWriter::put_all(self, items, replace)
    }

    fn remove(&mut self, step: &str) -> Result<bool> {
        PgContextWriter::remove(self, step)
    }

    fn step_count(&self) -> u64 {
        PgContextWriter::step_count(self)
    }

    fn changed(&self) -> bool {
        PgContextWriter::changed(self)
    }

    fn finish(self: Box<Self>) -> Result<CatalogRecordV1> {
        PgContextWriter::finish(*self)
    }
}
