//! Dispatch and what every command shares: opening the database, reading and writing
//! files. The commands themselves are in `inspect.rs`, `transfer.rs`, `maintain.rs` and
//! `gate.rs`.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use pipeline_deps::{Concurrency, RegistryManager, SpecificationRegistry};

use crate::args::{Cli, Command};
use crate::output::short;
use crate::{Failure, Missing, Status, gate, inspect, maintain, transfer};

/// What every command gets: the database file, the output mode and standard output.
pub struct Session<'a> {
    /// The database file.
    pub db: PathBuf,
    /// `--json`.
    pub json: bool,
    /// Whether progress bars may be shown: standard error is a terminal, and neither
    /// `--json` nor `-q` was given.
    pub progress: bool,
    /// Standard output (buffered).
    pub out: &'a mut dyn Write,
}

/// Runs the command line.
///
/// # Errors
/// Whatever stopped the command (see [`Failure::exit_code`]).
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<Status, Failure> {
    if let Command::Completions { shell } = cli.command {
        if cli.json {
            return Err(Failure::Usage(
                "`completions` prints a shell script, which has no JSON form; run it without --json".into(),
            ));
        }
        let mut command = <Cli as clap::CommandFactory>::command();
        // Generated into memory first: clap_complete panics when its writer fails, and a
        // reader that closes early (`| head`) is not an error (main treats it as none).
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut command, "pipeline-deps", &mut script);
        out.write_all(&script)?;
        return Ok(Status::Ok);
    }
    // `--db`, else PIPELINE_DEPS_DB (clap reads it), else the per-user file.
    let db = match cli
        .db
        .or_else(pipeline_deps::default_manager::default_database_path)
    {
        Some(db) => db,
        None => {
            return Err(Failure::Usage(
                "no database file given and no default location (HOME is not set); pass --db FILE or set PIPELINE_DEPS_DB".into(),
            ));
        }
    };
    let db = full_path(db, DATABASE)?;
    if let Command::Copy { from, to } = &cli.command {
        // The document's `database` is the target; the source defaults to the database.
        let to = full_path(to.clone(), "--to")?;
        let _ = crate::json::DATABASE.set(to.clone());
        let (from, source) = match from {
            Some(from) => (full_path(from.clone(), "--from")?, "--from"),
            None => (db, "--db"),
        };
        let _ = crate::copy::OPTIONS.set(crate::copy::CopyOptions { source });
        let mut s = Session {
            db: to.clone(),
            json: cli.json,
            progress: false,
            out,
        };
        return crate::copy::copy(&mut s, &from, &to);
    }
    let _ = crate::json::DATABASE.set(db.clone());
    if let Some(context) = cli.command.context() {
        let _ = crate::json::CONTEXT.set(context.to_owned());
    }
    let mut s = Session {
        db,
        json: cli.json,
        progress: !cli.json && !cli.quiet && crate::stderr_is_terminal(),
        out,
    };
    match cli.command {
        Command::Contexts => inspect::contexts(&mut s),
        Command::Stats => {
            let manager = open_read(&s.db)?;
            inspect::stats(&mut s, &manager)
        }
        Command::Show { context, step } => inspect::show(&mut s, &context, step.as_deref()),
        Command::Types { context, step_type } => {
            inspect::types(&mut s, &context, step_type.as_deref())
        }
        Command::Export { context, output } => {
            transfer::export(&mut s, &context, output.as_deref())
        }
        Command::Import {
            context,
            file,
            replace,
            variant,
            allow_unknown_fields,
        } => transfer::import(
            &mut s,
            &context,
            &file,
            replace,
            variant,
            allow_unknown_fields,
        ),
        Command::Resolve {
            context,
            steps,
            explain,
            top,
            fail_on_unresolved,
        } => gate::resolve(&mut s, &context, &steps, explain, top, fail_on_unresolved),
        Command::Snapshot {
            context,
            steps,
            output,
        } => gate::snapshot(&mut s, &context, &steps, &output),
        Command::CheckSnapshot {
            context,
            file,
            strict_scores,
        } => gate::check_snapshot(&mut s, &context, &file, strict_scores),
        Command::Clear { context } => maintain::clear(&mut s, &context),
        Command::ClearAll { yes } => maintain::clear_all(&mut s, yes),
        Command::Check { repair } => maintain::check(&mut s, repair),
        Command::Compact => maintain::compact(&mut s),
        Command::Demo { specs } => transfer::demo(&mut s, specs.as_deref()),
        Command::Completions { .. } | Command::Copy { .. } => Ok(Status::Ok),
    }
}

