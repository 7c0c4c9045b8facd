//! Invariant: on PostgreSQL, the streamed export (`export_json_to`, which reads the context
//! through a cursor in batches) writes the same text, byte for byte, as a file registry
//! holding the same steps, for contexts of several batches, of an exact number of batches,
//! and empty; an output that fails is an I/O error and leaves the connection usable; and a
//! read that loses its connection after output was written is not run again (which would
//! write the text twice), while the next export, on a new connection, is whole.
#![cfg(feature = "postgres")]

#[path = "support/pg_cluster.rs"]
mod pg_cluster;

use std::io::{self, Write};

use pipeline_deps::{
    DependencySpec, DependencyType, Error, NodeType, OutputSpec, RegistryManager, ServerErrorKind,
    SpecificationRegistry, StepSpecification,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const FIXTURE: &str = include_str!("fixtures/cursus-step-specs.json");

/// `n` steps of a few types, each consuming the one before.
fn steps(n: usize) -> Vec<(String, StepSpecification)> {
    (0..n)
        .map(|i| {
            let mut spec = StepSpecification::new(format!("Type{}", i % 5), NodeType::Internal)
                .with_output(OutputSpec::new(
                    format!("out_{i}"),
                    DependencyType::ProcessingOutput,
                    format!("properties.Out{i} \"quoted\" ü"),
                ));
            spec = spec.with_dependency(DependencySpec::new(
                format!("in_{i}"),
                DependencyType::ProcessingOutput,
            ));
            (format!("step_{i:05}"), spec)
        })
        .collect()
}

fn fill(registry: &SpecificationRegistry, steps: &[(String, StepSpecification)]) -> TestResult {
    if !steps.is_empty() {
        registry.register_many(steps.iter().map(|(n, s)| (n.as_str(), s)))?;
    }
    Ok(())
}

fn exported(registry: &SpecificationRegistry) -> Result<(Vec<u8>, usize), Error> {
    let mut out = Vec::new();
    let n = registry.export_json_to(&mut out)?;
    Ok((out, n))
}

#[test]
fn a_streamed_export_on_postgres_is_the_file_backends_byte_for_byte() -> TestResult {
    let Some(url) = pg_cluster::database("export_byte_for_byte")? else {
        return Ok(());
    };
    let pg = RegistryManager::connect(&url)?;
    let file = RegistryManager::in_memory()?;
    // The cursor reads 1,000 rows at a time: several batches, exactly two, one, none.
    for n in [2_500, 2_000, 1, 0] {
        let name = format!("ctx_{n}");
        let steps = steps(n);
        fill(&pg.get_registry(&name)?, &steps)?;
        fill(&file.get_registry(&name)?, &steps)?;
    }
    pg.get_registry("cursus")?.import_json(FIXTURE)?;
    file.get_registry("cursus")?.import_json(FIXTURE)?;
    for name in ["ctx_2500", "ctx_2000", "ctx_1", "ctx_0", "cursus"] {
        let on_pg = pg.get_registry(name)?;
        let (pg_text, pg_count) = exported(&on_pg)?;
        let (file_text, file_count) = exported(&file.get_registry(name)?)?;
        assert!(pg_text == file_text, "context {name}: the texts differ");
        assert_eq!(pg_count, file_count, "context {name}");
        assert_eq!(pg_count, on_pg.len()?, "context {name}");
        assert!(on_pg.export_json()?.as_bytes() == pg_text, "context {name}");
    }
    Ok(())
}

/// Fails every write after `left` bytes.
struct Failing {
    left: usize,
}

impl Write for Failing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
        }
        let n = buf.len().min(self.left);
        self.left -= n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn an_output_failing_midway_on_postgres_is_an_io_error_and_the_connection_carries_on() -> TestResult
{
    let Some(url) = pg_cluster::database("export_output_fails")? else {
        return Ok(());
    };
    let pg = RegistryManager::connect(&url)?;
    let registry = pg.get_registry("big")?;
    fill(&registry, &steps(2_500))?;
    let (whole, _) = exported(&registry)?;
    for left in [0, 100_000, whole.len() - 1] {
        match registry.export_json_to(Failing { left }) {
            Ok(n) => return Err(format!("after {left} bytes: exported {n} steps").into()),
            Err(error) => {
                assert!(error.is_io(), "after {left} bytes: {error}");
                assert!(error.to_string().contains("writing the export"), "{error}");
            }
        }
        // The cursor and its transaction went with the error: the next export is whole.
        assert!(exported(&registry)?.0 == whole, "after {left} bytes");
        registry.register(&format!("extra_{left}"), &steps(1)[0].1)?;
        registry.unregister(&format!("extra_{left}"))?;
    }
    Ok(())
}

/// Ends every other session of database `database` at its first write (as a server
/// restart would, in the middle of the export's read).
struct Terminating {
    admin: Option<postgres::Client>,
    database: String,
    out: Vec<u8>,
}

impl Write for Terminating {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(mut admin) = self.admin.take() {
            admin
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = $1 AND pid <> pg_backend_pid()",
                    &[&self.database],
                )
                .map_err(io::Error::other)?;
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn an_export_that_lost_its_connection_after_writing_is_not_written_twice() -> TestResult {
    let Some(server) = pg_cluster::server("export_not_twice")? else {
        return Ok(());
    };
    let url = server.database("export_not_twice")?;
    let database = url
        .rsplit('/')
        .next()
        .and_then(|tail| tail.split('?').next())
        .ok_or("no database in the URL")?
        .to_owned();
    let pg = RegistryManager::connect(&url)?;
    let registry = pg.get_registry("big")?;
    // Several cursor batches, so that the read goes back to the server after output began.
    fill(&registry, &steps(3_000))?;
    let (whole, _) = exported(&registry)?;
    let mut out = Terminating {
        admin: Some(postgres::Client::connect(
            &server.admin_url(),
            postgres::NoTls,
        )?),
        database,
        out: Vec::new(),
    };
    match registry.export_json_to(&mut out) {
        Ok(n) => return Err(format!("the export survived its connection: {n} steps").into()),
        Err(Error::Server {
            kind: ServerErrorKind::ConnectionLost,
            ..
        }) => {}
        Err(other) => return Err(format!("not a lost connection: {other}").into()),
    }
    let text = String::from_utf8(out.out)?;
    assert_eq!(
        text.matches("\"schema\"").count(),
        1,
        "the output was started twice"
    );
    assert!(
        whole.starts_with(text.as_bytes()),
        "the output is not a prefix of the export"
    );
    // The next export runs on a new connection and is whole.
    assert!(exported(&registry)?.0 == whole);
    Ok(())
}
