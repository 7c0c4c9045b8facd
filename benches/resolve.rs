//! Resolution speed on the real cursus specifications: 61 steps, 244 steps (the 61 specs
//! registered four times under renamed step names) and 1,000 steps (renamed copies again).
//!
//! * `cold`: a new resolver per iteration (empty similarity memo and resolution cache) —
//!   what a first `resolve_all_dependencies` call costs, registry read included;
//! * `warm`: the resolution cache is cleared before each call, the similarity memo kept;
//! * `cached`: the resolution of the same ordered list is served from the cache;
//! * `unoptimized`: the straightforward reference-style path (61 steps only).
//!
//! The reference (Python) takes about 2.15 s for 61 steps and 32.6 s for 244.
//!
//! Run with `cargo bench --bench resolve -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use pipeline_deps::resolve::InterfaceCatalog;
use pipeline_deps::{
    RegistryManager, SemanticMatcher, SpecificationRegistry, UnifiedDependencyResolver,
};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/cursus-step-specs.json"
);

/// A temporary database with `steps` step names: the real specs in fixture order, renamed
/// `<name>_<copy>` from the second copy on.
fn setup(
    catalog: &InterfaceCatalog,
    steps: usize,
) -> pipeline_deps::Result<(RegistryManager, SpecificationRegistry, Vec<String>)> {
    let manager = RegistryManager::temporary()?;
    let registry = manager.get_registry("bench")?;
    let specs = catalog.specs(None);
    let mut names = Vec::with_capacity(steps);
    let mut copy = 0;
    while names.len() < steps {
        for (name, _) in &specs {
            if names.len() == steps {
                break;
            }
            names.push(if copy == 0 {
                (*name).to_owned()
            } else {
                format!("{name}_{copy}")
            });
        }
        copy += 1;
    }
    let items: Vec<(&str, _)> = names
        .iter()
        .zip(specs.iter().cycle())
        .map(|(n, (_, s))| (n.as_str(), *s))
        .collect();
    registry.register_many(items)?;
    Ok((manager, registry, names))
}

fn bench_resolve(c: &mut Criterion) {
    let catalog = match InterfaceCatalog::from_path(FIXTURE) {
        Ok(catalog) => catalog,
        Err(error) => {
            eprintln!("cannot read the fixture {FIXTURE}: {error}");
            return;
        }
    };
    let mut group = c.benchmark_group("resolve_all_dependencies");
    for steps in [61usize, 244, 1000] {
        let (_manager, registry, names) = match setup(&catalog, steps) {
            Ok(setup) => setup,
            Err(error) => {
                eprintln!("setup of {steps} steps failed: {error}");
                continue;
            }
        };
        group.bench_with_input(BenchmarkId::new("cold", steps), &names, |b, names| {
            b.iter(|| {
                let resolver =
                    UnifiedDependencyResolver::new(registry.clone(), SemanticMatcher::default());
                black_box(resolver.resolve_all_dependencies(black_box(names)))
            });
        });
        let resolver = UnifiedDependencyResolver::new(registry.clone(), SemanticMatcher::default());
        group.bench_with_input(BenchmarkId::new("warm", steps), &names, |b, names| {
            b.iter(|| {
                resolver.clear_cache();
                black_box(resolver.resolve_all_dependencies(black_box(names)))
            });
        });
        group.bench_with_input(BenchmarkId::new("cached", steps), &names, |b, names| {
            b.iter(|| black_box(resolver.resolve_all_dependencies(black_box(names))));
        });
        // The unoptimised path is the test oracle, compiled with `--features reference-resolver`.
        #[cfg(feature = "reference-resolver")]
        if steps == 61 {
            group.sample_size(10);
            group.bench_with_input(
                BenchmarkId::new("unoptimized", steps),
                &names,
                |b, names| {
                    b.iter(|| {
                        black_box(resolver.resolve_all_dependencies_unoptimized(black_box(names)))
                    });
                },
            );
            group.sample_size(100);
        }
    }
    group.finish();
}

criterion_group!(benches, bench_resolve);
criterion_main!(benches);