// ---------------------------------------------------------------------------------------
// Opening

/// How messages name the database (`--db`, `PIPELINE_DEPS_DB` or the per-user file), beside
/// `--to` and `--from`.
const DATABASE: &str = "the database";

/// A database file's path as every message shows it ([`crate::output::canonical`]: absolute,
/// links and `..` resolved), which the database is opened by, so that the library's own
/// messages name the file that way too; a server URL as it is. A path written as a URL of
/// another scheme (a mistyped `postgress://`) is a usage error naming `given` (the option),
/// before anything is created for it.
fn full_path(db: PathBuf, given: &str) -> Result<PathBuf, Failure> {
    if server_url(&db).is_some() {
        return Ok(db);
    }
    if db.as_os_str() == pipeline_deps::default_manager::MEMORY {
        return Err(Failure::Usage(format!(
            "{given} :memory: names no file: the command-line tool works on a registry database file or server (write ./:memory: for a file of that name)"
        )));
    }
    if db.starts_with("~") {
        // Only the database can come from the environment; `--to` and `--from` cannot.
        let how = if given == DATABASE {
            "the path was quoted, or came from PIPELINE_DEPS_DB"
        } else {
            "the path was quoted"
        };
        return Err(Failure::Usage(format!(
            "{given} {} starts with `~`, which only a shell expands, and it did not ({how}): write the home directory out, as in $HOME/… (or ./~/… for a directory named ~)",
            db.display()
        )));
    }
    if let Err(pipeline_deps::Error::InvalidInput { detail, .. }) =
        pipeline_deps::storage::refuse_url_as_file(&db)
    {
        // The path is not repeated: a URL may hold a password. "the database is written as
        // a URL …", "--to looks like a PostgreSQL URL …".
        let message = match detail.strip_prefix("it ") {
            Some(rest) => format!("{given} {rest}"),
            None => format!("{given}: {detail}"),
        };
        return Err(Failure::Usage(message));
    }
    Ok(crate::output::canonical(&db))
}

/// The `postgres://` or `postgresql://` URL that `--db` names, if it names a server.
pub fn server_url(db: &Path) -> Option<&str> {
    db.to_str()
        .filter(|_| pipeline_deps::storage::is_postgres_url(db))
}

/// Connects to a registry on a PostgreSQL server. `read_only` creates nothing: a database
/// that holds no registry yet is [`Failure::NoDatabase`], as a missing file is; one whose
/// `pd_meta` table belongs to something else stays `NotARegistry` (a write would not create
/// a registry there either). The library says which in the refusal's detail
/// (`a_server_database_of_something_else_is_no_registry_with_a_hint_that_applies` in
/// `cli/tests/postgres_cli.rs` fails if its wording changes).
#[cfg(feature = "postgres")]
fn connect(url: &str, read_only: bool) -> Result<RegistryManager, Failure> {
    match RegistryManager::builder().read_only(read_only).connect(url) {
        Err(pipeline_deps::Error::NotARegistry { detail, .. })
            if read_only && detail.starts_with("the database holds no registry yet") =>
        {
            Err(Failure::NoDatabase(PathBuf::from(url)))
        }
        opened => Ok(opened?),
    }
}

/// This build has no PostgreSQL client: says how to get one.
#[cfg(not(feature = "postgres"))]
fn connect(_url: &str, _read_only: bool) -> Result<RegistryManager, Failure> {
    Err(Failure::Usage(
        "--db names a PostgreSQL server, but this pipeline-deps was built without PostgreSQL support; build it with `cargo build --release -p pipeline-deps-cli --features postgres`".into(),
    ))
}

/// Refuses a command that works on a database file only when `--db` names a server.
pub fn file_only(db: &Path, command: &str, instead: &str) -> Result<(), Failure> {
    match server_url(db) {
        Some(_) => Err(Failure::Usage(format!(
            "`{command}` applies only to a registry file, not to a PostgreSQL server; {instead}"
        ))),
        None => Ok(()),
    }
}

