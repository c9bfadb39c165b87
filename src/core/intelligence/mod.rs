//! Intelligence: retrieval over the project's own history, then numbers from what was
//! retrieved (DESIGN.md, "Intelligence").
//!
//! Everything here is pure (data in, result out) except [`llm`], the only module that
//! talks to the network. The numbers never depend on the language model: [`reasoning`]
//! only turns a finished [`recommend::Recommendation`] and its [`reasoning::Evidence`]
//! into words.
//!
//! - [`features`]: the market-state vector of a candle, its normaliser, its forward outcome.
//! - [`knn`]: exact nearest neighbours over flat `f32` snapshots (same symbol first).
//! - [`recommend`]: action, calibrated confidence, risk, entries and stop from neighbours.
//! - [`calibrate`]: beta calibration of the neighbour scores on resolved past decisions.
//! - [`legacy`]: indicator rules, used when knowledge is too thin.
//! - [`sizing`]: `fixed-fraction` and `risk` position sizes.
//! - [`portfolio`]: `legacy`, `risk-parity`, `min-variance` and `rag` target weights.
//! - [`evaluate`]: walk-forward evaluation against legacy rules and buy-and-hold.
//! - [`llm`], [`reasoning`]: the OpenAI-compatible client and the template text.

pub mod calibrate;
pub mod evaluate;
pub mod features;
pub mod knn;
pub mod legacy;
pub mod llm;
pub mod portfolio;
pub mod reasoning;
pub mod recommend;
pub mod sizing;

#[cfg(test)]
pub(crate) mod testkit;
