//! An input document that is not UTF-8 text is refused as invalid input naming that
//! document, as a JSON syntax error is: exit 4, `standard input` for `-` (never `-`), and
//! under `--json` the error's `file` (docs/json.md: "an error in an input document's
//! content names that document"), for `import`, `check-snapshot` and `demo --specs`.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{TestResult, command, run, s, temp};
use serde_json::Value;

const NOT_TEXT: &[u8] = b"{\"steps\": [\xff\xfe]}";

#[test]
fn input_that_is_not_utf8_is_invalid_input_naming_its_document() -> TestResult {
    let (dir, db) = temp()?;
    run(&db, &["demo"])?.expect(0)?;
    let file = dir.path().join("latin1.json");
    std::fs::write(&file, NOT_TEXT)?;
    let shown = s(&std::fs::canonicalize(&file)?)?.to_owned();

    for args in [
        vec!["import", "x", s(&file)?],
        vec!["check-snapshot", "unit_tests", s(&file)?],
        vec!["demo", "--specs", s(&file)?],
    ] {
        let people = run(&db, &args)?.expect(4)?;
        assert!(
            people.stderr.contains(&format!("invalid input in {shown}"))
                && people.stderr.contains("not UTF-8 text"),
            "{args:?}: {people:?}"
        );
        let mut json_args = args.clone();
        json_args.push("--json");
        let error: Value = serde_json::from_str(&run(&db, &json_args)?.expect(4)?.stderr)?;
        assert_eq!(error["kind"], "invalid_input", "{args:?}: {error}");
        assert_eq!(error["file"], shown.as_str(), "{args:?}: {error}");
    }

    // From standard input: named so, and `-` in JSON.
    for json in [false, true] {
        let mut c = command(&db);
        c.args(["import", "x", "-"]).stdin(Stdio::piped());
        if json {
            c.arg("--json");
        }
        let mut child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
        child.stdin.take().ok_or("no stdin")?.write_all(NOT_TEXT)?;
        let out = child.wait_with_output()?;
        let stderr = String::from_utf8(out.stderr)?;
        assert_eq!(out.status.code(), Some(4), "{stderr}");
        if json {
            let error: Value = serde_json::from_str(&stderr)?;
            assert_eq!(error["file"], "-", "{error}");
            assert!(
                error["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("standard input")),
                "{error}"
            );
        } else {
            assert!(
                stderr.starts_with("pipeline-deps: error: invalid input in standard input"),
                "{stderr}"
            );
        }
    }
    // Nothing was imported.
    let contexts = run(&db, &["contexts", "--json"])?.expect(0)?.json()?;
    assert_eq!(contexts["contexts"].as_array().map(Vec::len), Some(3));
    Ok(())
}
