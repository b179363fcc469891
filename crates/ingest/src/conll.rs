//! Column files of the CoNLL family: one token per line, configurable token and tag columns,
//! whitespace or tab separated; a sentence ends at a line that is empty after trimming;
//! `-DOCSTART-` lines start a new document; optional comment lines and token rewrite.
//!
//! Structural problems that make the whole file unreadable (no such tag column, no sentence
//! at all) are errors; a problem confined to one sentence (a ragged line, an over-long line,
//! a missing tag) rejects that sentence with its reason and line.

use std::path::Path;

use regex::Regex;

use crate::encoding::{lines, truncate_raw};
use crate::error::{IngestError, Result};
use crate::model::{Body, Collected, Example, RAW_LIMIT, Reason, Reject};
use crate::params::ColumnSeparator;

/// How to read a column file.
#[derive(Debug, Clone)]
pub struct ConllOptions {
    /// Token column index.
    pub token_column: usize,
    /// Tag column index; negative counts from the end.
    pub tag_column: i64,
    /// Column separator.
    pub separator: ColumnSeparator,
    /// Comment prefix.
    pub comment_prefix: Option<String>,
    /// First field of document-start lines.
    pub docstart: String,
    /// Longest accepted line.
    pub max_line_bytes: usize,
    /// Token rewrite.
    pub rewrite: Option<(Regex, String)>,
}

/// A sentence being collected.
#[derive(Default)]
struct Pending {
    line: u64,
    tokens: Vec<String>,
    tags: Vec<String>,
    token_lines: Vec<u64>,
    raw: Vec<String>,
    problem: Option<(Reason, String)>,
}

