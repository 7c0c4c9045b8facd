//! Mean time per iteration of every benchmark of the run, to print ratios between them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

thread_local! {
    static TIMES: RefCell<HashMap<String, (Duration, u64)>> = RefCell::new(HashMap::new());
}

/// Adds `iters` iterations that took `total`.
pub fn record(name: &str, total: Duration, iters: u64) {
    TIMES.with(|t| {
        let mut t = t.borrow_mut();
        let entry = t.entry(name.to_owned()).or_default();
        entry.0 += total;
        entry.1 += iters;
    });
}

/// Mean time per iteration of `name`, if it ran.
pub fn mean(name: &str) -> Option<f64> {
    TIMES.with(|t| {
        t.borrow()
            .get(name)
            .filter(|(_, n)| *n > 0)
            .map(|(d, n)| d.as_secs_f64() / *n as f64)
    })
}

/// Prints `name`'s mean and its ratio to each baseline that ran.
pub fn report(name: &str, baselines: &[&str]) {
    let Some(ours) = mean(name) else { return };
    let ratios: Vec<String> = baselines
        .iter()
        .filter_map(|b| mean(b).map(|m| format!("{:.2}x {b}", ours / m)))
        .collect();
    println!(
        "RATIO {name}: {:.1} µs per iteration = {}",
        ours * 1e6,
        ratios.join(", ")
    );
}
