pub mod key_value;
pub mod outbound_http;
pub mod sqlite;
pub mod variables;
