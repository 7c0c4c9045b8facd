//! Invariant: hostile context names, step names and spec JSON (empty, 1 MiB long, NUL and
//! control characters, invalid JSON, deeply nested JSON, huge arrays, wrong types) each get
//! a clear error of the invalid-input family, with a bounded message that shows every name
//! escaped (no control or invisible reordering character reaches a terminal or log raw), and
//! leave the database exactly as it was. Documented limits: names are 1..=1024 bytes without control
//! characters; JSON nesting deeper than 128 levels is refused; spec text fields have no
//! limit of their own (a 1 MiB description round-trips).

mod support;

use pipeline_deps::spec::{MAX_NAME_BYTES, escape_name};
use pipeline_deps::{
    DependencySpec, DependencyType, Error, ImportOptions, NodeType, OutputSpec, RegistryManager,
    StepSpecification,
};
use support::model::{Snapshot, snapshot};
use support::{TestResult, figure};

const MIB: usize = 1024 * 1024;
/// No error message may be longer than this, whatever the input.
const MAX_MESSAGE: usize = 4096;

fn valid_spec() -> StepSpecification {
    StepSpecification::new("Training", NodeType::Internal)
        .with_dependency(DependencySpec::new("data", DependencyType::TrainingData))
        .with_output(OutputSpec::new(
            "model",
            DependencyType::ModelArtifacts,
            "properties.ModelArtifacts.S3ModelArtifacts",
        ))
}

struct Fixture {
    manager: RegistryManager,
    before: Snapshot,
    tried: usize,
}

impl Fixture {
    fn new() -> TestResult<Self> {
        let manager = RegistryManager::temporary()?;
        let registry = manager.get_registry("existing")?;
        registry.register("train", &valid_spec())?;
        manager.workspace("ws").get_registry("inner")?;
        let before = snapshot(&manager)?;
        Ok(Fixture {
            manager,
            before,
            tried: 0,
        })
    }

    /// Checks that `result` is an invalid-input error with a bounded message, and that the
    /// database did not change.
    fn refused<T: std::fmt::Debug>(
        &mut self,
        what: &str,
        result: pipeline_deps::Result<T>,
    ) -> TestResult {
        self.tried += 1;
        match result {
            Err(e) if e.is_invalid_input() => {
                let message = e.to_string();
                if message.len() > MAX_MESSAGE {
                    return Err(format!("{what}: a {} byte error message", message.len()).into());
                }
                if !message.contains("fix") && !message.contains("use ") {
                    return Err(format!("{what}: the message says nothing to do: {message}").into());
                }
                raw_free(what, &message)?;
            }
            other => {
                let shown: String = format!("{other:?}").chars().take(300).collect();
                return Err(format!("{what}: expected an invalid-input error, got {shown}").into());
            }
        }
        let after = snapshot(&self.manager)?;
        if after != self.before {
            return Err(format!("{what}: the database changed").into());
        }
        Ok(())
    }
}

/// Fails when `message` holds a character that [`escape_name`] would escape.
fn raw_free(what: &str, message: &str) -> TestResult {
    if escape_name(message) != message {
        return Err(format!("{what}: a raw control character in {message:?}").into());
    }
    Ok(())
}

fn hostile_names() -> Vec<(String, String)> {
    vec![
        ("empty".into(), String::new()),
        ("1 MiB".into(), "n".repeat(MIB)),
        (
            "one byte over the limit".into(),
            "n".repeat(MAX_NAME_BYTES + 1),
        ),
        (
            "multi-byte characters over the limit".into(),
            "é".repeat(MAX_NAME_BYTES / 2 + 1),
        ),
        ("NUL".into(), "a\0b".into()),
        ("only NUL".into(), "\0".into()),
        ("newline".into(), "line\nbreak".into()),
        ("tab".into(), "tab\there".into()),
        ("escape".into(), "\u{1b}[31mred".into()),
        ("DEL".into(), "del\u{7f}".into()),
        ("C1 control".into(), "c1\u{85}".into()),
        ("carriage return".into(), "cr\r".into()),
    ]
}

