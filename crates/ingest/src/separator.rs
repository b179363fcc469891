//! Separator lines: `text<sep>label` per line, split on the last occurrence of `<sep>` so the
//! text itself may contain the separator.

use std::path::Path;

use crate::encoding::{lines, truncate_raw};
use crate::error::{IngestError, Result};
use crate::labelset::split_text;
use crate::model::{Body, Collected, Example, Label, RAW_LIMIT, Reason, Reject};

/// How separator lines are read.
#[derive(Debug, Clone, Copy)]
pub struct SeparatorOptions<'a> {
    /// Separator between text and label (the last occurrence splits).
    pub sep: &'a str,
    /// Longest accepted line.
    pub max_line_bytes: usize,
    /// Multi-label: the separator between labels (the label part may then be empty, an
    /// empty set).
    pub label_separator: Option<&'a str>,
}

/// Read one separator-lines file into `out` as examples of `pool`.
pub fn read(
    path: &Path,
    text: &str,
    options: SeparatorOptions<'_>,
    pool: usize,
    prefix: &str,
    out: &mut Collected,
) -> Result<()> {
    let SeparatorOptions {
        sep,
        max_line_bytes,
        label_separator,
    } = options;
    let source = out.sources.len();
    out.sources.push(path.display().to_string());
    let mut any = false;
    let mut n = 0usize;
    for (line_no, line) in lines(text) {
        if line.trim().is_empty() {
            continue;
        }
        any = true;
        n += 1;
        out.read[pool] += 1;
        let mut reject = |reason, detail: String| {
            out.rejects.push(Reject {
                pool,
                source: path.display().to_string(),
                line: line_no,
                reason,
                detail,
                raw: truncate_raw(line, RAW_LIMIT),
            });
        };
        if line.len() > max_line_bytes {
            reject(
                Reason::LineTooLong,
                format!(
                    "the line is {} bytes; the limit is max_line_bytes = {max_line_bytes}",
                    line.len()
                ),
            );
            continue;
        }
        let Some((text, label)) = line.rsplit_once(sep) else {
            reject(
                Reason::MissingSeparator,
                format!("expected `text{sep}label`; the line has no {sep:?}"),
            );
            continue;
        };
        if label.trim().is_empty() && label_separator.is_none() {
            reject(
                Reason::MissingLabel,
                format!("nothing after the last {sep:?}"),
            );
            continue;
        }
        let id = format!("{prefix}-{n:06}");
        out.examples.push(Example {
            pool,
            split: pool,
            doc_id: id.clone(),
            id,
            source,
            line: line_no,
            token_lines: Vec::new(),
            body: Body::Text {
                text: text.to_string(),
                text_b: None,
                label: match label_separator {
                    Some(ls) => Label::Set(split_text(label, ls)),
                    None => Label::Class(label.trim().to_string()),
                },
            },
            meta: Vec::new(),
        });
    }
    if !any {
        return Err(IngestError::Empty {
            path: path.to_path_buf(),
            what: "the file is empty".into(),
            expected: format!("lines of `text{sep}label`"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_the_last_separator() {
        let mut out = Collected {
            pools: vec!["all".into()],
            read: vec![0],
            ..Collected::default()
        };
        read(
            Path::new("s"),
            "a@b@pos\nno sep\nx@ \n",
            SeparatorOptions {
                sep: "@",
                max_line_bytes: 100,
                label_separator: None,
            },
            0,
            "all",
            &mut out,
        )
        .unwrap();
        assert_eq!(out.read[0], 3);
        assert_eq!(
            out.examples[0].body,
            Body::Text {
                text: "a@b".into(),
                text_b: None,
                label: "pos".into()
            }
        );
        let reasons: Vec<_> = out.rejects.iter().map(|r| (r.reason, r.line)).collect();
        assert_eq!(
            reasons,
            vec![(Reason::MissingSeparator, 2), (Reason::MissingLabel, 3)]
        );
    }

    #[test]
    fn multilabel_lines_split_the_label_part_and_allow_an_empty_set() {
        let mut out = Collected {
            pools: vec!["all".into()],
            read: vec![0],
            ..Collected::default()
        };
        let options = SeparatorOptions {
            sep: "\t",
            max_line_bytes: 100,
            label_separator: Some("|"),
        };
        read(
            Path::new("s"),
            "a\tx| y\nb\t\n",
            options,
            0,
            "all",
            &mut out,
        )
        .unwrap();
        assert!(out.rejects.is_empty());
        let labels: Vec<_> = out
            .examples
            .iter()
            .map(|e| match &e.body {
                Body::Text { label, .. } => label.clone(),
                Body::Tokens { .. } => unreachable!(),
            })
            .collect();
        assert_eq!(
            labels,
            [Label::Set(vec!["x".into(), "y".into()]), Label::Set(vec![])]
        );
    }
}
