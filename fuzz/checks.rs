//! The check functions of the fuzz targets, shared by `fuzz_targets/*.rs` and by
//! `tests/fuzz_corpora.rs` (which replays the committed seeds and any local corpus through
//! them). Each panics on a violated invariant, which is how libFuzzer reports a finding.
//!
//! Both includers declare, at their crate root, the modules `fault_backend`, `model` and
//! `harness` (from `tests/support/`) next to this one.
#![allow(dead_code)]

use std::sync::OnceLock;

use pipeline_deps::spec::{MAX_NAME_BYTES, validate_step_name};
use pipeline_deps::transfer::parse_steps_json;
use pipeline_deps::{
    DependencySpec, DependencyType, Error, ImportOptions, NodeType, OutputSpec, RegistryManager,
    StepSpecification,
};

use crate::fault_backend::{Disk, FaultBackend, Rng};

#[path = "../tests/support/sealed.rs"]
mod sealed;
use crate::harness::{Images, random_plan, run_case_on};
use crate::model::{decode_ops, snapshot};

/// No error message may be longer than this, whatever the input.
const MAX_MESSAGE: usize = 8192;
/// Operations per `ops_model` input (each ends in a durable commit). 8 reach every kind of
/// operation on several contexts; longer sequences are the property tests' part
/// (`tests/power_loss.rs` decodes up to 160 bytes, tens of operations, and verifies every
/// image). With 16 the target ran 790 executions per second over 10 minutes, with 8 1,156,
/// and reached more coverage in that time (fuzz/README.md, Throughput, third round).
const MAX_OPS: usize = 8;

/// Operation sequences against the model, with an injected I/O error or power loss at a
/// call chosen by the first 8 bytes (those whose value is a multiple of 8 run without a
/// fault).
///
/// Throughput: the disk is in memory (`fault_backend`), so no execution waits for a real
/// sync; what an execution costs is the storage engine's work per commit, open and close.
/// So the fault point is drawn from a bound proportional to the operation count instead of
/// from a fault-free dry run (a point past the end leaves the run fault-free, which is
/// checked too), and each input verifies one surviving image — the process-crash image or
/// the power-loss image, with or without a further write and reopen, as its seed picks —
/// where the regular tests (`power_loss`, `crash_abort`) verify all of them.
pub fn ops_model(data: &[u8]) {
    let mut head = [0u8; 8];
    let split = data.len().min(8);
    head[..split].copy_from_slice(&data[..split]);
    let seed = u64::from_le_bytes(head);
    let ops: Vec<_> = decode_ops(&data[split..])
        .into_iter()
        .take(MAX_OPS)
        .collect();
    let mut rng = Rng::new(seed);
    // The choices below are drawn from the seed's hash, not read from its bits: the fuzzer's
    // inputs mostly keep the seeds' zero high bytes (and shorter inputs are padded with
    // zeros), so "bits 9 to 11 clear" had picked the probe for two inputs in three, not one
    // in eight. Whether a fault is armed stays the seed's low bits (seed `no_fault`).
    let picks = rng.next_u64();
    // 1 input in 8 creates the database on an empty disk (a fault may hit the creation); the
    // others open a copy of a freshly created, cleanly closed one.
    let created = picks & 7 == 0;
    let (disk, open_calls) = if created {
        (Disk::new(), [8, 3, 12])
    } else {
        (Disk::from_image(empty_registry().clone()), [1, 1, 2])
    };
    // Calls of opening the disk, and per operation at most, roughly: writes, syncs, all
    // mutating calls.
    let n = ops.len() as u64;
    let [writes, syncs, mutations] = open_calls;
    let plan = (seed % 8 != 0)
        .then(|| random_plan(&mut rng, writes + 8 * n, syncs + 2 * n, mutations + 10 * n));
    let images = Images::One {
        power_loss: picks & (1 << 3) != 0,
        probe: picks & (7 << 4) == 0,
    };
    if let Err(failure) = run_case_on(disk, &ops, plan, rng.next_u64(), images) {
        panic!("{plan:?} ({images:?}, created: {created}) on {ops:?}: {failure}");
    }
}

