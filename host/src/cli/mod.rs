pub mod import;
pub mod sample;
