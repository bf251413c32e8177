//! The logic the components share: plain Rust, tested natively.

pub mod api;
