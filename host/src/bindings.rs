//! Generated bindings for the Spin (key-value, variables, SQLite) and wasi:keyvalue
//! interfaces we implement.
//! WASI 0.2 itself (CLI, clocks, random, HTTP) comes from wasmtime-wasi(-http).

wasmtime::component::bindgen!({
    path: "wit",
    world: "deces:edge/edge-imports",
    imports: { default: async | trappable },
    with: {
        "fermyon:spin/key-value.store": crate::key_value::KvStore,
        "fermyon:spin/sqlite.connection": crate::sqlite::SqliteConnection,
        "wasi:keyvalue/store.bucket": crate::wasi_keyvalue::Bucket,
        "wasi:keyvalue/atomics.cas": crate::wasi_keyvalue::Cas,
    },
});
