//! The lab control plane's runtime parts: the noise generators and sinks, the background
//! runner and the scheduler. It works through `app::App` and knows nothing of HTTP.

pub mod noise;
pub mod runner;
pub mod scheduler;
pub mod sinks;