#[test]
fn hostile_context_names_are_refused_and_change_nothing() -> TestResult {
    let mut fx = Fixture::new()?;
    let ws = fx.manager.workspace("ws");
    for (what, name) in hostile_names() {
        let r = fx.manager.get_registry(&name);
        fx.refused(&format!("get_registry({what})"), r)?;
        let r = fx.manager.get_registry_if_exists(&name);
        fx.refused(&format!("get_registry_if_exists({what})"), r)?;
        let r = fx.manager.clear_context(&name);
        fx.refused(&format!("clear_context({what})"), r)?;
        let r = fx.manager.scoped_context(&name).map(|_| ());
        fx.refused(&format!("scoped_context({what})"), r)?;
        if !name.is_empty() {
            // Through a workspace view (a hostile workspace name, or a hostile name within).
            let r = ws.get_registry(&name);
            fx.refused(&format!("workspace get_registry({what})"), r)?;
            let r = fx.manager.workspace(&name).get_registry("x");
            fx.refused(&format!("hostile workspace {what}"), r)?;
        }
    }
    // The limit itself is accepted, and so are `::`, `/`, spaces and unicode.
    for name in [
        "n".repeat(MAX_NAME_BYTES),
        "a::b/c d".into(),
        "コンテキスト 🚀".into(),
    ] {
        let registry = fx.manager.get_registry(&name)?;
        registry.register("s", &valid_spec())?;
        assert!(fx.manager.clear_context(&name)?);
    }
    figure(
        "hostile_input/context_names",
        &format!(
            "{} hostile context-name calls refused with InvalidContextName, database unchanged; 0 panics",
            fx.tried
        ),
    );
    Ok(())
}

#[test]
fn hostile_step_names_and_specs_are_refused_and_change_nothing() -> TestResult {
    let mut fx = Fixture::new()?;
    let registry = fx.manager.get_registry("existing")?;
    for (what, name) in hostile_names() {
        let r = registry.register(&name, &valid_spec());
        fx.refused(&format!("register step {what}"), r)?;
        let r = registry.upsert(&name, &valid_spec());
        fx.refused(&format!("upsert step {what}"), r)?;
        let spec = valid_spec();
        let r = registry.register_many([("fine", &spec), (name.as_str(), &spec)]);
        fx.refused(&format!("register_many with step {what}"), r)?;
        // As a logical name inside the spec.
        let mut bad = valid_spec();
        bad.outputs.insert(
            name.clone(),
            OutputSpec::new(name.clone(), DependencyType::ModelArtifacts, "p"),
        );
        let r = registry.register("fine", &bad);
        fx.refused(&format!("output named {what}"), r)?;
    }
    let blank_type = StepSpecification::new("   ", NodeType::Internal)
        .with_output(OutputSpec::new("o", DependencyType::ModelArtifacts, "p"));
    let r = registry.register("fine", &blank_type);
    fx.refused("blank step type", r)?;
    let empty = StepSpecification::new("T", NodeType::Internal);
    let r = registry.register("fine", &empty);
    fx.refused("no dependencies or outputs", r)?;
    let mut mismatched = valid_spec();
    if let Some(dep) = mismatched.dependencies.get_mut("data") {
        dep.logical_name = "other".into();
    }
    let r = registry.register("fine", &mismatched);
    fx.refused("logical name differs from its key", r)?;
    // A huge but valid spec is not an error: text fields have no limit of their own.
    let mut huge = valid_spec();
    if let Some(dep) = huge.dependencies.get_mut("data") {
        dep.description = "d".repeat(MIB);
        dep.semantic_keywords = (0..10_000).map(|i| format!("k{i}")).collect();
    }
    let other = fx.manager.get_registry("huge")?;
    other.register("big", &huge)?;
    assert_eq!(other.get_specification("big")?.as_deref(), Some(&huge));
    assert!(fx.manager.clear_context("huge")?);
    figure(
        "hostile_input/step_names_and_specs",
        &format!(
            "{} hostile step names and specs refused with InvalidSpec, database unchanged; a 1 MiB description round-trips; 0 panics",
            fx.tried
        ),
    );
    Ok(())
}

