//! Consentry: a privacy-governance and consent broker for learning analytics.
//!
//! The binary in `main.rs` only parses the command line; everything it runs lives
//! here so that the integration tests can build the same application in-process.
//! `ARCHITECTURE.md` maps the modules.

pub mod analytics;
pub mod audit;
pub mod auth;
pub mod catalogue;
pub mod cli;
pub mod clients;
pub mod config;
pub mod consent;
pub mod datadir;
pub mod db;
pub mod demo;
pub mod directory;
pub mod dpia;
pub mod gateway;
pub mod ingest;
pub mod policy;
pub mod problem;
pub mod purposes;
pub mod records;
pub mod retention;
pub mod rights;
pub mod server;
pub mod startup;
pub mod timestamp;
pub mod web;