/// The image of a freshly created registry with no context, cleanly closed: written once per
/// process, so that most `ops_model` inputs skip creating the database (see README.md).
fn empty_registry() -> &'static Vec<u8> {
    static EMPTY: OnceLock<Vec<u8>> = OnceLock::new();
    EMPTY.get_or_init(|| {
        let disk = Disk::new();
        if let Err(error) = RegistryManager::builder().with_backend(disk.backend(), "empty") {
            panic!("an empty disk does not open: {error}");
        }
        disk.into_current_image()
    })
}

/// Presents the fault disk to redb itself, to write raw records.
#[derive(Debug)]
struct RawDisk(FaultBackend);

impl redb::StorageBackend for RawDisk {
    fn len(&self) -> Result<u64, std::io::Error> {
        pipeline_deps::storage::StorageBackend::len(&self.0)
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        pipeline_deps::storage::StorageBackend::read(&self.0, offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        pipeline_deps::storage::StorageBackend::set_len(&self.0, len)
    }
    fn sync_data(&self) -> Result<(), std::io::Error> {
        pipeline_deps::storage::StorageBackend::sync_data(&self.0)
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        pipeline_deps::storage::StorageBackend::write(&self.0, offset, data)
    }
}

fn sample_spec(n: usize) -> StepSpecification {
    StepSpecification::new(format!("Type{n}"), NodeType::Internal)
        .with_dependency(
            DependencySpec::new("input", DependencyType::TrainingData).with_keywords(["data"]),
        )
        .with_output(
            OutputSpec::new("model", DependencyType::ModelArtifacts, "properties.Model")
                .with_aliases(["artifact"]),
        )
}

/// A database image holding context `ctx` (catalog id 1) with step `step`.
fn template() -> &'static Vec<u8> {
    static TEMPLATE: OnceLock<Vec<u8>> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let disk = Disk::new();
        let manager = RegistryManager::builder()
            .with_backend(disk.backend(), "template")
            .expect("an empty disk opens");
        manager
            .get_registry("ctx")
            .and_then(|r| r.register("step", &sample_spec(1)))
            .expect("the template is written");
        drop(manager);
        disk.current_image()
    })
}

/// The stored value under `key` in the template's context table, without its checksum.
fn template_row(key: &[u8]) -> Vec<u8> {
    let disk = Disk::from_image(template().clone());
    let db = redb::Builder::new()
        .create_with_backend(RawDisk(disk.backend()))
        .expect("the template opens in redb");
    let txn = redb::ReadableDatabase::begin_read(&db).expect("read");
    let table = txn
        .open_table(ROWS)
        .expect("the template has a context table");
    let value = table.get(key).expect("get").expect("the row exists");
    sealed::payload(value.value()).to_vec()
}

/// The stored record of the template without its checksum (a valid seed for
/// `record_decode`, which seals it again).
pub fn template_record() -> Vec<u8> {
    template_row(&sealed::spec_key("step"))
}

/// The stored step-type index chunk of the template without its checksum (a seed for
/// `record_decode`).
pub fn template_chunk() -> Vec<u8> {
    template_row(&sealed::chunk_key(TEMPLATE_TYPE, 0))
}

/// The step type of the template's one step.
const TEMPLATE_TYPE: &str = "Type1";

const ROWS: redb::TableDefinition<&[u8], &[u8]> =
    redb::TableDefinition::new("pipeline_deps.ctx.1.rows");
const CATALOG: redb::TableDefinition<&str, &[u8]> =
    redb::TableDefinition::new("pipeline_deps.catalog");

fn is_corruption_naming(error: &Error, names: &[&str]) -> bool {
    let message = error.to_string();
    matches!(error, Error::Corrupted { .. })
        && names.iter().all(|n| message.contains(n))
        && message.len() <= MAX_MESSAGE
}

