//! Columns of a polars table read as text, with errors that name the file, the param and the
//! columns that do exist: shared by the table reader and the tabular renderer.

use std::path::Path;

use polars::prelude::*;

use crate::error::{IngestError, Result};

/// Wraps a polars error with the file and what was being done.
pub(crate) fn polars_err(
    path: &Path,
    context: &str,
) -> impl FnOnce(PolarsError) -> IngestError + use<> {
    let path = path.to_path_buf();
    let context = context.to_string();
    move |source| IngestError::Polars {
        path,
        context,
        source,
    }
}

/// The table's column names, quoted, for error messages.
pub(crate) fn available(df: &DataFrame) -> String {
    df.get_column_names()
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A column as optional strings; a missing column is an error naming the param.
pub fn strings(df: &DataFrame, name: &str, key: &str, path: &Path) -> Result<Vec<Option<String>>> {
    let col = df.column(name).map_err(|_| IngestError::MissingColumn {
        path: path.to_path_buf(),
        key: key.into(),
        column: name.into(),
        available: available(df),
    })?;
    let cast = col.cast(&DataType::String).map_err(polars_err(
        path,
        &format!("reading column `{name}` as text"),
    ))?;
    let ca = cast.str().map_err(polars_err(
        path,
        &format!("reading column `{name}` as text"),
    ))?;
    Ok(ca.iter().map(|v| v.map(str::to_string)).collect())
}