/// Read one column file into `out` as examples of `pool`, ids `<prefix>-<n>`.
pub fn read(
    path: &Path,
    text: &str,
    opts: &ConllOptions,
    pool: usize,
    prefix: &str,
    out: &mut Collected,
) -> Result<()> {
    let source = out.sources.len();
    out.sources.push(path.display().to_string());
    let mut doc = 0usize;
    let mut has_docs = false;
    let mut n = 0usize;
    let mut expected_cols: Option<usize> = None;
    let mut tab: Option<bool> = match opts.separator {
        ColumnSeparator::Auto => None,
        ColumnSeparator::Tab => Some(true),
        ColumnSeparator::Whitespace => Some(false),
    };
    let mut cur = Pending::default();
    let mut saw_any_line = false;

    let mut flush = |cur: &mut Pending, doc: usize, has_docs: bool, out: &mut Collected| {
        let p = std::mem::take(cur);
        if p.tokens.is_empty() && p.problem.is_none() {
            return;
        }
        n += 1;
        out.read[pool] += 1;
        let id = format!("{prefix}-{n:06}");
        if let Some((reason, detail)) = p.problem {
            out.rejects.push(Reject {
                pool,
                source: path.display().to_string(),
                line: p.line,
                reason,
                detail,
                raw: truncate_raw(&p.raw.join("\n"), RAW_LIMIT),
            });
            return;
        }
        let doc_id = if has_docs {
            format!("{prefix}-doc{doc:04}")
        } else {
            id.clone()
        };
        out.examples.push(Example {
            pool,
            split: pool,
            id,
            doc_id,
            source,
            line: p.line,
            token_lines: p.token_lines,
            body: Body::Tokens {
                tokens: p.tokens,
                tags: p.tags,
            },
            meta: Vec::new(),
        });
    };

    for (line_no, line) in lines(text) {
        if line.len() > opts.max_line_bytes {
            saw_any_line = true;
            if cur.line == 0 {
                cur.line = line_no;
            }
            cur.raw.push(truncate_raw(line, 200));
            cur.problem.get_or_insert((
                Reason::LineTooLong,
                format!(
                    "line {line_no} is {} bytes; the limit is max_line_bytes = {}",
                    line.len(),
                    opts.max_line_bytes
                ),
            ));
            continue;
        }
        let trimmed = line.trim();
        if trimmed.is_empty() {
            flush(&mut cur, doc, has_docs, out);
            continue;
        }
        if let Some(prefix) = &opts.comment_prefix
            && trimmed.starts_with(prefix.as_str())
        {
            out.count("comment_lines", 1);
            continue;
        }
        saw_any_line = true;
        if trimmed.split_whitespace().next() == Some(opts.docstart.as_str()) {
            flush(&mut cur, doc, has_docs, out);
            has_docs = true;
            doc += 1;
            continue;
        }
        let use_tab = *tab.get_or_insert_with(|| line.contains('\t'));
        let fields: Vec<&str> = if use_tab {
            line.split('\t').collect()
        } else {
            line.split_whitespace().collect()
        };
        let cols = *expected_cols.get_or_insert(fields.len());
        let tag_col = if opts.tag_column < 0 {
            cols as i64 + opts.tag_column
        } else {
            opts.tag_column
        };
        if opts.token_column >= cols || tag_col < 0 || tag_col as usize >= cols {
            return Err(IngestError::Format {
                path: path.to_path_buf(),
                line: line_no,
                message: format!(
                    "the line has {cols} column(s) but token_column = {} and tag_column = {} \
                     (counted from 0; -1 = last): expected a line with those columns",
                    opts.token_column, opts.tag_column
                ),
            });
        }
        if cur.line == 0 {
            cur.line = line_no;
        }
        cur.raw.push(truncate_raw(line, 200));
        if cur.problem.is_some() {
            continue;
        }
        if fields.len() != cols {
            cur.problem = Some((
                Reason::RaggedRow,
                format!(
                    "line {line_no}: expected {cols} column(s) like the file's first token line, found {}",
                    fields.len()
                ),
            ));
            continue;
        }
        let tag = fields[tag_col as usize].trim();
        if tag.is_empty() {
            cur.problem = Some((
                Reason::MissingLabel,
                format!("line {line_no}: the tag column is empty"),
            ));
            continue;
        }
        let raw_token = fields[opts.token_column].trim();
        let token = match &opts.rewrite {
            Some((re, replacement)) => re.replace_all(raw_token, replacement.as_str()).into_owned(),
            None => raw_token.to_string(),
        };
        if token.is_empty() {
            cur.problem = Some((
                Reason::Empty,
                format!("line {line_no}: the token is empty (after token_rewrite)"),
            ));
            continue;
        }
        cur.tokens.push(token);
        cur.tags.push(tag.to_string());
        cur.token_lines.push(line_no);
    }
    flush(&mut cur, doc, has_docs, out);
    if !saw_any_line {
        return Err(IngestError::Empty {
            path: path.to_path_buf(),
            what: "the file holds no token lines".into(),
            expected: "token lines (`token<sep>tag`) separated by blank lines".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> ConllOptions {
        ConllOptions {
            token_column: 0,
            tag_column: -1,
            separator: ColumnSeparator::Auto,
            comment_prefix: Some("#".into()),
            docstart: "-DOCSTART-".into(),
            max_line_bytes: 100,
            rewrite: None,
        }
    }

    fn collected() -> Collected {
        Collected {
            pools: vec!["train".into()],
            read: vec![0],
            ..Collected::default()
        }
    }

    #[test]
    fn sentences_docs_comments_and_tab_only_separators() {
        let text = "-DOCSTART- -X- O\n\n# c\nA\tB-PER\nb\tO\n\t\nc d\tO\n-DOCSTART- -X- O\ne\tO\n";
        let mut out = collected();
        read(Path::new("f"), text, &opts(), 0, "train", &mut out).unwrap();
        assert_eq!(out.read[0], 3);
        assert_eq!(out.examples.len(), 3);
        assert_eq!(out.examples[0].line, 4);
        assert_eq!(out.examples[1].doc_id, "train-doc0001");
        assert_eq!(out.examples[2].doc_id, "train-doc0002");
        // Tab separated: a token may contain a space.
        assert_eq!(
            out.examples[1].body,
            Body::Tokens {
                tokens: vec!["c d".into()],
                tags: vec!["O".into()]
            }
        );
        assert_eq!(out.counters["comment_lines"], 1);
    }

    #[test]
    fn ragged_and_long_lines_reject_their_sentence() {
        let long = "x".repeat(200);
        let text = format!("a O\nb O O\n\n{long} O\n\nc O\n");
        let mut out = collected();
        read(Path::new("f"), &text, &opts(), 0, "s", &mut out).unwrap();
        assert_eq!(out.read[0], 3);
        assert_eq!(out.examples.len(), 1);
        let reasons: Vec<_> = out.rejects.iter().map(|r| (r.reason, r.line)).collect();
        assert_eq!(
            reasons,
            vec![(Reason::RaggedRow, 1), (Reason::LineTooLong, 4)]
        );
        assert!(
            out.rejects[0]
                .detail
                .contains("line 2: expected 2 column(s)")
        );
    }

    #[test]
    fn missing_tag_column_is_an_error_with_the_line() {
        let mut o = opts();
        o.tag_column = 3;
        let err = read(
            Path::new("f.conll"),
            "\n\na O\n",
            &o,
            0,
            "s",
            &mut collected(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("f.conll:3: the line has 2 column(s)"),
            "{err}"
        );
    }

    #[test]
    fn empty_file_is_an_error() {
        let err = read(Path::new("e"), " \n\n", &opts(), 0, "s", &mut collected()).unwrap_err();
        assert!(err.to_string().contains("no token lines"), "{err}");
    }

    #[test]
    fn token_rewrite_strips_position_digits() {
        let mut o = opts();
        o.rewrite = Some((Regex::new(r"^(.+?)[0-9]{1,2}$").unwrap(), "$1".into()));
        let mut out = collected();
        read(
            Path::new("f"),
            "科0\tO\n10\tO\n\u{FFFD}\u{FFFD}0\tO\n112\tO\n",
            &o,
            0,
            "s",
            &mut out,
        )
        .unwrap();
        let Body::Tokens { tokens, .. } = &out.examples[0].body else {
            panic!("token body expected")
        };
        assert_eq!(tokens, &["科", "1", "\u{FFFD}\u{FFFD}", "1"]);
    }
}
