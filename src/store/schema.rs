//! Every table of the database file, beside the schema version they make up.
//!
//! Layout of schema version 3 (the current one):
//!
//! | table | key → value | holds |
//! |---|---|---|
//! | `pipeline_deps.meta` | `&str → u64` | `schema_version`, `next_context_id`, `checksum` |
//! | `pipeline_deps.catalog` | context name → sealed envelope(`CatalogRecordV1`) | id, counts, revision |
//! | `pipeline_deps.ctx.<id>.rows` | tagged key → sealed value | the context's specs and its step-type index (below) |
//!
//! A context's one table holds two kinds of rows, told apart by the key's first byte:
//!
//! | key | value | meaning |
//! |---|---|---|
//! | `b'S'`, step name | envelope(`StepRecordV1`) | a spec, with its registration seq |
//! | `b'I'`, type length (u32 BE), type, chunk number (u32 BE) | first-seen seq, then `(seq, step name)` entries | a chunk of the step-type index (`store::typeindex`) |
//!
//! The chunk rows sort before the spec rows, so that specs registered in ascending name
//! order are appended at the right edge of the tree, where redb fills leaves, instead of
//! splitting leaves in the middle (half-full pages: about a third more bytes per spec).
//!
//! Registration order is the seq order of the index entries (every step has exactly one), and
//! a type's position in type order is its chunk 0's first-seen seq. A registration touches two
//! B-trees: the catalog and the context's table (a spec row and its type's last chunk).
//!
//! **Sealed values.** Every catalog, spec and chunk value is `crc32 (u32 LE) ++ payload`,
//! where the CRC-32 (IEEE, as `crc32fast` computes it) covers
//! `tag ++ context id (u64 LE) ++ key length (u32 LE) ++ key ++ payload`, with tag `b'C'`,
//! id 0 and the context name as key for catalog rows, `b'S'` and the step name (without the
//! row tag) for spec rows, and `b'T'` and the whole chunk key for chunk rows. Binding the key
//! and the context id into the checksum means that a damaged key, a damaged value, and a
//! row read through a damaged page pointer from another table are all detected on the
//! plain read path, where redb does not verify its page checksums. The meta table's
//! `checksum` is the CRC-32 of `b'M' ++ schema_version (u64 LE) ++ next_context_id (u64 LE)`.
//!
//! A context's table is named by its catalog id, never by its name, so a context that is
//! cleared and created again under the same name gets a fresh table, and names need no
//! escaping. The table is created on the context's first write; a missing table reads as
//! empty.
//!
//! Older versions are read only by the migration (`store::migrate`):
//!
//! - Version 2 had the same catalog, meta and seals, and two tables per context:
//!   `specs` (`&str → &[u8]`: step name → the sealed spec value version 3 keeps unchanged)
//!   and `index` (`&[u8] → &[u8]`): one row per step, key `b'T' ++ type length (u32 BE) ++
//!   type ++ seq (u64 BE)`, value the step name; and one row per type, key `b'F' ++ type`,
//!   value its first-seen seq (u64 LE); both sealed with tag `b'I'` over the whole key.
//! - Version 1 had no seals, no meta checksum, and per-context tables `specs` (same keys,
//!   unsealed values), `order` (`u64 → &str`), `types` (`(&str, u64) → &str`) and
//!   `type_order` (`&str → u64`).

use redb::TableDefinition;

/// The stored format version this build writes and reads. Bump it only together with a
/// migration step in `store::migrate` and a frozen fixture under `migrations/`.
pub const SCHEMA_VERSION: u64 = 3;

pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("pipeline_deps.meta");
pub(crate) const CATALOG: TableDefinition<&str, &[u8]> =
    TableDefinition::new("pipeline_deps.catalog");

pub(crate) const META_SCHEMA_VERSION: &str = "schema_version";
pub(crate) const META_NEXT_CONTEXT_ID: &str = "next_context_id";
pub(crate) const META_CHECKSUM: &str = "checksum";

/// The prefix shared by every table this crate creates; a file holding other tables is not
/// a registry.
pub(crate) const TABLE_PREFIX: &str = "pipeline_deps.";

/// Row kinds of a context's table (the first byte of a key).
pub(crate) const ROW_SPEC: u8 = b'S';
pub(crate) const ROW_TYPE: u8 = b'I';

/// Seal tags: which kind of row a checksum belongs to.
pub(crate) const SEAL_CATALOG: u8 = b'C';
pub(crate) const SEAL_SPEC: u8 = b'S';
pub(crate) const SEAL_TYPE_CHUNK: u8 = b'T';
pub(crate) const SEAL_META: u8 = b'M';

/// The one table of a context.
pub(crate) struct ContextTable {
    pub name: String,
}

impl ContextTable {
    pub(crate) fn new(id: u64) -> Self {
        ContextTable {
            name: format!("pipeline_deps.ctx.{id}.rows"),
        }
    }

    pub(crate) fn def(&self) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
        TableDefinition::new(&self.name)
    }
}

/// The key of the spec row of `step`.
pub(crate) fn spec_key(step: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + step.len());
    key.push(ROW_SPEC);
    key.extend_from_slice(step.as_bytes());
    key
}

/// The per-context tables of schema version 2, which only the migration reads (and the
/// step from version 1 writes).
pub(crate) mod v2 {
    use redb::TableDefinition;

    /// Index row kinds (the first byte of an index key).
    pub(crate) const INDEX_TYPE_ROW: u8 = b'T';
    pub(crate) const INDEX_FIRST_SEEN_ROW: u8 = b'F';
    /// The seal tag of index rows.
    pub(crate) const SEAL_INDEX: u8 = b'I';

    /// The names of one context's version-2 tables.
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

    /// The key of the index row saying that step `seq` has type `step_type`.
    pub(crate) fn type_row_key(step_type: &str, seq: u64) -> Vec<u8> {
        let mut key = Vec::with_capacity(1 + 4 + step_type.len() + 8);
        key.push(INDEX_TYPE_ROW);
        key.extend_from_slice(
            &u32::try_from(step_type.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        key.extend_from_slice(step_type.as_bytes());
        key.extend_from_slice(&seq.to_be_bytes());
        key
    }

    /// The key of the index row holding the first-seen position of `step_type`.
    pub(crate) fn first_seen_key(step_type: &str) -> Vec<u8> {
        let mut key = Vec::with_capacity(1 + step_type.len());
        key.push(INDEX_FIRST_SEEN_ROW);
        key.extend_from_slice(step_type.as_bytes());
        key
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
