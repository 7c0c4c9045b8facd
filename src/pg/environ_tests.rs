//! What the environment and the password file add to a PostgreSQL URL (`super`): only what
//! the URL leaves out, with libpq's precedence, and the password file read as libpq reads it.

use std::path::Path;

use postgres::Config;
use postgres::config::Host;
use proptest::prelude::*;

use super::{Environment, fill, lookup, password_from_file};
use crate::error::Error;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The client's configuration of `url` once the environment `vars` filled it.
fn filled(url: &str, vars: &[(&str, &str)]) -> Result<Config, Box<dyn std::error::Error>> {
    let filled = fill(url, &Environment::of(vars, None))?;
    let (url, _) = crate::pg::tls::take_options(&filled.url)?;
    Ok(url.parse()?)
}

#[test]
fn the_environment_fills_only_what_the_url_leaves_out() -> TestResult {
    let env = [
        ("PGHOST", "elsewhere"),
        ("PGPORT", "5439"),
        ("PGUSER", "other"),
        ("PGDATABASE", "otherdb"),
        ("PGAPPNAME", "from-env"),
        ("PGCONNECT_TIMEOUT", "9"),
        ("PGOPTIONS", "-c statement_timeout=5s"),
    ];
    let config = filled("postgres://me@db.example/reg?connect_timeout=3", &env)?;
    assert_eq!(config.get_hosts(), [Host::Tcp("db.example".into())]);
    assert_eq!(config.get_ports(), [5439]);
    assert_eq!(config.get_user(), Some("me"));
    assert_eq!(config.get_dbname(), Some("reg"));
    assert_eq!(config.get_application_name(), Some("from-env"));
    assert_eq!(
        config.get_connect_timeout(),
        Some(&std::time::Duration::from_secs(3))
    );
    assert_eq!(config.get_options(), Some("-c statement_timeout=5s"));
    // PGPORT gives a single host written without a port its port; several hosts written
    // without ports each get 5432, as in libpq; a list for one host is refused.
    let config = filled("postgres://me@a,b/reg", &[("PGPORT", "5501")])?;
    assert_eq!(config.get_ports(), [5432, 5432]);
    let env = Environment::of(&[("PGPORT", "1,2")], None);
    assert!(matches!(
        fill("postgres://me@a/reg", &env),
        Err(Error::InvalidInput { .. })
    ));
    // Hosts given as query parameters take the port as a parameter too.
    let config = filled("postgres:///reg?host=%2Ftmp,b", &[("PGPORT", "5504")])?;
    assert_eq!(ports(&config), [5504, 5504]);
    // A URL giving nothing takes everything, host lists included.
    let config = filled(
        "postgres://",
        &[("PGHOST", "/tmp/a dir,db2"), ("PGPORT", "5433")],
    )?;
    assert_eq!(
        config.get_hosts(),
        [Host::Unix("/tmp/a dir".into()), Host::Tcp("db2".into())]
    );
    assert_eq!(config.get_ports(), [5433]);
    Ok(())
}

#[test]
fn a_password_in_the_url_wins_over_pgpassword() -> TestResult {
    let config = filled("postgres://me:mine@h/db", &[("PGPASSWORD", "env")])?;
    assert_eq!(config.get_password(), Some(&b"mine"[..]));
    let config = filled("postgres://me@h/db?password=q", &[("PGPASSWORD", "env")])?;
    assert_eq!(config.get_password(), Some(&b"q"[..]));
    let config = filled("postgres://me@h/db", &[("PGPASSWORD", "a b&c=d")])?;
    assert_eq!(config.get_password(), Some(&b"a b&c=d"[..]));
    Ok(())
}

#[test]
fn tls_settings_come_from_the_environment_unless_the_url_gives_them() -> TestResult {
    let env = Environment::of(&[("PGSSLMODE", "disable")], None);
    let from_env = fill("postgres://u@h/db", &env)?;
    assert!(
        from_env.url.ends_with("?sslmode=disable"),
        "{}",
        from_env.url
    );
    let own = fill("postgres://u@h/db?sslmode=require", &env)?;
    assert!(own.url.ends_with("?sslmode=require"), "{}", own.url);
    Ok(())
}

#[test]
fn empty_variables_count_as_unset() -> TestResult {
    let config = filled("postgres://u@h/db", &[("PGPORT", ""), ("PGAPPNAME", "")])?;
    assert_eq!(config.get_ports(), [5432]);
    assert_eq!(config.get_application_name(), None);
    Ok(())
}

