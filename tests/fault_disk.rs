//! The fault-injecting disk of the reliability tests and of the `ops_model` fuzz target,
//! checked against a plain reference: its durable image (kept as undo records of the pending
//! calls, not as a second copy) is exactly the bytes as of the last sync, whatever the order
//! of writes, length changes and syncs; and a manager dropped "as if crashed" (the fuzz
//! target's shortcut for a database whose disk is discarded next) writes nothing, leaving an
//! image that recovers.

mod support;

use pipeline_deps::RegistryManager;
use pipeline_deps::storage::StorageBackend;
use support::TestResult;
use support::fault_backend::{Disk, Keep, Rng};
use support::harness::drop_as_if_crashed;

fn random_bytes(rng: &mut Rng, len: u64) -> Vec<u8> {
    (0..len).map(|_| rng.next_u64().to_le_bytes()[0]).collect()
}

fn write_reference(image: &mut Vec<u8>, offset: u64, data: &[u8]) -> TestResult {
    let start = usize::try_from(offset)?;
    let end = start + data.len();
    if image.len() < end {
        image.resize(end, 0);
    }
    image[start..end].copy_from_slice(data);
    Ok(())
}

#[test]
fn the_durable_image_is_the_bytes_as_of_the_last_sync() -> TestResult {
    for case in 0..300u64 {
        let mut rng = Rng::new(case);
        let len = rng.below(3) * 4096;
        let initial = random_bytes(&mut rng, len);
        let disk = Disk::from_image(initial.clone());
        let backend = disk.backend();
        let (mut durable, mut current) = (initial.clone(), initial);
        for step in 0..rng.below(40) {
            match rng.below(5) {
                0..=2 => {
                    let offset = rng.below(12_000);
                    let len = 1 + rng.below(2_000);
                    let data = random_bytes(&mut rng, len);
                    backend.write(offset, &data)?;
                    write_reference(&mut current, offset, &data)?;
                }
                3 => {
                    let len = rng.below(14_000);
                    backend.set_len(len)?;
                    current.resize(usize::try_from(len)?, 0);
                }
                _ => {
                    backend.sync_data()?;
                    durable.clone_from(&current);
                }
            }
            let at = format!("case {case}, step {step}");
            assert_eq!(disk.current_image(), current, "{at}: current image");
            assert_eq!(disk.durable_image(), durable, "{at}: durable image");
            assert_eq!(
                disk.image_after_power_loss(Keep::Nothing),
                durable,
                "{at}: power loss keeping nothing"
            );
            assert_eq!(
                disk.image_after_power_loss(Keep::Everything),
                current,
                "{at}: power loss keeping everything"
            );
        }
        assert_eq!(
            disk.into_current_image(),
            current,
            "case {case}: taken image"
        );
    }
    Ok(())
}

fn disk_with_a_step() -> TestResult<(Disk, RegistryManager)> {
    let disk = Disk::new();
    let manager = RegistryManager::builder().with_backend(disk.backend(), "disk")?;
    manager
        .get_registry("ctx")?
        .register("step", &support::numbered_spec(1, 1))?;
    Ok((disk, manager))
}

#[test]
fn a_manager_dropped_as_if_crashed_writes_nothing_and_its_image_recovers() -> TestResult {
    // The control: a plain drop closes the database with a commit.
    let (disk, manager) = disk_with_a_step()?;
    let before = disk.counts().mutations();
    drop(manager);
    assert!(
        disk.counts().mutations() > before,
        "a plain close wrote nothing"
    );

    let (disk, manager) = disk_with_a_step()?;
    let before = disk.counts().mutations();
    drop_as_if_crashed(manager);
    assert_eq!(
        disk.counts().mutations(),
        before,
        "the dropped manager wrote"
    );
    let image = disk.into_current_image();
    let reopened =
        RegistryManager::builder().with_backend(Disk::from_image(image).backend(), "disk")?;
    let registry = reopened.get_registry_if_exists("ctx")?;
    assert!(registry.is_some_and(|r| r.contains("step").unwrap_or(false)));
    assert!(
        reopened.check_integrity()?,
        "the recovered image is damaged"
    );
    Ok(())
}
