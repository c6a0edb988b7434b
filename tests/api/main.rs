//! Integration tests: the real server on a loopback port, a temp SQLite file, reqwest.

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
