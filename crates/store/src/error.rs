//! The store's errors and their kinds in Periscope's error model.

use periscope_model::{Error, ErrorKind};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// More rows are waiting to be flushed than the memory bound allows.
    #[error("the store is busy flushing ({buffered_bytes} bytes buffered); retry shortly")]
    Overloaded { buffered_bytes: usize },
    /// A batch does not have the table's schema.
    #[error("batch schema does not match the table {table}: {detail}")]
    Schema { table: String, detail: String },
    /// Reading or writing a file failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// An earlier write-ahead log failure left the store unable to accept writes.
    #[error("the store refuses writes after a failed log write: {0}")]
    Failed(String),
    /// Arrow, Parquet or DataFusion reported an error.
    #[error("{0}")]
    Engine(String),
}

impl StoreError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
        let context = context.into();
        move |source| StoreError::Io { context, source }
    }
}

impl From<datafusion::error::DataFusionError> for StoreError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        StoreError::Engine(e.to_string())
    }
}

impl From<datafusion::arrow::error::ArrowError> for StoreError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        StoreError::Engine(e.to_string())
    }
}

impl From<datafusion::parquet::errors::ParquetError> for StoreError {
    fn from(e: datafusion::parquet::errors::ParquetError) -> Self {
        StoreError::Engine(e.to_string())
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Overloaded { .. } => Error::new(ErrorKind::TooManyRequests, e.to_string()),
            StoreError::Schema { .. } => Error::bad_request(e.to_string()),
            _ => Error::internal(e.to_string()),
        }
    }
}
