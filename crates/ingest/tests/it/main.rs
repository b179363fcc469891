//! Integration tests of the ingest stage, organised by module: real data sets (acceptance),
//! bad input, formats and options, multi-label lists, and the stage interface / binary.

mod bad_input;
mod formats;
mod multilabel;
mod real_data;
mod stage;
mod util;
