//! `ingest`: run the ingest stage alone on explicit files, into the artifact store.
//!
//! Params come from `--params <file.toml>` (a table of ingest params, or a pipeline file whose
//! `[stages.<name>]` table is used) and from the flags below, which override the file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::{Map, Value, json};

/// Read raw labelled text (CoNLL column files, CSV/TSV/JSONL/Parquet tables, `text<sep>label`
/// lines, or table rows rendered through a template and codebook), clean it, split it, profile
/// it, and write `{train,dev,test}.parquet`, `labels.json`, `rejects.parquet`, `profile.json`
/// and `profile.md` into `<artifacts>/<pipeline>/<name>/<fingerprint>/`.
#[derive(Debug, Parser)]
#[command(name = "ingest", version, max_term_width = 100)]
struct Cli {
    /// Root of the artifact store.
    #[arg(long, default_value = "artifacts", help_heading = "Run")]
    artifacts: PathBuf,
    /// Pipeline name (sub-directory of the store).
    #[arg(long, default_value = "adhoc", help_heading = "Run")]
    pipeline: String,
    /// Stage instance name.
    #[arg(long, default_value = "ingest", help_heading = "Run")]
    name: String,
    /// Re-run even if an artifact with the same fingerprint exists.
    #[arg(long, help_heading = "Run")]
    force: bool,
    /// TOML file with the params (flags override it).
    #[arg(long, help_heading = "Run")]
    params: Option<PathBuf>,
    /// More logging (-v debug, -vv trace).
    #[arg(short, long, action = clap::ArgAction::Count, help_heading = "Run")]
    verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, help_heading = "Run")]
    quiet: bool,

    /// Task: token (NER, IOB2 tags), sequence (one label per example) or multilabel (a set of
    /// labels per example; table and separator formats).
    #[arg(long, value_parser = ["token", "sequence", "multilabel"], help_heading = "Input")]
    task: Option<String>,
    /// Input format [default: conll].
    #[arg(long, value_parser = ["conll", "csv", "tsv", "jsonl", "parquet", "separator", "tabular"], help_heading = "Input")]
    format: Option<String>,
    /// Train file (give --dev and --test too).
    #[arg(long, help_heading = "Input")]
    train: Option<PathBuf>,
    /// Dev file.
    #[arg(long, help_heading = "Input")]
    dev: Option<PathBuf>,
    /// Test file.
    #[arg(long, help_heading = "Input")]
    test: Option<PathBuf>,
    /// One file to split into train/dev/test (instead of --train/--dev/--test).
    #[arg(long, help_heading = "Input")]
    file: Option<PathBuf>,
    /// Fraction of --file for train [default: 0.8].
    #[arg(long, help_heading = "Input")]
    split_train: Option<f64>,
    /// Fraction of --file for dev [default: 0.1].
    #[arg(long, help_heading = "Input")]
    split_dev: Option<f64>,
    /// Fraction of --file for test [default: 0.1].
    #[arg(long, help_heading = "Input")]
    split_test: Option<f64>,
    /// Seed of the split (stratified by label; grouped by document for token tasks) [default: 42].
    #[arg(long, help_heading = "Input")]
    seed: Option<u64>,
    /// Encoding: utf-8 (strict), latin1, windows-1252, or auto (UTF-8, else Windows-1252 per file, with a warning) [default: utf-8].
    #[arg(long, value_parser = ["utf-8", "latin1", "windows-1252", "auto"], help_heading = "Input")]
    encoding: Option<String>,
    /// Longest accepted line in bytes; longer lines are rejected [default: 1048576].
    #[arg(long, help_heading = "Input")]
    max_line_bytes: Option<usize>,

    /// Token column, counted from 0 [default: 0].
    #[arg(long, help_heading = "CoNLL")]
    token_column: Option<usize>,
    /// Tag column, counted from 0; -1 = last [default: -1].
    #[arg(long, allow_hyphen_values = true, help_heading = "CoNLL")]
    tag_column: Option<i64>,
    /// Column separator: auto (tab if the first token line has one), whitespace, tab [default: auto].
    #[arg(long, value_parser = ["auto", "whitespace", "tab"], help_heading = "CoNLL")]
    separator: Option<String>,
    /// Skip lines starting with this prefix.
    #[arg(long, help_heading = "CoNLL")]
    comment_prefix: Option<String>,
    /// First field of document-start lines [default: -DOCSTART-].
    #[arg(long, allow_hyphen_values = true, help_heading = "CoNLL")]
    docstart: Option<String>,
    /// Tag scheme of the input: auto, iob1, iob2, ioe1, ioe2, iobes (bioes), bilou, bmes; converted to IOB2 [default: auto].
    #[arg(long, help_heading = "CoNLL")]
    scheme: Option<String>,
    /// Regex applied to every token (e.g. '^(.+?)[0-9]{1,2}$' strips position digits).
    #[arg(long, requires = "token_rewrite_replacement", help_heading = "CoNLL")]
    token_rewrite_pattern: Option<String>,
    /// Replacement for --token-rewrite-pattern ('$1' = first group).
    #[arg(long, requires = "token_rewrite_pattern", help_heading = "CoNLL")]
    token_rewrite_replacement: Option<String>,

    /// Text column [default: text].
    #[arg(long, help_heading = "Tables")]
    text_column: Option<String>,
    /// Second text column (sentence pairs).
    #[arg(long, help_heading = "Tables")]
    text_b_column: Option<String>,
    /// Label column [default: label].
    #[arg(long, help_heading = "Tables")]
    label_column: Option<String>,
    /// Id column (ids are generated when absent).
    #[arg(long, help_heading = "Tables")]
    id_column: Option<String>,
    /// Field delimiter, one byte [default: ',' for csv, tab for tsv, space for tabular].
    #[arg(long, help_heading = "Tables")]
    delimiter: Option<String>,
    /// Quote character, one byte; '' turns quoting off [default: '"'].
    #[arg(long, help_heading = "Tables")]
    quote: Option<String>,
    /// The first line is data, not a header.
    #[arg(long, help_heading = "Tables")]
    no_header: bool,
    /// Column names, comma-separated (header-less files, or renaming).
    #[arg(long, value_delimiter = ',', help_heading = "Tables")]
    columns: Option<Vec<String>>,
    /// Metadata columns to keep, comma-separated [default: all columns not otherwise used].
    #[arg(long, value_delimiter = ',', help_heading = "Tables")]
    metadata: Option<Vec<String>>,
    /// Separator format: the separator between text and label (split on its last occurrence) [default: tab].
    #[arg(long, help_heading = "Tables")]
    sep: Option<String>,
    /// Tabular: template with {column} placeholders, e.g. 'The applicant has {checking_status}.'.
    #[arg(long, help_heading = "Tables")]
    template: Option<String>,
    /// Tabular: TOML codebook (columns, template, label_map, codes, column_codes).
    #[arg(long, help_heading = "Tables")]
    codebook: Option<PathBuf>,
    /// Raw label to class name, e.g. --label-map 1=good --label-map 2=bad.
    #[arg(long, value_name = "RAW=NAME", help_heading = "Tables")]
    label_map: Vec<String>,
    /// Allowed labels (sequence, multilabel: also their order) or entity types (token),
    /// comma-separated; others are rejected.
    #[arg(long, value_delimiter = ',', help_heading = "Tables")]
    labels: Option<Vec<String>>,
    /// Multilabel: separator between the labels of a text label value, e.g. '1,4' (items are
    /// trimmed; an empty value is an empty set; JSON arrays and Parquet lists need none) [default: ','].
    #[arg(long, help_heading = "Tables")]
    label_separator: Option<String>,
    /// Multilabel: label file, one name per line; label items are then 0-based line indices
    /// into it (or its names), and it fixes the label list and order.
    #[arg(long, help_heading = "Tables")]
    label_names: Option<PathBuf>,

    /// Unicode normalisation: nfc, nfkc, none [default: nfc].
    #[arg(long, value_parser = ["nfc", "nfkc", "none"], help_heading = "Cleaning")]
    normalize: Option<String>,
    /// Keep control and zero-width characters.
    #[arg(long, help_heading = "Cleaning")]
    no_strip_control: bool,
    /// Keep whitespace runs (text is still trimmed).
    #[arg(long, help_heading = "Cleaning")]
    no_collapse_whitespace: bool,
    /// Keep exact duplicates and conflicting copies (they are still counted in the profile).
    #[arg(long, help_heading = "Cleaning")]
    no_dedup: bool,
    /// Duplicates with conflicting labels: drop, keep_first, keep_majority [default: keep_majority].
    #[arg(long, value_parser = ["drop", "keep_first", "keep_majority"], help_heading = "Cleaning")]
    conflict_policy: Option<String>,
    /// Remove from train the texts that also occur in dev or test.
    #[arg(long, help_heading = "Cleaning")]
    remove_leakage: bool,
    /// Also de-duplicate given dev and test files (by default they are scored as given and
    /// their duplicates are only reported).
    #[arg(long, help_heading = "Cleaning")]
    clean_eval_splits: bool,
}