/// Opens an existing database read-only (works while an owner runs in single-writer mode).
/// A file whose last writer did not close it is read from a copy recovered in memory (the
/// file is not written); one line on standard error says so. A `postgres://` URL connects
/// to the server instead.
///
/// # Errors
/// [`Failure::NoDatabase`] when the file does not exist; the library's open errors.
pub fn open_read(db: &Path) -> Result<RegistryManager, Failure> {
    if let Some(url) = server_url(db) {
        return connect(url, true);
    }
    if holds_no_database(db) {
        return Err(Failure::NoDatabase(db.to_path_buf()));
    }
    READING.store(true, std::sync::atomic::Ordering::Relaxed);
    let manager = RegistryManager::open_read_only(db)?;
    if manager.recovered_from_copy() {
        note_recovered_copy(db);
    }
    Ok(manager)
}

/// Whether a command opened (or tried to open) the database read-only: an
/// [`pipeline_deps::Error::InUse`] then means the owner holds it exclusively.
pub static READING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether `db` is missing or an empty file (what `touch` or `mktemp` leaves): no registry
/// to read, though a write command creates one in it.
fn holds_no_database(db: &Path) -> bool {
    match std::fs::metadata(db) {
        Ok(metadata) => metadata.is_file() && metadata.len() == 0,
        // Only a path that is not there holds no database: one that cannot be looked at (a
        // symbolic link loop, a directory this user may not search, a file where a
        // directory should be) is reported as the error it is when opened, rather than as
        // missing, with advice to create it that would fail the same way.
        Err(error) => error.kind() == io::ErrorKind::NotFound,
    }
}

/// The one line saying that what is shown comes from a copy recovered in memory (a
/// `pipeline-deps/note/v1` document, kind `recovered_copy`, under `--json`).
pub fn note_recovered_copy(db: &Path) {
    let message = format!(
        "{} was not closed by its last writer; showing its last committed state, recovered in memory (the file is unchanged)",
        crate::output::path_text(db)
    );
    note("recovered_copy", &message);
}

/// One note on standard error: `pipeline-deps: note: …`, or under `--json` a
/// `pipeline-deps/note/v1` document of `kind`.
pub fn note(kind: &'static str, message: &str) {
    if crate::json::enabled() {
        crate::json::write_note(kind, message);
    } else {
        // Nothing sensible is left to do if standard error is gone.
        let _ = writeln!(io::stderr(), "pipeline-deps: note: {message}");
    }
}

/// Opens the database for writing in single-writer mode, so that read commands keep
/// working meanwhile. With `create`, a missing file (and its directory) is created, and a
/// server database without a registry gets one; without, both are
/// [`Failure::NoDatabase`].
pub fn open_write(db: &Path, create: bool) -> Result<RegistryManager, Failure> {
    if let Some(url) = server_url(db) {
        if !create {
            // As for a missing file: a database without a registry is not given one by a
            // command that only changes an existing registry (`clear`, `clear-all`).
            drop(connect(url, true)?);
        }
        return connect(url, false);
    }
    if holds_no_database(db) && !create {
        return Err(Failure::NoDatabase(db.to_path_buf()));
    }
    if !db.exists()
        && let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|source| Failure::Io {
            action: format!("creating the directory {}", dir.display()),
            file: Some(dir.to_path_buf()),
            source,
        })?;
    }
    Ok(RegistryManager::builder()
        .concurrency(Concurrency::SingleWriter)
        .open(db)?)
}

/// Opens a copy of the database in memory, taken while no writer has it open: for the
/// integrity check, which never writes the file.
pub fn open_copy(db: &Path) -> Result<RegistryManager, Failure> {
    if holds_no_database(db) {
        return Err(Failure::NoDatabase(db.to_path_buf()));
    }
    Ok(RegistryManager::builder().open_copy(db)?)
}

/// The registry of an existing context.
///
/// # Errors
/// [`Failure::Invalid`] naming the existing contexts when it does not exist.
pub fn existing_context(
    manager: &RegistryManager,
    context: &str,
) -> Result<SpecificationRegistry, Failure> {
    match manager.get_registry_if_exists(context)? {
        Some(registry) => Ok(registry),
        None => Err(unknown_context(manager, context)?),
    }
}

