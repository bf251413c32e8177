//! Generated bindings for the Spin (key-value, variables, SQLite) and wasi:keyvalue
//! interfaces we implement.
//! WASI 0.2 itself (CLI, clocks, random, HTTP) comes from wasmtime-wasi(-http).

wasmtime::component::bindgen!({
    path: "wit",
    world: "deces:edge/edge-imports",
    imports: { default: async | trappable },
    with: {
        "fermyon:spin/key-value.store": crate::interfaces::key_value::KvStore,
        "fermyon:spin/sqlite.connection": crate::interfaces::sqlite::SqliteConnection,
        "wasi:keyvalue/store.bucket": crate::interfaces::key_value::wasi::Bucket,
        "wasi:keyvalue/atomics.cas": crate::interfaces::key_value::wasi::Cas,
    },
});