impl Cli {
    /// Params from the file, overridden by the flags that were given.
    fn raw_params(&self) -> anyhow::Result<Value> {
        let mut params = match &self.params {
            Some(path) => {
                let text = fs_err::read_to_string(path)?;
                let table: toml::Table = toml::from_str(&text)
                    .with_context(|| format!("{}: invalid TOML", path.display()))?;
                let table = match table.get("stages").and_then(|s| s.get(&self.name)) {
                    Some(toml::Value::Table(t)) => t.clone(),
                    Some(_) => bail!("{}: `stages.{}` is not a table", path.display(), self.name),
                    None => table,
                };
                match serde_json::to_value(table)? {
                    Value::Object(m) => m,
                    _ => Map::new(),
                }
            }
            None => Map::new(),
        };
        // `kind` belongs to the pipeline file, not to the stage's params.
        params.remove("kind");
        let mut set = |key: &str, v: Option<Value>| {
            if let Some(v) = v {
                params.insert(key.to_string(), v);
            }
        };
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| json!(p));
        set("task", self.task.as_ref().map(|v| json!(v)));
        set("format", self.format.as_ref().map(|v| json!(v)));
        set("train", path(&self.train));
        set("dev", path(&self.dev));
        set("test", path(&self.test));
        set("file", path(&self.file));
        set("encoding", self.encoding.as_ref().map(|v| json!(v)));
        set("max_line_bytes", self.max_line_bytes.map(|v| json!(v)));
        set("token_column", self.token_column.map(|v| json!(v)));
        set("tag_column", self.tag_column.map(|v| json!(v)));
        set("separator", self.separator.as_ref().map(|v| json!(v)));
        set(
            "comment_prefix",
            self.comment_prefix.as_ref().map(|v| json!(v)),
        );
        set("docstart", self.docstart.as_ref().map(|v| json!(v)));
        set("scheme", self.scheme.as_ref().map(|v| json!(v)));
        set("text_column", self.text_column.as_ref().map(|v| json!(v)));
        set(
            "text_b_column",
            self.text_b_column.as_ref().map(|v| json!(v)),
        );
        set("label_column", self.label_column.as_ref().map(|v| json!(v)));
        set("id_column", self.id_column.as_ref().map(|v| json!(v)));
        set("delimiter", self.delimiter.as_ref().map(|v| json!(v)));
        set("quote", self.quote.as_ref().map(|v| json!(v)));
        set("has_header", self.no_header.then_some(json!(false)));
        set("columns", self.columns.as_ref().map(|v| json!(v)));
        set("metadata", self.metadata.as_ref().map(|v| json!(v)));
        set("sep", self.sep.as_ref().map(|v| json!(v)));
        set("template", self.template.as_ref().map(|v| json!(v)));
        set("codebook", path(&self.codebook));
        set("labels", self.labels.as_ref().map(|v| json!(v)));
        set(
            "label_separator",
            self.label_separator.as_ref().map(|v| json!(v)),
        );
        set("label_names", path(&self.label_names));
        set("normalize", self.normalize.as_ref().map(|v| json!(v)));
        set(
            "strip_control",
            self.no_strip_control.then_some(json!(false)),
        );
        set(
            "collapse_whitespace",
            self.no_collapse_whitespace.then_some(json!(false)),
        );
        set("dedup", self.no_dedup.then_some(json!(false)));
        set(
            "conflict_policy",
            self.conflict_policy.as_ref().map(|v| json!(v)),
        );
        set("remove_leakage", self.remove_leakage.then_some(json!(true)));
        set(
            "clean_eval_splits",
            self.clean_eval_splits.then_some(json!(true)),
        );
        if let (Some(pattern), Some(replacement)) =
            (&self.token_rewrite_pattern, &self.token_rewrite_replacement)
        {
            set(
                "token_rewrite",
                Some(json!({"pattern": pattern, "replacement": replacement})),
            );
        }
        if !self.label_map.is_empty() {
            let mut map = Map::new();
            for pair in &self.label_map {
                let (k, v) = pair
                    .split_once('=')
                    .with_context(|| format!("--label-map {pair:?}: expected RAW=NAME"))?;
                map.insert(k.to_string(), json!(v));
            }
            set("label_map", Some(Value::Object(map)));
        }
        let split_flags = [
            ("train", self.split_train.map(|v| json!(v))),
            ("dev", self.split_dev.map(|v| json!(v))),
            ("test", self.split_test.map(|v| json!(v))),
            ("seed", self.seed.map(|v| json!(v))),
        ];
        if split_flags.iter().any(|(_, v)| v.is_some()) {
            let mut split = match params.remove("split") {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            };
            for (k, v) in split_flags {
                if let Some(v) = v {
                    split.insert(k.to_string(), v);
                }
            }
            params.insert("split".into(), Value::Object(split));
        }
        Ok(Value::Object(params))
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    flowcore::logging::init(cli.verbose, cli.quiet);
    let raw = cli.raw_params()?;
    let globals = flowcore::Globals {
        pipeline: cli.pipeline.clone(),
        ..flowcore::Globals::default()
    };
    let executed = flowcore::stage::run_standalone(
        &ingest::IngestStage,
        &cli.artifacts,
        &cli.name,
        &raw,
        &globals,
        &[],
        cli.force,
    )?;
    if !executed.ran {
        tracing::info!("up to date; nothing to do (use --force to re-run)");
    }
    println!("{}", executed.artifact.dir.display());
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            flowcore::logging::report(&err);
            ExitCode::FAILURE
        }
    }
}