#[test]
fn a_variable_the_client_refuses_is_invalid_input_naming_it() -> TestResult {
    for (variable, value, own) in [
        ("PGSSLMODE", "sometimes", "sslmode=disable"),
        ("PGPORT", "fifty", "port=5"),
        ("PGCONNECT_TIMEOUT", "soon", "connect_timeout=5"),
        (
            "PGTARGETSESSIONATTRS",
            "whatever",
            "target_session_attrs=any",
        ),
    ] {
        let env = Environment::of(&[(variable, value)], None);
        match fill("postgres://u@h/db", &env) {
            Err(Error::InvalidInput { what, .. }) => {
                assert_eq!(what, format!("the environment variable {variable}"));
            }
            other => return Err(format!("{variable}={value}: {other:?}").into()),
        }
        // A URL that gives the parameter itself never reads the variable.
        let own = format!("postgres://u@h/db?{own}");
        fill(&own, &env)?;
    }
    Ok(())
}

#[test]
fn a_value_the_client_refuses_in_the_url_is_named_in_the_message() -> TestResult {
    for (url, named) in [
        ("postgres://u@h/db?connect_timeout=abc", "`connect_timeout`"),
        ("postgres://u@h:fifty/db", "`port`"),
        ("postgres://u@h/db?no_such_option=1", "`no_such_option`"),
    ] {
        match crate::pg::target(url, &Environment::of(&[], None)) {
            Err(error @ Error::InvalidInput { .. }) => {
                let shown = error.to_string();
                assert!(shown.contains(named), "{named} in {shown}");
                assert!(!shown.contains("invalid connection string"), "{shown}");
            }
            Err(other) => return Err(format!("{url}: not invalid input: {other:?}").into()),
            Ok(_) => return Err(format!("{url}: accepted").into()),
        }
    }
    Ok(())
}

#[test]
fn the_label_shows_each_host_once_wherever_it_came_from() -> TestResult {
    for (url, vars, shown) in [
        (
            "postgres:///reg",
            vec![("PGHOST", "/tmp/s"), ("PGPORT", "5433"), ("PGUSER", "me")],
            "postgres://me@%2Ftmp%2Fs:5433/reg",
        ),
        // Written in the query by the user: shown in the authority, not twice.
        (
            "postgres:///reg?host=%2Ftmp&user=u&application_name=x",
            vec![],
            "postgres://u@%2Ftmp/reg?application_name=x",
        ),
        (
            "postgres://u@h/reg?passfile=%2Fsecrets%2Fpgpass",
            vec![("PGAPPNAME", "ci")],
            "postgres://u@h:5432/reg?application_name=ci&passfile=%2Fsecrets%2Fpgpass",
        ),
    ] {
        let env = Environment::of(&vars, None);
        let store = crate::pg::target(url, &env)?.label;
        assert_eq!(store, shown);
        let again = filled(&store, &[])?;
        let config = filled(url, &vars)?;
        assert_eq!(again.get_hosts(), config.get_hosts(), "{store}");
        assert_eq!(ports(&again), ports(&config), "{store}");
        assert_eq!(again.get_user(), config.get_user(), "{store}");
    }
    Ok(())
}

/// The port each host is reached on.
fn ports(config: &Config) -> Vec<u16> {
    let ports = config.get_ports();
    (0..config.get_hosts().len())
        .map(|i| ports.get(i).or(ports.first()).copied().unwrap_or(5432))
        .collect()
}

#[test]
fn password_file_lines_match_as_libpq_matches_them() {
    let text = "\
# a comment:*:*:*:no
too:few:fields
db.example:5432:reg:ci:first
db.example:5432:reg:ci:second
*:5433:*:ci:any host\r
we\\:ird:5432:d\\\\b:u:p\\:a\\\\ss:word
/tmp/sock:5432:reg:ci:socket
";
    let find = |wanted: [&str; 4]| lookup(text, wanted);
    assert_eq!(
        find(["db.example", "5432", "reg", "ci"]).as_deref(),
        Some("first")
    );
    assert_eq!(
        find(["other", "5433", "x", "ci"]).as_deref(),
        Some("any host")
    );
    assert_eq!(find(["other", "5433", "x", "cj"]), None);
    // The password ends at an unescaped `:`, as in libpq (a field after it is ignored).
    assert_eq!(
        find(["we:ird", "5432", "d\\b", "u"]).as_deref(),
        Some("p:a\\ss")
    );
    assert_eq!(
        find(["/tmp/sock", "5432", "reg", "ci"]).as_deref(),
        Some("socket")
    );
    assert_eq!(find(["too", "few", "fields", ""]), None);
    assert_eq!(find(["# a comment", "*", "*", "*"]), None);
}

/// Writes `text` as a password file with permissions `mode` and returns its path.
#[cfg(unix)]
fn passfile(dir: &Path, text: &str, mode: u32) -> Result<String, Box<dyn std::error::Error>> {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("pgpass");
    std::fs::write(&path, text)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
    Ok(path.to_string_lossy().into_owned())
}

