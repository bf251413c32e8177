pub mod data;
pub mod import;
pub mod sample;
