//! `tranche-api`: the actix-web server behind Tranche. Sellers manage customers, terms, invoices and
//! checkout links with a secret key; buyers read and pay an invoice with a checkout token; payments go
//! through a [`gateway::Gateway`] and are finalized exactly once ([`payment_flow`]).
//!
//! Run it with `cargo run -p tranche-api -- serve`; test it with `cargo test -p tranche-api`
//! (set `TRANCHE_TEST_POSTGRES_URL` to also run every test on PostgreSQL).

pub mod account_auth;
pub mod account_flow;
pub mod auth;
pub mod cli;
pub mod client_ip;
pub mod config;
pub mod cors;
pub mod db;
pub mod demo;
pub mod demo_receiver;
pub mod erp;
pub mod error;
pub mod gateway;
pub mod logging;
pub mod masking;
pub mod metrics;
pub mod openapi;
pub mod outbound;
pub mod outbox;
pub mod payment_flow;
pub mod production;
pub mod rate_limit;
pub mod reconciler;
pub mod refund_flow;
pub mod request_id;
pub mod routes;
pub mod scheduler;
pub mod secret_box;
pub mod seller_site;
pub mod startup;
pub mod state;
pub mod store;
pub mod tokens;
pub mod widget_files;