#[cfg(unix)]
#[test]
fn a_password_file_others_can_read_is_ignored() -> TestResult {
    let dir = tempfile::tempdir()?;
    let text = "h:5432:db:u:from-file\nlocalhost:5432:db:u:via-socket\n";
    for (mode, expected) in [
        (0o600, Some("from-file")),
        (0o400, Some("from-file")),
        (0o640, None),
        (0o604, None),
    ] {
        let path = passfile(dir.path(), text, mode)?;
        let mut config: Config = "postgres://u@h/db".parse()?;
        password_from_file(&mut config, Some(&path));
        assert_eq!(
            config.get_password(),
            expected.map(str::as_bytes),
            "mode {mode:o}"
        );
    }
    let path = passfile(dir.path(), text, 0o600)?;
    // The usual default socket directories go by `localhost`; the file's first match over
    // the hosts, in order, is used; a password already given is kept.
    let mut config: Config = "postgres://u@%2Fvar%2Frun%2Fpostgresql,h/db".parse()?;
    password_from_file(&mut config, Some(&path));
    assert_eq!(config.get_password(), Some(&b"via-socket"[..]));
    let mut config: Config = "postgres://u:given@h/db".parse()?;
    password_from_file(&mut config, Some(&path));
    assert_eq!(config.get_password(), Some(&b"given"[..]));
    // A directory, or a missing file, gives nothing.
    for path in [dir.path().to_path_buf(), dir.path().join("missing")] {
        let mut config: Config = "postgres://u@h/db".parse()?;
        password_from_file(&mut config, Some(&path.to_string_lossy()));
        assert_eq!(config.get_password(), None);
    }
    Ok(())
}

#[test]
fn the_password_file_is_home_s_pgpass_unless_the_url_or_pgpassfile_names_one() -> TestResult {
    let home = Path::new("/home/someone");
    let default = fill("postgres://u@h/db", &Environment::of(&[], Some(home)))?;
    assert_eq!(default.passfile.as_deref(), Some("/home/someone/.pgpass"));
    let env = Environment::of(&[("PGPASSFILE", "/etc/pg/pass")], Some(home));
    let named = fill("postgres://u@h/db", &env)?;
    assert_eq!(named.passfile.as_deref(), Some("/etc/pg/pass"));
    let own = fill(
        "postgres://u@h/db?passfile=%2Fmine&application_name=a",
        &env,
    )?;
    assert_eq!(own.passfile.as_deref(), Some("/mine"));
    assert_eq!(own.url, "postgres://u@h/db?application_name=a");
    Ok(())
}

/// A password-file field as written: `:` and `\` escaped.
fn escape(field: &str) -> String {
    field.replace('\\', "\\\\").replace(':', "\\:")
}

proptest! {
    /// Whatever its fields hold, a line written with escapes is found for exactly its own
    /// host, port, database and user, and gives its password back.
    #[test]
    fn every_escaped_line_is_found_for_its_own_fields_only(
        fields in proptest::array::uniform4("[a-z:\\\\* /.]{1,8}"),
        password in "[a-zA-Z0-9:\\\\* ]{0,12}",
        other in "[a-z]{1,8}",
    ) {
        let line = format!(
            "{}:{}:{}:{}:{}\n",
            escape(&fields[0]),
            escape(&fields[1]),
            escape(&fields[2]),
            escape(&fields[3]),
            escape(&password)
        );
        let wanted = [fields[0].as_str(), &fields[1], &fields[2], &fields[3]];
        // A field that is exactly `*` matches anything, as in libpq.
        prop_assume!(!fields.iter().any(|f| f == "*"));
        prop_assert_eq!(lookup(&line, wanted), Some(password.clone()));
        for i in 0..4 {
            let mut wrong = wanted;
            let changed = format!("{}{other}", fields[i]);
            wrong[i] = &changed;
            prop_assert_eq!(lookup(&line, wrong), None);
        }
    }
}

/// The [`Error::InvalidInput`] detail of connecting to `url` in environment `vars`, or the
/// label when it is accepted (`Ok`).
fn target_of(url: &str, vars: &[(&str, &str)]) -> Result<String, String> {
    match crate::pg::target(url, &Environment::of(vars, None)) {
        Ok(target) => Ok(target.label),
        Err(Error::InvalidInput { what, detail, .. }) => Err(format!("{what}: {detail}")),
        Err(other) => Err(format!("not invalid input: {other:?}")),
    }
}

