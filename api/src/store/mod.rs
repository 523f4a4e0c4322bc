//! Storage rows and the queries that read and write them. Rows are the database's shape (minor units,
//! unix milliseconds); handlers turn them into wire types. Every query takes the seller id it is scoped to.

pub mod customers;
pub mod invoices;
pub mod links;
pub mod payments;
pub mod sellers;
pub mod signing_keys;
pub mod terms;
