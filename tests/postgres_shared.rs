//! Invariant: on a PostgreSQL registry written by several processes (here: several managers,
//! each with its own connection, as separate processes have), a handle never serves what
//! another writer changed or cleared. Its cached specs are checked against the context's
//! revision; a handle of a context cleared elsewhere returns `ContextCleared` forever, also
//! after the context was created again under the same name, while `get_registry` gives a
//! fresh handle to the new one. A resolver over a handle follows the other writers too.
//! A read-only connection creates nothing (not even the schema), refuses every write and
//! still sees every later commit. File-only maintenance says it does not apply.
#![cfg(feature = "postgres")]

#[path = "support/pg_cluster.rs"]
mod pg_cluster;

use pipeline_deps::{
    DependencySpec, DependencyType, Error, NodeType, OutputSpec, RegistryManager, SemanticMatcher,
    StepSpecification, UnifiedDependencyResolver,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn spec(step_type: &str) -> StepSpecification {
    StepSpecification::new(step_type, NodeType::Source).with_output(OutputSpec::new(
        "out",
        DependencyType::ProcessingOutput,
        "properties.Out",
    ))
}

/// Two managers on one fresh database, or `None` when skipped.
fn two_managers(
    test: &str,
) -> Result<Option<(RegistryManager, RegistryManager)>, Box<dyn std::error::Error>> {
    let Some(server) = pg_cluster::server(test)? else {
        return Ok(None);
    };
    let url = server.database(test)?;
    Ok(Some((
        RegistryManager::connect(&url)?,
        RegistryManager::connect(&url)?,
    )))
}

#[test]
fn cached_specs_follow_writes_of_another_process() -> TestResult {
    let Some((a, b)) = two_managers("cached_specs_follow")? else {
        return Ok(());
    };
    let mine = a.get_registry("ml")?;
    mine.register("train", &spec("Training"))?;
    assert_eq!(
        mine.get_specification("train")?
            .map(|s| s.step_type.clone()),
        Some("Training".into())
    );
    let theirs = b.get_registry("ml")?;
    theirs.upsert("train", &spec("Retraining"))?;
    assert_eq!(
        mine.get_specification("train")?
            .map(|s| s.step_type.clone()),
        Some("Retraining".into()),
        "the cache saw the other writer's revision"
    );
    theirs.unregister("train")?;
    assert_eq!(mine.get_specification("train")?, None);
    assert_eq!(mine.revision()?, theirs.revision()?);
    Ok(())
}

#[test]
fn a_resolver_follows_writes_of_another_process() -> TestResult {
    let Some((a, b)) = two_managers("resolver_follows")? else {
        return Ok(());
    };
    let consumer = StepSpecification::new("Training", NodeType::Sink)
        .with_dependency(DependencySpec::new("out", DependencyType::ProcessingOutput));
    let mine = a.get_registry("ml")?;
    mine.register("prep", &spec("Preprocessing"))?;
    mine.register("train", &consumer)?;
    let resolver = UnifiedDependencyResolver::new(mine, SemanticMatcher::default());
    let steps = ["prep", "train"];
    let wired = |r: &UnifiedDependencyResolver| -> Result<Vec<String>, Error> {
        let resolution = r.resolve_all_dependencies(&steps)?;
        Ok(resolution
            .resolved
            .get("train")
            .map(|deps| deps.values().map(|p| p.step_name().to_owned()).collect())
            .unwrap_or_default())
    };
    assert_eq!(wired(&resolver)?, ["prep"]);
    // Another process removes the producer: the next resolve sees it gone, although every
    // spec it had read is still cached.
    let theirs = b.get_registry("ml")?;
    theirs.unregister("prep")?;
    assert_eq!(wired(&resolver)?, Vec::<String>::new());
    assert_eq!(
        resolver
            .resolve_step_dependencies("train", &steps)
            .map_err(|e| e.kind()),
        Err(pipeline_deps::ErrorKind::Unresolved),
    );
    // ... and registers another under the same name: wired again.
    theirs.register("prep", &spec("Cleaning"))?;
    assert_eq!(wired(&resolver)?, ["prep"]);
    Ok(())
}

#[test]
fn a_handle_of_a_context_cleared_and_recreated_elsewhere_is_cleared_forever() -> TestResult {
    let Some((a, b)) = two_managers("cleared_and_recreated_elsewhere")? else {
        return Ok(());
    };
    let old = a.get_registry("ctx")?;
    old.register("mine", &spec("A"))?;
    assert!(old.get_specification("mine")?.is_some());
    assert!(b.clear_context("ctx")?);
    let recreated = b.get_registry("ctx")?;
    recreated.register("theirs", &spec("B"))?;
    for attempt in [
        old.get_specification("mine").map(drop),
        old.register("again", &spec("A")),
        // A batch of nothing is a write too: it was sent as nothing at all and returned Ok.
        old.register_many(Vec::<(&str, StepSpecification)>::new())
            .map(drop),
        old.upsert_many(Vec::<(&str, StepSpecification)>::new())
            .map(drop),
        old.import_json(r#"{"steps": []}"#).map(drop),
        old.len().map(drop),
        old.list_step_names().map(drop),
        old.clear(),
    ] {
        assert!(
            matches!(attempt, Err(Error::ContextCleared { .. })),
            "{attempt:?}"
        );
    }
    assert_eq!(
        recreated.list_step_names()?,
        ["theirs"],
        "the stale handle wrote nothing"
    );
    let fresh = a.get_registry("ctx")?;
    assert_eq!(fresh.list_step_names()?, ["theirs"]);
    assert!(
        matches!(old.len(), Err(Error::ContextCleared { .. })),
        "still cleared"
    );
    Ok(())
}

#[test]
fn contexts_and_counts_are_the_same_seen_from_every_process() -> TestResult {
    let Some((a, b)) = two_managers("same_from_every_process")? else {
        return Ok(());
    };
    a.get_registry("first")?.register("s", &spec("T"))?;
    b.get_registry("second")?
        .register_many([("x", &spec("T")), ("y", &spec("U"))])?;
    a.get_registry("third")?;
    for manager in [&a, &b] {
        assert_eq!(manager.list_contexts()?, ["first", "second", "third"]);
        let stats = manager.get_context_stats()?;
        assert_eq!(stats["second"].step_count, 2);
        assert_eq!(stats["second"].step_type_count, 2);
    }
    assert_eq!(b.clear_all_contexts()?, 3);
    assert!(a.list_contexts()?.is_empty());
    Ok(())
}

/// A clear counts what it deletes in its own transaction: steps and contexts another
/// process wrote after this one last looked are deleted and counted alike (the CLI's
/// `clear` and `clear-all` report these counts).
#[test]
fn a_clear_counts_what_another_process_wrote_since_it_looked() -> TestResult {
    let Some((a, b)) = two_managers("clear_counts_others_writes")? else {
        return Ok(());
    };
    a.get_registry("ml")?.register("s", &spec("T"))?;
    assert_eq!(a.get_context_stats()?["ml"].step_count, 1);
    b.get_registry("ml")?.register("t", &spec("U"))?;
    let ml = a.clear_context_with_stats("ml")?.ok_or("ml existed")?;
    assert_eq!((ml.step_count, ml.step_type_count), (2, 2));
    a.get_registry("first")?.register("s", &spec("T"))?;
    assert_eq!(a.list_contexts()?, ["first"]);
    b.get_registry("second")?
        .register_many([("x", &spec("T")), ("y", &spec("T"))])?;
    let cleared = a.clear_all_contexts_with_stats()?;
    let shown: Vec<(&str, usize)> = cleared
        .iter()
        .map(|(name, s)| (name.as_str(), s.step_count))
        .collect();
    assert_eq!(shown, [("first", 1), ("second", 2)]);
    assert!(b.list_contexts()?.is_empty());
    Ok(())
}

#[test]
fn file_only_maintenance_says_it_does_not_apply() -> TestResult {
    let Some((a, _)) = two_managers("file_only_maintenance")? else {
        return Ok(());
    };
    for result in [a.compact(), a.check_integrity()] {
        let message = result.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains("applies only to a database file"),
            "{message}"
        );
    }
    assert!(a.path().display().to_string().starts_with("postgres://"));
    Ok(())
}

#[test]
fn a_read_only_connection_creates_nothing_refuses_writes_and_sees_every_commit() -> TestResult {
    let Some(url) = pg_cluster::database("read_only_connection")? else {
        return Ok(());
    };
    let read_only = || RegistryManager::builder().read_only(true).connect(&url);
    match read_only() {
        Err(Error::NotARegistry { detail, .. }) => {
            assert!(detail.contains("holds no registry"), "{detail}");
        }
        other => return Err(format!("an empty database opened read-only: {other:?}").into()),
    }
    assert_eq!(
        pg_cluster::registry_tables(&url)?,
        0,
        "a read-only connection created tables"
    );

    let writer = RegistryManager::connect(&url)?;
    assert!(writer.is_shared() && !RegistryManager::in_memory()?.is_shared());
    assert!(pg_cluster::registry_tables(&url)? > 0);
    writer.get_registry("ml")?.register("a", &spec("T"))?;
    let inspector = read_only()?;
    assert!(inspector.is_read_only());
    let seen = inspector.get_registry("ml")?;
    assert!(seen.get_specification("a")?.is_some());

    let refused: Vec<(&str, pipeline_deps::Result<()>)> = vec![
        ("register", seen.register("b", &spec("T"))),
        ("upsert", seen.upsert("a", &spec("U"))),
        (
            "register_many",
            seen.register_many([("c", &spec("T"))]).map(drop),
        ),
        ("unregister", seen.unregister("a").map(drop)),
        ("clear", seen.clear().map(drop)),
        ("clear_context", inspector.clear_context("ml").map(drop)),
        ("clear_all", inspector.clear_all_contexts().map(drop)),
        ("new context", inspector.get_registry("new").map(drop)),
    ];
    for (what, result) in refused {
        match result {
            Err(Error::ReadOnly { .. }) if what != "new context" => {}
            Err(Error::NoSuchContext { .. }) if what == "new context" => {}
            other => return Err(format!("{what} through a read-only connection: {other:?}").into()),
        }
    }
    assert_eq!(writer.list_contexts()?, ["ml"]);
    let stats = writer.get_context_stats()?;
    assert_eq!(
        stats["ml"].step_count, 1,
        "a refused write changed the counts"
    );
    assert_eq!(seen.list_step_types()?, ["T"]);

    // URL schemes have no case.
    let upper = RegistryManager::connect(&url.replacen("postgres://", "POSTGRESQL://", 1))?;
    assert_eq!(upper.list_contexts()?, ["ml"]);

    // Later commits of the writer are seen, cached or not.
    writer.get_registry("ml")?.register("b", &spec("U"))?;
    assert_eq!(seen.list_step_names()?, ["a", "b"]);
    writer.get_registry("later")?;
    assert_eq!(inspector.list_contexts()?, ["ml", "later"]);
    Ok(())
}