/// "its contexts are: …" (the first ten), or "it has no contexts": what a message about a
/// context that does not exist adds, so that a misspelt name shows.
pub fn contexts_there(manager: &RegistryManager) -> Result<String, Failure> {
    let names = manager.list_contexts()?;
    Ok(if names.is_empty() {
        "it has no contexts".to_owned()
    } else {
        format!("its contexts are: {}", list_preview(&names, 10))
    })
}

/// The failure for a context that does not exist, naming the ones that do.
pub fn unknown_context(manager: &RegistryManager, context: &str) -> Result<Failure, Failure> {
    let known = contexts_there(manager)?;
    Ok(missing(
        "unknown_context",
        context,
        None,
        format!(
            "context '{}' does not exist in {}; {known}",
            short(context),
            crate::output::path_text(&manager.path())
        ),
    ))
}

/// The failure for a step that is not registered in `context`, naming the ones that are.
pub fn unknown_step(
    registry: &SpecificationRegistry,
    context: &str,
    step: &str,
) -> Result<Failure, Failure> {
    let names = registry.list_step_names()?;
    Ok(missing(
        "unknown_step",
        context,
        Some(step),
        format!(
            "step '{}' is not registered in context '{}'; its steps are: {}",
            short(step),
            short(context),
            if names.is_empty() {
                "(none)".to_owned()
            } else {
                list_preview(&names, 10)
            }
        ),
    ))
}

/// A [`Failure::Missing`].
pub fn missing(kind: &'static str, context: &str, name: Option<&str>, message: String) -> Failure {
    Failure::Missing(Box::new(Missing {
        kind,
        context: context.to_owned(),
        name: name.map(str::to_owned),
        message,
    }))
}

/// `'a', 'b', 'c'` — at most `max` items (escaped, shortened and quoted), then `… (N more)`.
pub fn list_preview(items: &[String], max: usize) -> String {
    let mut text = items
        .iter()
        .take(max)
        // Quoted: a name may begin or end with a space.
        .map(|item| format!("'{}'", short(item)))
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > max {
        text.push_str(&format!(", … ({} more)", items.len() - max));
    }
    text
}

