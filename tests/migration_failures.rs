//! Invariant: an upgrade of a frozen database (`migrations/v<N>/registry.redb`) that cannot
//! finish leaves a usable file. Interrupted at any write, sync or resize, by an I/O error or
//! a power loss, it leaves the old version or the new one, each whole; meeting a damaged
//! version-2 step-type index or a catalog type count that disagrees with it, it stops with a
//! corruption error naming the context, and the file stays at version 2. The tests work on
//! copies and never write the frozen files.

mod support;

use support::fault_backend::{Disk, Fault, FaultPlan, Keep, Target};
use support::frozen::{
    FROZEN, Frozen, Specs, TestResult, V2, check_content, copy_fixture, raw_meta,
};
use support::model::snapshot;

use pipeline_deps::storage::SCHEMA_VERSION;
use pipeline_deps::{Error, RegistryManager};

/// An upgrade interrupted at any write, sync or resize, by an I/O error or a power loss
/// (keeping none, all, an in-order torn prefix, or random sectors of the unsynced writes),
/// leaves a file that reopens to the whole fixture content, as the old version or the new
/// one: the upgrade runs in the one write transaction that opens the file.
#[test]
fn an_interrupted_upgrade_leaves_the_old_version_or_the_new_one_whole() -> TestResult {
    for old in FROZEN.iter().filter(|f| f.version < SCHEMA_VERSION) {
        interrupted_upgrade_of(old)?;
    }
    Ok(())
}

fn interrupted_upgrade_of(old: &Frozen) -> TestResult {
    let specs = Specs::load()?;
    let image = std::fs::read(old.path)?;
    let (_copy, path) = copy_fixture(old)?;
    let whole = {
        let manager = RegistryManager::open(&path)?;
        check_content(&manager, &specs)?;
        (snapshot(&manager)?, manager.get_context_stats()?)
    };
    let dry = Disk::from_image(image.clone());
    drop(RegistryManager::builder().with_backend(dry.backend(), "dry run")?);
    let points = dry.counts().mutations();
    assert!(points > 0, "the upgrade writes");
    let dir = tempfile::tempdir()?;
    let (mut tried, mut upgraded) = (0, 0);
    for nth in 0..points {
        let faults = [
            Fault::IoError { sticky: true },
            Fault::PowerLoss {
                keep: Keep::Nothing,
            },
            Fault::PowerLoss {
                keep: Keep::Everything,
            },
            Fault::PowerLoss {
                keep: Keep::Prefix { seed: nth },
            },
            Fault::PowerLoss {
                keep: Keep::RandomSectors { seed: nth },
            },
        ];
        for fault in faults {
            let disk = Disk::from_image(image.clone());
            disk.arm(FaultPlan {
                target: Target::AnyMutation,
                nth,
                fault,
            });
            // The open fails, or succeeds if the fault hit after the commit point.
            drop(RegistryManager::builder().with_backend(disk.backend(), "faulty"));
            let after = if disk.powered_off() {
                vec![disk.image_after_power_loss(Keep::Nothing)]
            } else {
                vec![disk.current_image(), disk.durable_image()]
            };
            for bytes in after {
                let path = dir.path().join(format!("case{tried}.redb"));
                std::fs::write(&path, bytes)?;
                // A crash leaves a file that needs redb's repair, which a read-only open
                // cannot do: a plain redb open repairs it before its version is read.
                drop(redb::Database::create(&path)?);
                let (version, _, _) = raw_meta(&path)?;
                assert!(
                    version == Some(old.version) || version == Some(SCHEMA_VERSION),
                    "v{}: {fault:?} at mutation {nth}: version {version:?}",
                    old.version
                );
                upgraded += u64::from(version == Some(SCHEMA_VERSION));
                let manager = RegistryManager::open(&path)?;
                let reopened = (snapshot(&manager)?, manager.get_context_stats()?);
                assert!(
                    reopened == whole,
                    "{fault:?} at mutation {nth}: content differs"
                );
                tried += 1;
            }
        }
    }
    println!(
        "FIGURE migrations/interrupted_upgrade_v{0}: {tried} interrupted v{0} -> v{SCHEMA_VERSION} upgrades ({points} fault points x 5 faults): {upgraded} reopened upgraded, the rest as v{0}; every one read back whole",
        old.version
    );
    Ok(())
}

