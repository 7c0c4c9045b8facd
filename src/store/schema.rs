//! Every table of the database file, beside the schema version they make up.
//!
//! Layout of schema version 2 (the current one):
//!
//! | table | key → value | holds |
//! |---|---|---|
//! | `pipeline_deps.meta` | `&str → u64` | `schema_version`, `next_context_id`, `checksum` |
//! | `pipeline_deps.catalog` | context name → sealed envelope(`CatalogRecordV1`) | id, counts, revision |
//! | `pipeline_deps.ctx.<id>.specs` | step name → sealed envelope(`StepRecordV1`) | the specs, each with its registration seq |
//! | `pipeline_deps.ctx.<id>.index` | tagged key → sealed value | the step-type index (below) |
//!
//! The step-type index of a context holds two kinds of rows, told apart by the key's first
//! byte:
//!
//! | key | value | meaning |
//! |---|---|---|
//! | `b'T'`, type length (u32 BE), type, seq (u64 BE) | step name | a step of that type, registered at seq |
//! | `b'F'`, type | first-seen seq (u64 LE) | the type's position in type order |
//!
//! Registration order is the seq order of the `T` rows (every step has exactly one), so a
//! registration touches three B-trees: the catalog, the spec table and the index.
//!
//! **Sealed values.** Every catalog, spec and index value is `crc32 (u32 LE) ++ payload`,
//! where the CRC-32 (IEEE, as `crc32fast` computes it) covers
//! `tag ++ context id (u64 LE) ++ key length (u32 LE) ++ key ++ payload`, with tag `b'C'` and
//! id 0 for catalog rows, `b'S'` for spec rows and `b'I'` for index rows. Binding the key
//! and the context id into the checksum means that a damaged key, a damaged value, and a
//! row read through a damaged page pointer from another table are all detected on the
//! plain read path, where redb does not verify its page checksums. The meta table's
//! `checksum` is the CRC-32 of `b'M' ++ schema_version (u64 LE) ++ next_context_id (u64 LE)`.
//!
//! A context's tables are named by its catalog id, never by its name, so a context that is
//! cleared and created again under the same name gets fresh tables, and names need no
//! escaping. Tables of a context are created on its first write; a missing table reads as
//! empty.
//!
//! Schema version 1 (read only by the migration, see `store::migrate`) had no seals, no
//! meta checksum, and per-context tables `specs` (same keys, unsealed values), `order`
//! (`u64 → &str`), `types` (`(&str, u64) → &str`) and `type_order` (`&str → u64`).

use redb::TableDefinition;

/// The stored format version this build writes and reads. Bump it only together with a
/// migration step in `store::migrate` and a frozen fixture under `migrations/`.
pub const SCHEMA_VERSION: u64 = 2;

pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("pipeline_deps.meta");
pub(crate) const CATALOG: TableDefinition<&str, &[u8]> =
    TableDefinition::new("pipeline_deps.catalog");

pub(crate) const META_SCHEMA_VERSION: &str = "schema_version";
pub(crate) const META_NEXT_CONTEXT_ID: &str = "next_context_id";
pub(crate) const META_CHECKSUM: &str = "checksum";

/// The prefix shared by every table this crate creates; a file holding other tables is not
/// a registry.
pub(crate) const TABLE_PREFIX: &str = "pipeline_deps.";

/// Index row kinds (the first byte of an index key).
pub(crate) const INDEX_TYPE_ROW: u8 = b'T';
pub(crate) const INDEX_FIRST_SEEN_ROW: u8 = b'F';

/// Seal tags: which kind of row a checksum belongs to.
pub(crate) const SEAL_CATALOG: u8 = b'C';
pub(crate) const SEAL_SPEC: u8 = b'S';
pub(crate) const SEAL_INDEX: u8 = b'I';
pub(crate) const SEAL_META: u8 = b'M';

/// The names of one context's tables.
pub(crate) struct ContextTables {
    pub specs: String,
    pub index: String,
}

impl ContextTables {
    pub(crate) fn new(id: u64) -> Self {
        ContextTables {
            specs: format!("pipeline_deps.ctx.{id}.specs"),
            index: format!("pipeline_deps.ctx.{id}.index"),
        }
    }

    pub(crate) fn specs(&self) -> TableDefinition<'_, &'static str, &'static [u8]> {
        TableDefinition::new(&self.specs)
    }

    pub(crate) fn index(&self) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
        TableDefinition::new(&self.index)
    }
}

/// The per-context tables of schema version 1, which only the migration reads.
pub(crate) mod v1 {
    use redb::TableDefinition;

    /// The names of one context's version-1 tables (`specs` kept its name in version 2).
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
}