/// Stored-record decoding through the public API: the input (after a selector byte) is
/// written by redb itself as the record of step `step` (selector % 3 == 0), the catalog
/// entry of context `ctx` (1) or the step-type index chunk of the step's type (2), sealed
/// with a valid checksum (selector bit 2 clear, so it reaches the decoder) or as it is
/// (bit 2 set, so it meets the checksum). Reading it must give the spec, which then
/// round-trips, or a corruption error naming the context (and step); never a panic.
pub fn record_decode(data: &[u8]) {
    let (selector, input) = data.split_first().map_or((0, &[][..]), |(s, r)| (*s, r));
    let kind = selector % 3;
    let (key, tag, id, seal_key) = match kind {
        0 => (sealed::spec_key("step"), sealed::SPEC, 1, b"step".to_vec()),
        1 => (b"ctx".to_vec(), sealed::CATALOG, 0, b"ctx".to_vec()),
        _ => {
            let key = sealed::chunk_key(TEMPLATE_TYPE, 0);
            (key.clone(), sealed::TYPE_CHUNK, 1, key)
        }
    };
    let bytes = if selector & 4 == 0 {
        sealed::seal(tag, id, &seal_key, input)
    } else {
        input.to_vec()
    };
    let disk = Disk::from_image(template().clone());
    {
        let db = redb::Builder::new()
            .create_with_backend(RawDisk(disk.backend()))
            .expect("the template opens in redb");
        let txn = db.begin_write().expect("begin_write");
        if kind == 1 {
            let mut table = txn.open_table(CATALOG).expect("open_table");
            table.insert("ctx", bytes.as_slice()).expect("insert");
        } else {
            let mut table = txn.open_table(ROWS).expect("open_table");
            table
                .insert(key.as_slice(), bytes.as_slice())
                .expect("insert");
        }
        txn.commit().expect("commit");
    }
    // Nothing below writes to the damaged image (the round trip goes to the shared in-memory
    // database instead), so it is opened read-only: the same decoding, without the durable
    // commit redb's close of a writable database makes (a quarter of an execution).
    let manager = RegistryManager::builder()
        .read_only(true)
        .with_backend(disk.backend(), "fuzz")
        .expect("a database with a damaged record still opens");
    if kind == 2 {
        record_decode_chunk(&manager);
        return;
    }
    if kind == 1 {
        // A catalog entry: listing either works or names the context.
        match manager.list_contexts() {
            Ok(names) => assert_eq!(names, vec!["ctx".to_owned()]),
            Err(e) => assert!(is_corruption_naming(&e, &["ctx"]), "{e:?}"),
        }
        if let Err(e) = manager.get_registry_if_exists("ctx") {
            assert!(is_corruption_naming(&e, &["ctx"]), "{e:?}");
        }
        return;
    }
    let registry = manager
        .get_registry_if_exists("ctx")
        .expect("the catalog is intact")
        .expect("the context exists");
    match registry.get_specification("step") {
        Ok(Some(spec)) => {
            // Decoded: it must be a spec this library can store and read back unchanged.
            if spec.validate("step").is_ok() {
                with_shared_database(|shared| {
                    let other = shared.get_registry("roundtrip").expect("get_registry");
                    other
                        .register("step", &spec)
                        .expect("a decoded spec registers");
                    assert_eq!(
                        other.get_specification("step").expect("read").as_deref(),
                        Some(&*spec)
                    );
                });
            }
            // Listing cross-checks the record against the step-type index: a record whose
            // position or type the index does not confirm is corruption, named.
            match registry.iter() {
                Ok(listed) => {
                    let listed: Vec<_> = listed.collect();
                    assert_eq!(listed.len(), 1);
                    assert_eq!(*listed[0].1, *spec);
                }
                Err(e) => assert!(is_corruption_naming(&e, &["ctx", "step"]), "{e:?}"),
            }
        }
        Ok(None) => panic!("a stored record read as missing"),
        Err(e) => {
            assert!(is_corruption_naming(&e, &["ctx", "step"]), "{e:?}");
            let iterated = registry.iter().map(|i| i.count());
            assert!(
                matches!(&iterated, Err(e) if is_corruption_naming(e, &["ctx", "step"])),
                "{iterated:?}"
            );
        }
    }
}

/// After a damaged or replaced index chunk: every index read gives the template's content
/// or a corruption error naming the context; reading the spec itself is unaffected.
fn record_decode_chunk(manager: &RegistryManager) {
    let registry = manager
        .get_registry_if_exists("ctx")
        .expect("the catalog is intact")
        .expect("the context exists");
    let spec = registry
        .get_specification("step")
        .expect("the spec row is intact")
        .expect("the spec exists");
    match registry.iter() {
        Ok(listed) => {
            let listed: Vec<_> = listed.collect();
            assert_eq!(listed.len(), 1);
            assert_eq!(listed[0].0, "step");
            assert_eq!(*listed[0].1, *spec);
        }
        Err(e) => assert!(is_corruption_naming(&e, &["ctx"]), "{e:?}"),
    }
    match registry.list_step_types() {
        Ok(types) => assert_eq!(types, [TEMPLATE_TYPE]),
        Err(e) => assert!(is_corruption_naming(&e, &["ctx"]), "{e:?}"),
    }
    match registry.get_specifications_by_type(TEMPLATE_TYPE) {
        Ok(found) => assert!(found.len() <= 1 && found.iter().all(|s| **s == *spec)),
        Err(e) => assert!(is_corruption_naming(&e, &["ctx"]), "{e:?}"),
    }
}