/// A version-2 file whose step-type index disagrees with its records (a row added, a row's
/// value changed, a row removed) is refused by the upgrade with a corruption error naming
/// the context, read-write and read-only, and stays a version-2 file: the upgrade checks
/// what it converts instead of carrying damage into the new layout.
#[test]
fn a_damaged_v2_index_stops_the_upgrade_naming_the_context() -> TestResult {
    use redb::{ReadableTable, TableDefinition};
    // Context `fraud_detection_training` has id 1 in the fixture.
    const INDEX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("pipeline_deps.ctx.1.index");
    type Damage = fn(&mut redb::Table<&[u8], &[u8]>) -> TestResult;
    let damages: [(&str, Damage); 3] = [
        ("an extra step row", |index| {
            // A type row for a step the context does not hold, correctly sealed.
            let mut key = vec![b'T'];
            key.extend_from_slice(&7u32.to_be_bytes());
            key.extend_from_slice(b"Package");
            key.extend_from_slice(&99u64.to_be_bytes());
            index.insert(
                key.as_slice(),
                support::sealed::seal(b'I', 1, &key, b"ghost").as_slice(),
            )?;
            Ok(())
        }),
        ("a changed first-seen value", |index| {
            let key = b"FPackage".as_slice();
            let value = index.get(key)?.ok_or("no first-seen row")?.value().to_vec();
            let mut damaged = value;
            damaged[4] ^= 1;
            index.insert(key, damaged.as_slice())?;
            Ok(())
        }),
        ("a removed first-seen row", |index| {
            index
                .remove(b"FPackage".as_slice())?
                .ok_or("no first-seen row")?;
            Ok(())
        }),
    ];
    for (what, damage) in damages {
        let (_dir, path) = copy_fixture(&V2)?;
        {
            let db = redb::Database::create(&path)?;
            let txn = db.begin_write()?;
            damage(&mut txn.open_table(INDEX)?).map_err(|e| format!("{what}: {e}"))?;
            txn.commit()?;
        }
        upgrade_stopped(&path, "fraud_detection_training").map_err(|e| format!("{what}: {e}"))?;
    }
    Ok(())
}

/// Opening the v2 file at `path`, for writing or only reading, is a corruption error naming
/// `context` and the schema version, and the file stays at version 2 (an error saying
/// which is not so).
fn upgrade_stopped(path: &std::path::Path, context: &str) -> TestResult {
    for result in [
        RegistryManager::open(path),
        RegistryManager::open_read_only(path),
    ] {
        match result {
            Err(e @ Error::Corrupted { .. }) => {
                let message = e.to_string();
                if !(message.contains(context) && message.contains("schema version 2")) {
                    return Err(
                        format!("the message names no context or version: {message}").into(),
                    );
                }
            }
            other => return Err(format!("expected a corruption error, got {other:?}").into()),
        }
    }
    match raw_meta(path)? {
        (Some(2), _, _) => Ok(()),
        (version, _, _) => Err(format!("the file is at version {version:?}, not 2").into()),
    }
}

/// A v2 catalog entry whose step-type count disagrees with its index and records (which
/// agree with each other) stops the upgrade naming the context, and the file stays at
/// version 2: the upgraded file would otherwise carry the wrong count, and every later read
/// of the context's step types would fail. (Written against a mutant of the v2 → v3 upgrade
/// that skipped the count comparison, which the index damages above let survive.)
#[test]
fn a_v2_catalog_type_count_that_disagrees_stops_the_upgrade() -> TestResult {
    use redb::ReadableTable;
    const CATALOG: redb::TableDefinition<&str, &[u8]> =
        redb::TableDefinition::new("pipeline_deps.catalog");
    let name = "fraud_detection_training";
    let (_dir, path) = copy_fixture(&V2)?;
    {
        let db = redb::Database::create(&path)?;
        let txn = db.begin_write()?;
        {
            let mut catalog = txn.open_table(CATALOG)?;
            let value = catalog.get(name)?.ok_or("no catalog row")?.value().to_vec();
            // postcard: the envelope's variant, then id, step_count, step_type_count,
            // next_seq and revision, each a varint.
            let (mut fields, rest): ((u32, u64, u64, u64, u64, u64), _) =
                postcard::take_from_bytes(support::sealed::payload(&value))?;
            if !rest.is_empty() || fields.0 != 0 || fields.1 != 1 {
                return Err(format!("unexpected catalog record {fields:?}").into());
            }
            fields.3 += 1;
            let damaged = support::sealed::seal(
                support::sealed::CATALOG,
                0,
                name.as_bytes(),
                &postcard::to_allocvec(&fields)?,
            );
            catalog.insert(name, damaged.as_slice())?;
        }
        txn.commit()?;
    }
    upgrade_stopped(&path, name)
}
