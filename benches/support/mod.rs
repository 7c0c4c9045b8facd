//! Baselines the registry benchmarks compare against: SQLite as a user would set it up for
//! the same job, and a tally that prints each benchmark's ratio to its baselines.

pub mod sqlite;
pub mod tally;
