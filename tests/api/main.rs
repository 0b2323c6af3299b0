//! Integration tests: the real server on a random port, a fresh data directory per test,
//! HTTP from the outside. Set `TEST_LOG=1` to see the server's logs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails loudly on the first broken expectation"
)]

mod helpers;

mod analytics;
mod audit;
mod auth;
mod browser;
mod cli;
mod clients;
mod consent;
mod demo;
mod dpia;
mod errors;
mod gateway;
mod ingest;
mod login;
mod oidc;
mod operations;
mod policies;
mod purposes;
mod retention;
mod rights;
mod scaling;
mod web;
