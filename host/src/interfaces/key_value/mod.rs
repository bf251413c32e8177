//! `fermyon:spin/key-value@2.0.0`.

pub mod wasi;

use crate::bindings::fermyon::spin::key_value::{self, Error};
use crate::state::{OpenError, RequestState};
use crate::store::{Backend, StoreError};
use wasmtime::component::Resource;

/// The host side of a `store` resource.
pub struct KvStore {
    backend: Backend,
}

fn other(e: StoreError) -> Error {
    Error::Other(e.0)
}

impl RequestState {
    fn kv(&self, store: &Resource<KvStore>) -> wasmtime::Result<Backend> {
        Ok(self.table.get(store)?.backend.clone())
    }
}

impl key_value::Host for RequestState {}

impl key_value::HostStore for RequestState {
    async fn open(&mut self, label: String) -> wasmtime::Result<Result<Resource<KvStore>, Error>> {
        Ok(match self.open_store(&label) {
            Ok(backend) => Ok(self.table.push(KvStore { backend })?),
            Err(OpenError::TableFull) => Err(Error::StoreTableFull),
            Err(OpenError::AccessDenied) => Err(Error::AccessDenied),
            Err(OpenError::NoSuchStore) => Err(Error::NoSuchStore),
        })
    }

    async fn get(
        &mut self,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        Ok(self.kv(&store)?.get(&key).await.map_err(other))
    }

    async fn set(
        &mut self,
        store: Resource<KvStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(self.kv(&store)?.set(&key, &value).await.map_err(other))
    }

    async fn delete(
        &mut self,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(self.kv(&store)?.delete(&key).await.map_err(other))
    }

    async fn exists(
        &mut self,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        Ok(self.kv(&store)?.exists(&key).await.map_err(other))
    }

    async fn get_keys(
        &mut self,
        store: Resource<KvStore>,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        Ok(self.kv(&store)?.keys().await.map_err(other))
    }

    async fn drop(&mut self, store: Resource<KvStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        self.close_store();
        Ok(())
    }
}