#[test]
fn a_password_holding_url_characters_is_read_whole_and_never_shown() -> TestResult {
    let label = target_of("postgres://qm:se?c#ret@h/db?sslmode=disable", &[])?;
    assert_eq!(label, "postgres://qm@h:5432/db?sslmode=disable");
    let config = filled("postgres://qm:se?c#ret@h/db?sslmode=disable", &[])?;
    assert_eq!(config.get_password(), Some(&b"se?c#ret"[..]));
    // An `@` that may end a password or belong elsewhere: refused, asking for %40.
    for url in [
        "postgres://u:p@ss@h/db",
        "postgres://u:se/cret@h/db",
        "postgres://u:pw@h/db?application_name=a@b",
        "postgres://h:5432/db?application_name=a@b",
    ] {
        let refused = target_of(url, &[]).err().unwrap_or_default();
        assert!(refused.contains("%40"), "{url}: {refused}");
        assert!(
            !refused.contains("p@ss") && !refused.contains("pw@"),
            "{refused}"
        );
    }
    // An `@` in a parameter of a URL without a password is no user part: the client gets
    // it as %40 (it would end the user part there) and connects where libpq would.
    let label = target_of("postgres://u@h/db?application_name=a@b", &[])?;
    assert_eq!(label, "postgres://u@h:5432/db?application_name=a%40b");
    let config = filled("postgres://h/db?user=me&application_name=a@b", &[])?;
    assert_eq!(config.get_hosts(), [Host::Tcp("h".into())]);
    assert_eq!(config.get_user(), Some("me"));
    assert_eq!(config.get_application_name(), Some("a@b"));
    Ok(())
}

#[test]
fn hosts_and_ports_are_read_as_libpq_reads_them_or_refused() -> TestResult {
    // A port parameter gives the authority's hosts their port (the client would add it).
    let config = filled("postgres://h/db?port=5433", &[])?;
    assert_eq!(config.get_ports(), [5433]);
    // Ports without hosts name no host: PGHOST gives it, else the URL is refused.
    let config = filled("postgres://u@:5434/db", &[("PGHOST", "/tmp")])?;
    assert_eq!(config.get_hosts(), [Host::Unix("/tmp".into())]);
    assert_eq!(config.get_ports(), [5434]);
    let refused = target_of("postgres://u@:5434/db", &[])
        .err()
        .unwrap_or_default();
    assert!(refused.contains("names no host"), "{refused}");
    for (url, vars, why) in [
        ("postgres://h/db?host=%2Ftmp", vec![], "in one place"),
        ("postgres://h:1/db?port=2", vec![], "in one place"),
        ("postgres://h,,/db", vec![], "empty entry"),
        (
            "postgres:///db?host=a,b&port=1,2,3",
            vec![],
            "2 hosts and 3 ports",
        ),
        (
            "postgres:///db",
            vec![("PGHOST", "a,b"), ("PGPORT", "1,2,3")],
            "2 hosts and 3 ports",
        ),
        (
            "postgres:///db?hostaddr=127.0.0.1",
            vec![],
            "without a host name",
        ),
    ] {
        let refused = target_of(url, &vars).err().unwrap_or_default();
        assert!(refused.contains(why), "{url}: {refused}");
    }
    // A variable's part in a refusal is named.
    let refused = target_of("postgres:///db", &[("PGHOST", "a,b"), ("PGPORT", "1,2,3")])
        .err()
        .unwrap_or_default();
    assert!(
        refused.contains("with PGHOST, PGPORT from the environment"),
        "{refused}"
    );
    // PGHOSTADDR gives the URL's host its address.
    let config = filled("postgres://db.invalid/db", &[("PGHOSTADDR", "127.0.0.1")])?;
    assert_eq!(config.get_hostaddrs().len(), 1);
    Ok(())
}

#[test]
fn an_empty_password_counts_as_none() -> TestResult {
    let config = filled("postgres://u:@h/db", &[("PGPASSWORD", "from-env")])?;
    assert_eq!(config.get_password(), Some(&b"from-env"[..]));
    let config = filled("postgres://u@h/db?password=", &[("PGPASSWORD", "from-env")])?;
    assert_eq!(config.get_password(), Some(&b"from-env"[..]));
    Ok(())
}

#[cfg(unix)]
#[test]
fn the_password_file_is_read_as_libpq_reads_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    // A `\` that ends the password is kept.
    let path = passfile(dir.path(), "*:*:*:u:abc\\\n", 0o600)?;
    let mut config: Config = "postgres://u:@h/db".parse()?;
    assert_eq!(password_from_file(&mut config, Some(&path)), None);
    assert_eq!(config.get_password(), Some(&b"abc\\"[..]));
    // A file others can read gives a note for the refusal's message.
    let path = passfile(dir.path(), "*:*:*:u:abc\n", 0o644)?;
    let mut config: Config = "postgres://u@h/db".parse()?;
    let note = password_from_file(&mut config, Some(&path)).unwrap_or_default();
    assert!(
        note.contains("group or world access") && note.contains(&path),
        "{note}"
    );
    Ok(())
}

#[test]
fn an_empty_user_counts_as_none_as_in_libpq() -> TestResult {
    let config = filled("postgres://:pw@db.example/reg", &[("PGUSER", "alice")])?;
    assert_eq!(config.get_user(), Some("alice"));
    Ok(())
}
