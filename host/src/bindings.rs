//! Generated bindings for the Spin and wasi:keyvalue interfaces we implement.
//! WASI 0.2 itself (CLI, clocks, random, HTTP) comes from wasmtime-wasi(-http).

wasmtime::component::bindgen!({
    path: "wit",
    world: "deces:edge/edge-imports",
    imports: { default: async | trappable },
    with: {
        "fermyon:spin/key-value.store": crate::key_value::KvStore,
        "wasi:keyvalue/store.bucket": crate::wasi_keyvalue::Bucket,
        "wasi:keyvalue/atomics.cas": crate::wasi_keyvalue::Cas,
    },
});
