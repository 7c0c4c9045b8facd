//! Every table of the database file, beside the schema version they make up.
//!
//! Layout of schema version 1:
//!
//! | table | key → value | holds |
//! |---|---|---|
//! | `pipeline_deps.meta` | `&str → u64` | `schema_version`, `next_context_id` |
//! | `pipeline_deps.catalog` | context name → envelope(`CatalogRecordV1`) | id, counts, revision |
//! | `pipeline_deps.ctx.<id>.specs` | step name → envelope(`StepRecordV1`) | the specs |
//! | `pipeline_deps.ctx.<id>.order` | registration seq → step name | registration order |
//! | `pipeline_deps.ctx.<id>.types` | (step type, seq) → step name | step-type index |
//! | `pipeline_deps.ctx.<id>.type_order` | step type → first-seen seq | type order |
//!
//! A context's tables are named by its catalog id, never by its name, so a context that is
//! cleared and created again under the same name gets fresh tables, and names need no
//! escaping. Tables of a context are created on its first write; a missing table reads as
//! empty.

use redb::TableDefinition;

/// The stored format version this build writes and reads. Bump it only together with a
/// migration step in `store::migrate` and a frozen fixture under `migrations/`.
pub const SCHEMA_VERSION: u64 = 1;

pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("pipeline_deps.meta");
pub(crate) const CATALOG: TableDefinition<&str, &[u8]> =
    TableDefinition::new("pipeline_deps.catalog");

pub(crate) const META_SCHEMA_VERSION: &str = "schema_version";
pub(crate) const META_NEXT_CONTEXT_ID: &str = "next_context_id";

/// The prefix shared by every table this crate creates; a file holding other tables is not
/// a registry.
pub(crate) const TABLE_PREFIX: &str = "pipeline_deps.";

/// The names of one context's tables.
pub(crate) struct ContextTables {
    pub specs: String,
    pub order: String,
    pub types: String,
    pub type_order: String,
}

impl ContextTables {
    pub(crate) fn new(id: u64) -> Self {
        ContextTables {
            specs: format!("pipeline_deps.ctx.{id}.specs"),
            order: format!("pipeline_deps.ctx.{id}.order"),
            types: format!("pipeline_deps.ctx.{id}.types"),
            type_order: format!("pipeline_deps.ctx.{id}.type_order"),
        }
    }

    pub(crate) fn specs(&self) -> TableDefinition<'_, &'static str, &'static [u8]> {
        TableDefinition::new(&self.specs)
    }

    pub(crate) fn order(&self) -> TableDefinition<'_, u64, &'static str> {
        TableDefinition::new(&self.order)
    }

    pub(crate) fn types(&self) -> TableDefinition<'_, (&'static str, u64), &'static str> {
        TableDefinition::new(&self.types)
    }

    pub(crate) fn type_order(&self) -> TableDefinition<'_, &'static str, u64> {
        TableDefinition::new(&self.type_order)
    }
}
