//! labgate: the access layer and control API of a self-hosted security-lab appliance.

pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod lab;
pub mod mail;
pub mod metrics;
pub mod store;
pub mod tls;
