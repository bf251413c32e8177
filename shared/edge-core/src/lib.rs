//! The logic the components share: plain Rust, tested natively.

pub mod accounts;
pub mod api;
pub mod cors;
pub mod docs;
pub mod embedded;
pub mod insee;
pub mod limits;
pub mod ready;
pub mod score;
pub mod search;
pub mod token;
pub mod upstream;
pub mod version;
