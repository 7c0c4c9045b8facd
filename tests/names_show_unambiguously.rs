//! Invariant: error messages show two different names differently: every backslash a
//! message shows in a name begins an escape (`spec::escape_name_exact`), so a name holding
//! a backslash and an `n` cannot pass for one holding a newline; the error's fields keep
//! each name exact. Runs on a file or, with `PIPELINE_DEPS_TEST_BACKEND=postgres`, on
//! PostgreSQL.

mod common;

use common::{TestResult, manager, spec};
use pipeline_deps::Error;

#[test]
fn a_backslash_n_in_a_name_does_not_show_as_a_newline() -> TestResult {
    let manager = manager()?;
    let registry = manager.get_registry("ctx")?;
    let literal = "x\\ny";
    registry.register(literal, &spec("A"))?;
    let taken = registry
        .register(literal, &spec("A"))
        .err()
        .ok_or("a taken name was registered")?;
    assert!(
        matches!(&taken, Error::AlreadyRegistered { step, .. } if step == literal),
        "{taken:?}"
    );
    let refused = pipeline_deps::spec::validate_step_name("x\ny")
        .err()
        .ok_or("a name with a newline was accepted")?;
    let (taken, refused) = (taken.to_string(), refused.to_string());
    assert!(taken.contains("'x\\\\ny'"), "{taken}");
    assert!(refused.contains("'x\\ny'"), "{refused}");
    assert!(!taken.contains("'x\\ny'"), "{taken}");
    Ok(())
}