pub fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Writes to `path` what `write` writes to the writer it gets, through a temporary file in
/// the same directory that replaces `path` only once `write` succeeded and the file is on
/// disk, so that readers see the old file or the new one, never half of it; when `write`
/// fails (a full disk, a failed read of what it writes) the temporary file is removed and
/// `path` is untouched. A failure of the file itself is reported as writing `path`, whatever
/// `write` made of it. A symbolic link is written through (its target is replaced, not the
/// link); a path that is not a regular file (`/dev/null`, a FIFO, a terminal) is written to
/// directly, never replaced by a file. A path that is the database `db` itself (by any
/// name) is refused: the output would replace the registry.
pub fn write_atomically_with<T>(
    db: &Path,
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let same = |a: &Path, b: &Path| match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if server_url(db).is_none() && same(db, path) {
        return Err(Failure::Invalid(format!(
            "{} is the registry database itself; write the output to another file (nothing was written)",
            crate::output::path_text(path)
        )));
    }
    let io_error = |source| Failure::Io {
        action: format!("writing {}", crate::output::path_text(path)),
        file: Some(path.to_path_buf()),
        source,
    };
    let resolved;
    // An existing file keeps its mode, and one this process may not write is refused (the
    // replacement needs only the directory's permission); a new one gets the mode the
    // umask gives (0644 under the usual 022), not a temporary file's 0600.
    let mut keep = None;
    let path = match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_file() => {
            std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(io_error)?;
            keep = Some(metadata.permissions());
            resolved = std::fs::canonicalize(path).map_err(io_error)?;
            resolved.as_path()
        }
        Ok(_) => {
            let target = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(io_error)?;
            return write_watched(target, write, io_error);
        }
        // A new file; a symbolic link to a file not created yet is written as its target,
        // as shown, not replaced by the file.
        Err(_) => {
            resolved = crate::output::canonical(path);
            resolved.as_path()
        }
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(crate::interrupt::TEMP_PREFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    // Removed by Ctrl-C or a termination signal until it is renamed into place (or removed
    // on an error, when `file` drops, before `_pending`).
    let (_pending, mut file) = crate::interrupt::Pending::create(
        || builder.tempfile_in(dir),
        |file| file.path().to_path_buf(),
    )
    .map_err(|e| {
        // The temporary file's random name (which tempfile's message gives) means nothing
        // to the user: name the directory, and what is wrong with it.
        let cause = match std::fs::metadata(dir) {
            Err(missing) => missing.to_string(),
            Ok(_) => io::Error::from(e.kind()).to_string(),
        };
        io_error(io::Error::new(
            e.kind(),
            format!(
                "cannot create a file in directory {}: {cause}",
                crate::output::path_text(dir)
            ),
        ))
    })?;
    let written = write_watched(file.as_file_mut(), write, io_error)?;
    if let Some(permissions) = keep {
        file.as_file()
            .set_permissions(permissions)
            .map_err(io_error)?;
    }
    file.as_file().sync_all().map_err(io_error)?;
    file.persist(path).map_err(|e| io_error(e.error))?;
    Ok(written)
}

/// Whether `path` names the file this process's standard output is (`/dev/stdout`,
/// `/proc/self/fd/1`, the terminal, or the file or pipe standard output was redirected
/// to): a command writing there writes on standard output instead, and prints no report,
/// which would otherwise follow its output there (two documents under `--json`).
pub fn is_standard_output(path: &Path) -> bool {
    names_stream(path, Stream::Output)
}

/// Refuses (a usage error, before anything is opened or written) an output file that is
/// standard error and not standard output too (`-o /dev/stderr`, or the file or pipe
/// standard error was redirected to): standard error carries the command's messages, log
/// lines and progress bars (under `--json`, one JSON object a line), which a document
/// written there would be mixed with, and a file standard error was redirected to would be
/// replaced by the document, losing them. Standard error that is standard output too (the
/// same terminal, or `2>&1`) is standard output ([`is_standard_output`]).
pub fn refuse_standard_error(path: &Path) -> Result<(), Failure> {
    if path == Path::new("-") || !names_stream(path, Stream::Error) || is_standard_output(path) {
        return Ok(());
    }
    Err(Failure::Usage(format!(
        "-o {} is standard error, which carries this command's messages and logs; write the document to standard output (leave out -o, or -o /dev/stdout) or to a file (nothing was written)",
        crate::output::esc(&path.display().to_string())
    )))
}

/// One of this process's standard streams.
#[derive(Clone, Copy)]
enum Stream {
    Output,
    Error,
}

/// Whether `path` names the file `stream` is (the same device and inode).
fn names_stream(path: &Path, stream: Stream) -> bool {
    let Ok(named) = std::fs::metadata(path) else {
        return false;
    };
    same_file_as(&named, stream)
}

#[cfg(unix)]
fn same_file_as(named: &std::fs::Metadata, stream: Stream) -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let fd = match stream {
        Stream::Output => io::stdout().as_fd().try_clone_to_owned(),
        Stream::Error => io::stderr().as_fd().try_clone_to_owned(),
    };
    let Ok(fd) = fd else {
        return false;
    };
    match std::fs::File::from(fd).metadata() {
        Ok(stream) => stream.dev() == named.dev() && stream.ino() == named.ino(),
        Err(_) => false,
    }
}

#[cfg(not(unix))]
fn same_file_as(_named: &std::fs::Metadata, _stream: Stream) -> bool {
    false
}

/// Runs `write` on `file`; when it fails after the file did, the file's error (as
/// `io_error` makes it) is the failure.
pub fn write_watched<F: Write, T>(
    file: F,
    write: impl FnOnce(&mut dyn Write) -> Result<T, Failure>,
    io_error: impl FnOnce(io::Error) -> Failure,
) -> Result<T, Failure> {
    let mut watched = Watched { file, failed: None };
    write(&mut watched).map_err(|failure| match watched.failed.take() {
        Some(error) => io_error(error),
        None => failure,
    })
}

/// A file that keeps a copy of its first error, so that it can be reported as the file's
/// whatever the writer made of it.
struct Watched<F> {
    file: F,
    failed: Option<io::Error>,
}

impl<F> Watched<F> {
    fn note<T>(&mut self, result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result
            && e.kind() != io::ErrorKind::Interrupted
            && self.failed.is_none()
        {
            self.failed = Some(io::Error::new(e.kind(), e.to_string()));
        }
        result
    }
}

impl<F: Write> Write for Watched<F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = self.file.write(buf);
        self.note(result)
    }

    fn flush(&mut self) -> io::Result<()> {
        let result = self.file.flush();
        self.note(result)
    }
}
