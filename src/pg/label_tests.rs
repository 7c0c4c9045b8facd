//! The server's label in messages (`super::label`): the URL without its password, which
//! pastes back as `--db` and connects to the same place the same way.

use super::TestResult;

#[test]
fn the_label_is_the_url_without_its_password_and_connects_to_the_same_place() -> TestResult {
    for (url, shown) in [
        (
            "postgres://me:secret@%2Fvar%2Frun%2Fpostgresql:5433/reg",
            "postgres://me@%2Fvar%2Frun%2Fpostgresql:5433/reg",
        ),
        (
            "postgresql://ci@db.internal/registry?password=x&connect_timeout=3",
            "postgres://ci@db.internal:5432/registry?connect_timeout=3",
        ),
        (
            "postgres://me@[::1]:5433,db2:5434/reg?pass%77ord=x&sslnegotiation=direct",
            "postgres://me@[::1]:5433,db2:5434/reg?sslnegotiation=direct",
        ),
        (
            "postgres://a%40b@localhost:5432/my%20db",
            "postgres://a%40b@localhost:5432/my%20db",
        ),
    ] {
        let config: postgres::Config = url.parse()?;
        let query = url.split_once('?').map_or("", |(_, query)| query);
        let label = super::super::label(&config, query, "");
        assert_eq!(label, shown);
        let again: postgres::Config = label.parse()?;
        assert_eq!(again.get_hosts(), config.get_hosts(), "{label}");
        assert_eq!(again.get_ports(), config.get_ports(), "{label}");
        assert_eq!(again.get_user(), config.get_user(), "{label}");
        assert_eq!(again.get_dbname(), config.get_dbname(), "{label}");
    }
    Ok(())
}

/// Percent-encodes every byte but letters and digits (what a user may write in a URL).
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

proptest::proptest! {
    /// Whatever the user, hosts (names, IPv6 addresses, socket directories), ports, database
    /// and parameters, the label never shows the password and connects to the same place
    /// the same way.
    #[test]
    fn every_label_hides_the_password_and_parses_back_to_the_same_server(
        user in "[a-zA-Z0-9 @:/%?&=_.-]{1,12}",
        database in "[a-zA-Z0-9 @:/%?&=_.-]{1,12}",
        hosts in proptest::collection::vec(
            proptest::prop_oneof![
                "[a-z][a-z0-9-]{0,8}(\\.[a-z]{2,4})?",
                proptest::strategy::Just("::1".to_owned()),
                proptest::strategy::Just("fe80::12:3".to_owned()),
                "/tmp/[a-z ]{1,8}",
            ],
            1..4,
        ),
        ports in proptest::collection::vec(1u16..=65535, 1..4),
        timeout in proptest::option::of(1u32..100),
        application in proptest::option::of("[a-zA-Z0-9 _-]{1,10}"),
    ) {
        let ports = &ports[..ports.len().min(hosts.len())];
        let hosts: Vec<String> = hosts
            .iter()
            .enumerate()
            .map(|(i, host)| {
                let host = if host.starts_with('/') {
                    url_encode(host)
                } else if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host.clone()
                };
                // One port for all hosts, or one per host.
                match (ports.len() == 1, ports.get(i)) {
                    (true, _) if i > 0 => host,
                    (_, Some(port)) => format!("{host}:{port}"),
                    (_, None) => host,
                }
            })
            .collect();
        let mut params = vec![format!("password={}", url_encode("SECRET pw"))];
        if let Some(timeout) = timeout {
            params.push(format!("connect_timeout={timeout}"));
        }
        if let Some(application) = &application {
            params.push(format!("application_name={}", url_encode(application)));
        }
        let url = format!(
            "postgres://{}:{}@{}/{}?{}",
            url_encode(&user),
            url_encode("OTHER secret"),
            hosts.join(","),
            url_encode(&database),
            params.join("&")
        );
        let Ok(config) = url.parse::<postgres::Config>() else {
            // Not a URL the client accepts (a port list it refuses): nothing to label.
            return Ok(());
        };
        let query = url.split_once('?').map_or("", |(_, query)| query);
        let label = super::super::label(&config, query, "");
        proptest::prop_assert!(!label.contains("SECRET") && !label.contains("OTHER"), "{}", label);
        let again: postgres::Config = label
            .parse()
            .map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{label}: {e}")))?;
        proptest::prop_assert_eq!(again.get_hosts(), config.get_hosts(), "{}", label);
        proptest::prop_assert_eq!(again.get_ports(), config.get_ports(), "{}", label);
        proptest::prop_assert_eq!(again.get_user(), config.get_user(), "{}", label);
        proptest::prop_assert_eq!(again.get_dbname(), config.get_dbname(), "{}", label);
        proptest::prop_assert_eq!(again.get_connect_timeout(), config.get_connect_timeout());
        proptest::prop_assert_eq!(again.get_application_name(), config.get_application_name());
        proptest::prop_assert_eq!(again.get_password(), None);
    }
}