fn hostile_json() -> Vec<(String, String)> {
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let deep_objects = |n: usize| format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
    let step = |fields: &str| format!(r#"{{"steps": [{{"step_name": "s", {fields}}}]}}"#);
    let ok_fields =
        r#""step_type": "T", "outputs": {"o": {"type": "model_artifacts", "property_path": "p"}}"#;
    vec![
        ("empty".into(), String::new()),
        ("whitespace".into(), " \n\t ".into()),
        ("not JSON".into(), "steps: [a, b]".into()),
        ("truncated".into(), r#"{"steps": [{"step_name": "s""#.into()),
        (
            "trailing garbage".into(),
            r#"{"steps": []} trailing"#.into(),
        ),
        ("NUL byte".into(), "{\"steps\": [\0]}".into()),
        ("bare NUL".into(), "\0".into()),
        (
            "lone surrogate".into(),
            r#"{"steps": [{"step_name": "\ud800"}]}"#.into(),
        ),
        (
            "nested 129 arrays".into(),
            format!(r#"{{"steps": {}}}"#, deep(129)),
        ),
        ("nested 100000 arrays".into(), deep(100_000)),
        ("nested 100000 objects".into(), deep_objects(100_000)),
        ("top-level array".into(), "[]".into()),
        ("top-level null".into(), "null".into()),
        ("top-level number".into(), "1e999999".into()),
        ("no steps key".into(), r#"{"stepz": []}"#.into()),
        ("steps is an object".into(), r#"{"steps": {}}"#.into()),
        ("steps is a string".into(), r#"{"steps": "all"}"#.into()),
        (
            "huge array of numbers".into(),
            format!(r#"{{"steps": [{}1]}}"#, "1,".repeat(MIB / 2)),
        ),
        (
            "huge array of nameless steps".into(),
            format!(r#"{{"steps": [{}{{}}]}}"#, "{},".repeat(100_000)),
        ),
        (
            "step_name is a number".into(),
            r#"{"steps": [{"step_name": 5}]}"#.into(),
        ),
        (
            "step_name is null".into(),
            r#"{"steps": [{"step_name": null}]}"#.into(),
        ),
        ("step_type is a number".into(), step(r#""step_type": 5"#)),
        ("step_type missing".into(), step(r#""outputs": {}"#)),
        (
            "dependencies is an array".into(),
            step(r#""step_type": "T", "dependencies": []"#),
        ),
        (
            "outputs is a string".into(),
            step(r#""step_type": "T", "outputs": "o""#),
        ),
        (
            "unknown node type".into(),
            step(r#""step_type": "T", "node_type": "root""#),
        ),
        (
            "unknown dependency type".into(),
            step(r#""step_type": "T", "dependencies": {"d": {"type": "weights"}}"#),
        ),
        (
            "required is a string".into(),
            step(r#""step_type": "T", "dependencies": {"d": {"required": "yes"}}"#),
        ),
        (
            "aliases is a string".into(),
            step(r#""step_type": "T", "outputs": {"o": {"aliases": "a"}}"#),
        ),
        ("negative number as name".into(), step(r#""step_type": -1"#)),
        ("1 MiB step name".into(), {
            format!(
                r#"{{"steps": [{{"step_name": "{}", {ok_fields}}}]}}"#,
                "n".repeat(MIB)
            )
        }),
        (
            "NUL in step name".into(),
            format!(r#"{{"steps": [{{"step_name": "a\u0000b", {ok_fields}}}]}}"#),
        ),
        (
            "control character in output name".into(),
            r#"{"steps": [{"step_name": "s", "step_type": "T", "outputs": {"o\u0007": {}}}]}"#
                .into(),
        ),
        (
            "blank step type".into(),
            r#"{"steps": [{"step_name": "s", "step_type": " ", "outputs": {"o": {}}}]}"#.into(),
        ),
        (
            "duplicate step names".into(),
            format!(
                r#"{{"steps": [{{"step_name": "s", {ok_fields}}}, {{"step_name": "s", {ok_fields}}}]}}"#
            ),
        ),
        (
            "a good step then a bad one".into(),
            format!(
                r#"{{"steps": [{{"step_name": "good", {ok_fields}}}, {{"step_name": "bad", "step_type": 1}}]}}"#
            ),
        ),
        (
            "10000 invalid steps".into(),
            format!(
                r#"{{"steps": [{}{{"step_name": "last", "step_type": " "}}]}}"#,
                (0..10_000)
                    .map(|i| format!(r#"{{"step_name": "s{i}", "step_type": " "}},"#))
                    .collect::<String>()
            ),
        ),
        (
            "1 MiB logical name under a short key".into(),
            format!(
                r#"{{"steps": [{{"step_name": "s", "step_type": "T", "outputs": {{"o": {{"logical_name": "{}"}}}}}}]}}"#,
                "l".repeat(MIB)
            ),
        ),
        (
            "a step name already registered".into(),
            format!(r#"{{"steps": [{{"step_name": "train", {ok_fields}}}]}}"#),
        ),
    ]
}

#[test]
fn hostile_json_is_refused_and_changes_nothing() -> TestResult {
    let mut fx = Fixture::new()?;
    let registry = fx.manager.get_registry("existing")?;
    for (what, json) in hostile_json() {
        let r = registry.import_json(&json);
        // A step listed twice is the document's fault (invalid input, below); a name the
        // context already has is a conflict.
        if what == "a step name already registered" {
            // Well-formed input that conflicts: refused as a conflict, nothing written.
            fx.tried += 1;
            assert!(
                matches!(r, Err(Error::AlreadyRegistered { .. })),
                "{what}: {r:?}"
            );
            assert_eq!(snapshot(&fx.manager)?, fx.before, "{what}");
            continue;
        }
        fx.refused(&format!("import_json({what})"), r)?;
        let r = registry.import_json_with(&json, &ImportOptions::new().replace(true).variant("x"));
        fx.refused(&format!("import_json_with({what})"), r)?;
        let r = StepSpecification::from_json(&json);
        fx.tried += 1;
        if let Err(e) = &r {
            assert!(e.is_invalid_input(), "from_json({what}): {e}");
            assert!(e.to_string().len() <= MAX_MESSAGE, "from_json({what})");
        }
    }
    figure(
        "hostile_input/json",
        &format!(
            "{} hostile JSON documents refused with a clear error, database unchanged; 0 panics",
            fx.tried
        ),
    );
    Ok(())
}

#[test]
fn messages_show_hostile_text_escaped_and_errors_keep_it_exact() -> TestResult {
    let manager = RegistryManager::temporary()?;
    let registry = manager.get_registry("ctx")?;
    for hostile in ["\u{1b}[2J", "a\nb", "\u{202e}evil", "x\u{85}y", "\0"] {
        // A step type with a control character and nothing declared: two problems, both
        // naming it.
        let spec = StepSpecification::new(format!("T{hostile}"), NodeType::Internal);
        let Err(error) = registry.register(&format!("s{hostile}"), &spec) else {
            return Err("a hostile step was registered".into());
        };
        raw_free("invalid spec", &error.to_string())?;
        match &error {
            Error::InvalidSpec { problems, .. } => {
                assert!(problems.iter().all(|p| p.step == format!("s{hostile}")));
                for problem in problems {
                    raw_free("a problem", &problem.to_string())?;
                }
            }
            other => return Err(format!("expected InvalidSpec, got {other:?}").into()),
        }
        // A context name with a control character: the field keeps it exact. (Bidi and
        // zero-width characters are valid in names; messages escape them all the same.)
        match manager.get_registry(&format!("c{hostile}")) {
            Err(Error::InvalidContextName { name, .. }) => assert_eq!(name, format!("c{hostile}")),
            Ok(registry) if !hostile.chars().any(char::is_control) => {
                // A valid name holding a bidi override: every message naming the context
                // shows it escaped.
                registry.register("s", &valid_spec())?;
                let taken = registry.register("s", &valid_spec());
                let invalid = registry.register("t", &spec);
                manager.clear_context(&format!("c{hostile}"))?;
                let cleared = registry.len();
                for result in [taken, invalid, cleared.map(|_| ())] {
                    let Err(error) = result else {
                        return Err("a refused call succeeded".into());
                    };
                    raw_free("an error naming the context", &error.to_string())?;
                }
            }
            other => return Err(format!("expected InvalidContextName, got {other:?}").into()),
        }
        // An alias is free text; the lint warning about a clash shows it escaped.
        let clash = StepSpecification::new("T", NodeType::Source).with_output(
            OutputSpec::new("out", DependencyType::ModelArtifacts, "p")
                .with_aliases([format!("a{hostile}"), format!("A{hostile}")]),
        );
        for warning in clash.lint("s") {
            raw_free("a lint warning", &warning.to_string())?;
        }
    }
    Ok(())
}

#[test]
fn a_hostile_file_name_is_escaped_in_messages() -> TestResult {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("a\u{1b}[31m\u{202e}dir").join("x.redb");
    for error in [
        RegistryManager::open(&missing).err(),
        RegistryManager::open_read_only(&missing).err(),
    ] {
        let error = error.ok_or("opened a file in a missing directory")?;
        raw_free("an open in a hostile directory", &error.to_string())?;
        assert!(error.to_string().contains("\\u{1b}[31m"), "{error}");
    }
    Ok(())
}

#[test]
fn a_path_written_as_a_url_of_another_scheme_is_refused_and_creates_nothing() -> TestResult {
    for url in [
        "postgress://ci@db/registry",
        "redb://registry.redb",
        "file:///tmp/x.redb",
        "postgres:/ci:hunter2@db/registry",
        "postgresql:ci:hunter2@db/registry",
        " postgres://ci:hunter2@db/registry",
    ] {
        let error = match RegistryManager::open(url) {
            Ok(_) => return Err(format!("{url} was opened as a file").into()),
            Err(error) => error,
        };
        assert_eq!(
            error.kind(),
            pipeline_deps::ErrorKind::InvalidInput,
            "{error}"
        );
        let message = error.to_string();
        assert!(
            message.contains("written as a URL") || message.contains("looks like a PostgreSQL URL"),
            "{message}"
        );
        // A URL may hold a password: the message never repeats it.
        assert!(!message.contains("hunter2"), "{message}");
        let first = url.trim_start().split(':').next().unwrap_or_default();
        assert!(!std::path::Path::new(&format!("{first}:")).exists());
        assert!(!std::path::Path::new(url).exists());
    }
    // A path with `://` further on (here after the directory), or one starting with `./`,
    // names a file.
    let dir = tempfile::tempdir()?;
    let nested = dir.path().join("a://b.redb");
    assert_eq!(pipeline_deps::storage::url_scheme(&nested), None);
    assert_eq!(
        pipeline_deps::storage::url_scheme(std::path::Path::new("./a://b")),
        None
    );
    std::fs::create_dir(dir.path().join("a:"))?;
    drop(RegistryManager::open(&nested)?);
    assert!(nested.is_file());
    Ok(())
}