/// JSON spec import: the input, as text, is imported into a context that already holds a
/// step. Success imports exactly what `parse_steps_json` parses; failure is a clear error
/// of the input family (or a conflict) and changes nothing; never a panic.
pub fn json_import(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    with_shared_database(|manager| json_import_on(manager, data, &text));
}

/// One in-memory database per fuzzing thread, empty at the start of every input and emptied
/// again after it: creating and closing a database costs more than the whole check.
fn with_shared_database(check: impl FnOnce(&RegistryManager)) {
    thread_local! {
        static SHARED: RegistryManager =
            RegistryManager::in_memory().expect("in-memory database");
    }
    fn empty(manager: &RegistryManager) {
        if !manager.list_contexts().expect("listing").is_empty() {
            manager
                .clear_all_contexts()
                .expect("emptying the shared database");
        }
    }
    SHARED.with(|manager| {
        empty(manager);
        check(manager);
        empty(manager);
    });
}

fn json_import_on(manager: &RegistryManager, data: &[u8], text: &str) {
    let registry = manager.get_registry("ctx").expect("get_registry");
    registry
        .register("existing", &sample_spec(0))
        .expect("register");
    let before = snapshot(manager).expect("snapshot");
    let replace = data.first().is_some_and(|b| b & 1 == 1);
    let options = ImportOptions::new().replace(replace);
    let parsed = parse_steps_json(text, &options);
    match registry.import_json_with(text, &options) {
        Ok(n) => {
            let parsed = parsed.expect("import succeeded where parsing failed");
            assert_eq!(n, parsed.len());
            // What was written passed validation (blank keywords and property paths
            // included: docs/design.md, D11).
            for (name, spec) in &parsed {
                assert!(
                    spec.validate(name).is_ok(),
                    "imported an invalid spec {name:?}"
                );
            }
            for (name, spec) in &parsed {
                // The last occurrence of a name wins (replace mode); each is stored as parsed.
                let last = parsed.iter().rev().find(|(n, _)| n == name).map(|(_, s)| s);
                assert_eq!(
                    registry.get_specification(name).expect("read").as_deref(),
                    last.or(Some(spec))
                );
            }
            let stats = manager.get_context_stats().expect("stats");
            assert_eq!(
                stats["ctx"].step_count,
                registry.iter().expect("iter").count()
            );
        }
        Err(e) => {
            assert!(
                e.is_invalid_input() || matches!(e, Error::AlreadyRegistered { .. }),
                "unexpected error kind: {e:?}"
            );
            if let Error::InvalidSpec { problems, .. } = &e {
                // Refused by validation: exactly the problems `validate` finds.
                let parsed = parsed
                    .as_ref()
                    .expect("validation refused what did not parse");
                let found: Vec<_> = parsed
                    .iter()
                    .filter_map(|(name, spec)| spec.validate(name).err())
                    .flatten()
                    .collect();
                assert_eq!(problems, &found, "the refusal is not validation's");
            }
            assert!(
                e.to_string().len() <= MAX_MESSAGE,
                "a {}-byte message",
                e.to_string().len()
            );
            assert_eq!(
                snapshot(manager).expect("snapshot"),
                before,
                "a failed import wrote"
            );
        }
    }
    if let Ok(spec) = StepSpecification::from_json(text) {
        let json = serde_json::to_string(&spec).expect("a parsed spec serialises");
        assert_eq!(
            StepSpecification::from_json(&json).expect("its JSON parses"),
            spec
        );
    }
}

