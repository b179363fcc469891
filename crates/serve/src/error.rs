//! The error type of the serve library, and the HTTP status each request error answers with.

/// Result alias of this crate.
pub type Result<T, E = ServeError> = std::result::Result<T, E>;

/// What can go wrong while starting the server or answering a request.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The checkpoint or the evaluation could not be loaded, or an option does not fit them.
    #[error(transparent)]
    Evaluate(#[from] evaluate::EvaluateError),

    /// A file or socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),

    /// Options that do not fit together.
    #[error("{0}")]
    Config(String),

    /// The request body is not UTF-8 (400).
    #[error("the request body is not valid UTF-8: {0}")]
    NotUtf8(std::str::Utf8Error),

    /// The request body is JSON of the wrong shape, or not JSON (422).
    #[error("{0}")]
    BadRequest(String),

    /// The request body is larger than the limit (413).
    #[error("the request body is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },

    /// The queue of requests waiting for the model is full (503, with `Retry-After`).
    #[error("the server is busy: {queued} requests are waiting for the model; retry later")]
    Busy {
        /// The queue's capacity.
        queued: usize,
    },

    /// The answer took longer than the per-request timeout (504).
    #[error("no answer within the request timeout of {ms} ms")]
    Timeout {
        /// The timeout, in milliseconds.
        ms: u64,
    },

    /// No such route (404).
    #[error("no route {0}; the routes are /, /predict, /health, /info and /metrics")]
    NotFound(String),

    /// The model worker has stopped (the server is shutting down) (503).
    #[error("the model worker has stopped")]
    WorkerGone,

    /// The model failed on a batch (500).
    #[error("prediction failed: {0}")]
    Predict(String),
}

impl ServeError {
    /// The HTTP status code this error answers a request with.
    pub fn status(&self) -> u16 {
        match self {
            Self::NotUtf8(_) => 400,
            Self::NotFound(_) => 404,
            Self::TooLarge { .. } => 413,
            Self::BadRequest(_) => 422,
            Self::Busy { .. } | Self::WorkerGone => 503,
            Self::Timeout { .. } => 504,
            Self::Evaluate(_) | Self::Io(_) | Self::Config(_) | Self::Predict(_) => 500,
        }
    }
}
