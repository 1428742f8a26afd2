//! The daemon (`flotilla serve`): poll Git, reconcile every cluster in
//! rollout waves, self-heal drift, and serve status over HTTP.

pub mod agent;
pub mod config;
pub mod ha;
pub mod http;
pub mod metrics;
pub mod pool;
pub mod reconcile;
pub mod rollout;
pub mod state;
mod worker;
