//! The rules of labgate, free of HTTP and SQL.

pub mod capability;
pub mod cron;
pub mod crypto;
pub mod duration;
pub mod jwt;
pub mod net;
pub mod password;
pub mod settings;
pub mod time;
pub mod token;
pub mod totp;
