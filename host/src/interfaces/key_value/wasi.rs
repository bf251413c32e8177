//! `wasi:keyvalue/store` and `wasi:keyvalue/atomics` at `0.2.0-draft2`, as Spin serves them.

use crate::bindings::wasi::keyvalue::atomics::{self, CasError};
use crate::bindings::wasi::keyvalue::store::{self, Error, KeyResponse};
use crate::state::{OpenError, RequestState};
use crate::store::{Backend, StoreError};
use wasmtime::component::Resource;

/// The host side of a `bucket` resource.
pub struct Bucket {
    backend: Backend,
}

/// The host side of a `cas` resource: the value seen when it was created.
pub struct Cas {
    backend: Backend,
    key: String,
    current: Option<Vec<u8>>,
}

fn other(e: StoreError) -> Error {
    Error::Other(e.0)
}

impl RequestState {
    fn bucket(&self, bucket: &Resource<Bucket>) -> wasmtime::Result<Backend> {
        Ok(self.table.get(bucket)?.backend.clone())
    }
}

impl store::Host for RequestState {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<Bucket>, Error>> {
        Ok(match self.open_store(&identifier) {
            Ok(backend) => Ok(self.table.push(Bucket { backend })?),
            Err(OpenError::TableFull) => Err(Error::Other("too many open stores".into())),
            Err(OpenError::AccessDenied) => Err(Error::AccessDenied),
            Err(OpenError::NoSuchStore) => Err(Error::NoSuchStore),
        })
    }
}

impl store::HostBucket for RequestState {
    async fn get(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        Ok(self.bucket(&bucket)?.get(&key).await.map_err(other))
    }

    async fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(self.bucket(&bucket)?.set(&key, &value).await.map_err(other))
    }

    async fn delete(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(self.bucket(&bucket)?.delete(&key).await.map_err(other))
    }

    async fn exists(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        Ok(self.bucket(&bucket)?.exists(&key).await.map_err(other))
    }

    /// Every key in one page, as Spin does: the cursor is ignored and none is returned.
    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        _cursor: Option<String>,
    ) -> wasmtime::Result<Result<KeyResponse, Error>> {
        Ok(self
            .bucket(&bucket)?
            .keys()
            .await
            .map(|keys| KeyResponse { keys, cursor: None })
            .map_err(other))
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        self.close_store();
        Ok(())
    }
}

impl atomics::Host for RequestState {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, Error>> {
        Ok(self
            .bucket(&bucket)?
            .increment(&key, delta)
            .await
            .map_err(other))
    }

    async fn swap(
        &mut self,
        cas: Resource<Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), CasError>> {
        let state = self.table.delete(cas)?;
        match state
            .backend
            .compare_and_swap(&state.key, state.current.as_deref(), &value)
            .await
        {
            Ok(true) => Ok(Ok(())),
            Ok(false) => {
                let current = state.backend.get(&state.key).await.ok().flatten();
                let again = self.table.push(Cas { current, ..state })?;
                Ok(Err(CasError::CasFailed(again)))
            }
            Err(e) => Ok(Err(CasError::StoreError(other(e)))),
        }
    }
}

impl atomics::HostCas for RequestState {
    async fn new(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<Cas>, Error>> {
        let backend = self.bucket(&bucket)?;
        let current = match backend.get(&key).await {
            Ok(v) => v,
            Err(e) => return Ok(Err(other(e))),
        };
        Ok(Ok(self.table.push(Cas {
            backend,
            key,
            current,
        })?))
    }

    async fn current(
        &mut self,
        cas: Resource<Cas>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        Ok(Ok(self.table.get(&cas)?.current.clone()))
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}
