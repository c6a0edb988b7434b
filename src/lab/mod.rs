//! The lab control plane's runtime parts: the platform event hub (and, beside it, the noise
//! runner and the scheduler).

pub mod events;
pub mod noise;
pub mod runner;
pub mod scheduler;
pub mod sinks;