/// Context-name validation: the input (split at the first `|` into workspace and name when
/// its first byte is odd) either names a context, which is then created, listed exactly
/// once, written and cleared, or is refused with `InvalidContextName` exactly when the full
/// name is empty, over 1024 bytes or holds a control character, or the name given in the
/// workspace view is empty (it would name the context `ws::`); never a panic.
pub fn context_name(data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    let (workspace, name) = match data.first() {
        Some(b) if b & 1 == 1 => text.split_once('|').unwrap_or(("", text.as_str())),
        _ => ("", text.as_str()),
    };
    let full = if workspace.is_empty() {
        name.to_owned()
    } else {
        format!("{workspace}::{name}")
    };
    let full_valid =
        !full.is_empty() && full.len() <= MAX_NAME_BYTES && !full.chars().any(char::is_control);
    // A step name must not be blank either (a context name may).
    let blank = full.chars().all(char::is_whitespace);
    assert_eq!(
        validate_step_name(&full).is_ok(),
        full_valid && !blank,
        "{full:?}"
    );
    // A workspace name with an empty `::` part ("a::", "::a", "a::::b", "::") gives a view
    // whose every call is refused as invalid input (`RegistryManager::workspace`).
    let bad_workspace = !workspace.is_empty()
        && (workspace.starts_with("::") || workspace.ends_with("::") || workspace.contains("::::"));
    let valid = full_valid && !name.is_empty() && !bad_workspace;
    with_shared_database(|root| {
        context_name_on(root, workspace, name, &full, valid, bad_workspace)
    });
}

fn context_name_on(
    root: &RegistryManager,
    workspace: &str,
    name: &str,
    full: &str,
    valid: bool,
    bad_workspace: bool,
) {
    let full = full.to_owned();
    let view = root.workspace(workspace);
    match view.get_registry(name) {
        Ok(registry) => {
            assert!(valid, "accepted the invalid name {full:?}");
            assert_eq!(registry.context_name(), full);
            assert_eq!(root.list_contexts().expect("list"), vec![full.clone()]);
            assert_eq!(view.list_contexts().expect("list"), vec![name.to_owned()]);
            registry
                .register("step", &sample_spec(2))
                .expect("register");
            assert_eq!(
                root.get_context_stats().expect("stats")[&full].step_count,
                1
            );
            assert!(view.clear_context(name).expect("clear"));
            assert!(root.list_contexts().expect("list").is_empty());
        }
        Err(e) => {
            assert!(!valid, "refused the valid name {full:?}: {e}");
            if bad_workspace {
                assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
            } else {
                assert!(matches!(e, Error::InvalidContextName { .. }), "{e:?}");
            }
            assert!(e.to_string().len() <= MAX_MESSAGE);
            assert!(root.list_contexts().expect("list").is_empty());
        }
    }
}

/// Showing a server URL (`storage::url_without_password`): whatever the input (read as a
/// `postgres://` URL when its first byte is odd), never a panic; the result shows no
/// parameter whose key, decoded and in any case, holds `password`, is no longer than the input
/// (unless hidden whole as `postgres://…`), and is what it shows again (hiding twice hides
/// nothing more).
pub fn server_url(data: &[u8]) {
    use pipeline_deps::storage::url_without_password;
    let text = String::from_utf8_lossy(data.get(1..).unwrap_or_default()).into_owned();
    let url = match data.first() {
        Some(b) if b & 1 == 1 => format!("postgres://{text}"),
        _ => text,
    };
    let shown = url_without_password(&url);
    assert!(
        shown.len() <= url.len() || shown.ends_with("://…"),
        "{url:?} grew into {shown:?}"
    );
    assert_eq!(url_without_password(&shown), shown, "{url:?}");
    if let Some(rest) = shown.strip_prefix("postgres://") {
        let query = rest.split_once('?').map_or("", |(_, q)| q);
        for pair in query.split('&') {
            let key = pair.split_once('=').map_or(pair, |(key, _)| key);
            assert!(
                !percent_decoded(key).to_lowercase().contains("password"),
                "{url:?} shows {shown:?}"
            );
        }
    }
}

/// `text` with its `%XX` escapes decoded (others kept), written apart from the library's.
fn percent_decoded(text: &str) -> String {
    let mut out = Vec::new();
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let rest: Vec<u8> = bytes.clone().take(2).collect();
            if let Some(v) = std::str::from_utf8(&rest)
                .ok()
                .filter(|h| h.len() == 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                bytes.nth(1);
                continue;
            }
        }
        out.push(b);
    }
    String::from_utf8_lossy(&out).into_owned()
}
