//! Storage rows and the queries that read and write them. Rows are the database's shape (minor units,
//! unix milliseconds); handlers turn them into wire types. Every query takes the seller id it is scoped to.

pub mod deliveries;
pub mod endpoints;
pub mod invoices;
pub mod outbox;
pub mod payments;
