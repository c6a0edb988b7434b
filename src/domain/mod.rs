//! The rules of labgate, free of HTTP and SQL.

pub mod api_key;
pub mod capability;
pub mod clock;
pub mod cron;
pub mod crypto;
pub mod duration;
pub mod error;
pub mod ids;
pub mod jwt;
pub mod net;
pub mod password;
pub mod reach;
pub mod settings;
pub mod time;
pub mod token;
pub mod totp;
