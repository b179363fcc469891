//! The error type of the artifact store and the stage interface.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;

/// Everything that can go wrong while reading, writing or verifying artifacts.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// An IO error; `fs-err` puts the path into the message.
    #[error(transparent)]
    Io(#[from] std::io::Error),

    /// A JSON file that does not parse.
    #[error("{path}: invalid JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },

    /// An artifact written by an incompatible layout of the store.
    #[error(
        "{path}: artifact layout version {found}, this tool reads version {expected}; re-run the stage"
    )]
    LayoutVersion {
        /// The manifest.
        path: PathBuf,
        /// Version in the file.
        found: u32,
        /// Version this build understands.
        expected: u32,
    },

    /// A file listed in a manifest is missing or has other content than recorded.
    #[error(
        "{path}: {what} (artifact is corrupt or was edited; delete {dir} and re-run the stage)"
    )]
    Integrity {
        /// The offending file.
        path: PathBuf,
        /// Which check failed, with the values.
        what: String,
        /// The artifact directory.
        dir: PathBuf,
    },

    /// A parameter with the wrong type or an unknown name.
    #[error("parameter `{key}`: {message}")]
    Param {
        /// Dotted path of the key inside the stage's table.
        key: String,
        /// What was expected.
        message: String,
    },

    /// A required input artifact is absent.
    #[error("stage `{stage}` needs an input from stage `{kind}`, but none was given")]
    MissingInput {
        /// The stage asking.
        stage: String,
        /// The kind of input it needs.
        kind: String,
    },

    /// A stage's own failure, with its cause chain.
    #[error("stage `{stage}` failed")]
    Stage {
        /// The stage instance.
        stage: String,
        /// What went wrong inside it.
        #[source]
        source: anyhow::Error,
    },

    /// A stage wrote something the store cannot accept.
    #[error("{0}")]
    Invalid(String),
}
