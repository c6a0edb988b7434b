//! Integration tests: the real server on a loopback port, a temp SQLite file (or, with
//! LABGATE_TEST_POSTGRES, a PostgreSQL database of its own), reqwest.

mod helpers;

mod accounts;
mod browser;
mod cli;
mod console;
mod credentials;
mod forward;
mod foundation;
mod jwt;
mod keys;
mod lab;
mod leaks;
mod nodes;
mod observability;
mod outgoing;
mod pages;
mod passkeys;
mod peers;
mod process;
mod properties;
mod protection;
mod reach;
mod review;
mod sessions;
mod signin;
mod storage;
mod usecases;
