//! Running the service well: metrics, and keeping the database from growing without end.

pub mod metrics;
pub mod retention;
