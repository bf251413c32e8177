pub mod import;
pub mod links;
pub mod sample;
