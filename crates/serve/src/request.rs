//! The body of `POST /predict`, read strictly: `{"inputs": …}` where `…` is one input or a
//! list of them, and an input is a text, a `[text, text_b]` pair, or an object `{"text": …,
//! "text_b": …}` / `{"text": …, "candidates": [ … ]}` (the JSONL lines of `evaluate predict
//! --input-format jsonl`). Every refusal says what was expected and where.

use flowcore::TaskKind;
use serde_json::Value;
use tokenize::Encoder;

use crate::error::{Result, ServeError};

/// What the body of `/predict` looks like, for error messages.
pub const EXPECTED: &str = "expected {\"inputs\": \"text\"} or {\"inputs\": [\"text\", …]}; an input may also be a pair [\"text\", \"text_b\"] or an object {\"text\": …, \"text_b\": …} / {\"text\": …, \"candidates\": [ … ]} (sequence classifiers)";

/// One input to label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A text (a line of `evaluate predict`'s plain input).
    Text(String),
    /// A sentence pair.
    Pair {
        /// First text.
        text: String,
        /// Second text.
        text_b: String,
    },
    /// A query whose candidates are ranked by the positive label's probability.
    Rank {
        /// The query.
        text: String,
        /// The candidates, in input order.
        candidates: Vec<String>,
    },
}

impl Input {
    /// The JSONL line `evaluate predict --input-format jsonl` reads for this input.
    pub fn json_line(&self) -> String {
        let value = match self {
            Self::Text(text) => serde_json::json!({ "text": text }),
            Self::Pair { text, text_b } => serde_json::json!({ "text": text, "text_b": text_b }),
            Self::Rank { text, candidates } => {
                serde_json::json!({ "text": text, "candidates": candidates })
            }
        };
        value.to_string()
    }

    /// The sub-words the model reads for this input (all windows, special tokens included):
    /// what the dynamic batcher counts. An input the tokenizer refuses counts its bytes.
    pub fn tokens(&self, encoder: &Encoder, task: TaskKind) -> usize {
        let text_len = |text: &str, text_b: Option<&str>| {
            encoder
                .encode_text("", text, text_b)
                .map_or(text.len(), |(w, _)| w.input_ids.len())
        };
        match (self, task) {
            (Self::Text(text), TaskKind::Token) => {
                let words = evaluate::text::split_words(text);
                if words.is_empty() {
                    return 0;
                }
                let words: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
                encoder
                    .encode_words("", &words)
                    .map_or(text.len(), |ws| ws.iter().map(|w| w.input_ids.len()).sum())
            }
            (Self::Text(text), _) if text.trim().is_empty() => 0,
            (Self::Text(text), _) => text_len(text, None),
            (Self::Pair { text, text_b }, _) => text_len(text, Some(text_b)),
            (Self::Rank { text, candidates }, _) => {
                candidates.iter().map(|c| text_len(text, Some(c))).sum()
            }
        }
    }
}

/// A parsed `/predict` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredictRequest {
    /// The inputs, in order.
    pub inputs: Vec<Input>,
    /// `inputs` was one input, not a list: the answer is one result, not a list.
    pub single: bool,
}

/// What the loaded checkpoint accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepts {
    /// The checkpoint's task: a token classifier labels plain texts only.
    pub task: TaskKind,
    /// Candidates can be ranked (the checkpoint has two labels, or a positive label was given).
    pub ranking: bool,
}

/// Reads a `/predict` body: [`ServeError::NotUtf8`] when it is not UTF-8,
/// [`ServeError::BadRequest`] naming the place and what was expected when it is not such JSON.
pub fn parse(body: &[u8], accepts: Accepts) -> Result<PredictRequest> {
    let text = std::str::from_utf8(body).map_err(ServeError::NotUtf8)?;
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| bad(format!("the body is not JSON ({e}); {EXPECTED}")))?;
    let mut fields = match doc {
        Value::Object(fields) => fields,
        other => {
            return Err(bad(format!(
                "the body is {}, not an object; {EXPECTED}",
                kind(&other)
            )));
        }
    };
    if let Some(other) = fields.keys().find(|k| *k != "inputs") {
        return Err(bad(format!(
            "unknown field `{other}`: the only field is `inputs`; {EXPECTED}"
        )));
    }
    let Some(inputs) = fields.remove("inputs") else {
        return Err(bad(format!("missing field `inputs`; {EXPECTED}")));
    };
    let (items, single) = match inputs {
        Value::Array(items) => (items, false),
        one => (vec![one], true),
    };
    let inputs = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let at = if single {
                "inputs".to_string()
            } else {
                format!("inputs[{i}]")
            };
            input(item, &at, accepts)
        })
        .collect::<Result<_>>()?;
    Ok(PredictRequest { inputs, single })
}

fn input(item: Value, at: &str, accepts: Accepts) -> Result<Input> {
    let parsed = match item {
        Value::String(text) => return Ok(Input::Text(text)),
        Value::Array(pair) => match <[Value; 2]>::try_from(pair) {
            Ok([Value::String(text), Value::String(text_b)]) => Input::Pair { text, text_b },
            _ => {
                return Err(bad(format!(
                    "{at}: a list input must be a pair of two texts [\"text\", \"text_b\"]"
                )));
            }
        },
        Value::Object(mut fields) => {
            if let Some(other) = fields
                .keys()
                .find(|k| !["text", "text_b", "candidates"].contains(&k.as_str()))
            {
                return Err(bad(format!(
                    "{at}: unknown field `{other}`; expected \"text\" with an optional \"text_b\" or \"candidates\""
                )));
            }
            let text = match fields.remove("text") {
                Some(Value::String(t)) => t,
                Some(other) => {
                    return Err(bad(format!(
                        "{at}.text: expected a string, found {}",
                        kind(&other)
                    )));
                }
                None => return Err(bad(format!("{at}: missing field `text`"))),
            };
            match (fields.remove("text_b"), fields.remove("candidates")) {
                (None, None) => Input::Text(text),
                (Some(_), Some(_)) => {
                    return Err(bad(format!(
                        "{at}: give \"text_b\" (one pair) or \"candidates\" (a list to rank), not both"
                    )));
                }
                (Some(Value::String(text_b)), None) => Input::Pair { text, text_b },
                (Some(other), None) => {
                    return Err(bad(format!(
                        "{at}.text_b: expected a string, found {}",
                        kind(&other)
                    )));
                }
                (None, Some(Value::Array(cands))) => {
                    let candidates = cands
                        .into_iter()
                        .enumerate()
                        .map(|(k, c)| match c {
                            Value::String(c) => Ok(c),
                            other => Err(bad(format!(
                                "{at}.candidates[{k}]: expected a string, found {}",
                                kind(&other)
                            ))),
                        })
                        .collect::<Result<_>>()?;
                    if !accepts.ranking {
                        return Err(bad(format!(
                            "{at}: ranking candidates needs the label whose probability ranks them; the server was started without --positive-label on a checkpoint with more than two labels"
                        )));
                    }
                    Input::Rank { text, candidates }
                }
                (None, Some(other)) => {
                    return Err(bad(format!(
                        "{at}.candidates: expected a list of strings, found {}",
                        kind(&other)
                    )));
                }
            }
        }
        other => {
            return Err(bad(format!(
                "{at}: expected a string, a [text, text_b] pair or an object, found {}",
                kind(&other)
            )));
        }
    };
    if accepts.task == TaskKind::Token && !matches!(parsed, Input::Text(_)) {
        return Err(bad(format!(
            "{at}: a token classifier labels plain texts; pairs and candidates are for sequence classifiers"
        )));
    }
    Ok(parsed)
}

fn bad(message: String) -> ServeError {
    ServeError::BadRequest(message)
}

/// What a JSON value is, for error messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEQ: Accepts = Accepts {
        task: TaskKind::Sequence,
        ranking: true,
    };

    fn err(body: &str, accepts: Accepts) -> String {
        parse(body.as_bytes(), accepts).unwrap_err().to_string()
    }

    #[test]
    fn one_text_a_list_pairs_and_candidates() {
        let one = parse(br#"{"inputs": "hi"}"#, SEQ).unwrap();
        assert_eq!(one.inputs, [Input::Text("hi".into())]);
        assert!(one.single);
        let many = parse(
            br#"{"inputs": ["a", ["b", "c"], {"text": "d", "text_b": "e"}, {"text": "q", "candidates": ["x", "y"]}, {"text": "f"}]}"#,
            SEQ,
        )
        .unwrap();
        assert!(!many.single);
        let pair = |a: &str, b: &str| Input::Pair {
            text: a.into(),
            text_b: b.into(),
        };
        assert_eq!(
            many.inputs,
            [
                Input::Text("a".into()),
                pair("b", "c"),
                pair("d", "e"),
                Input::Rank {
                    text: "q".into(),
                    candidates: vec!["x".into(), "y".into()]
                },
                Input::Text("f".into()),
            ]
        );
        assert_eq!(many.inputs[1].json_line(), r#"{"text":"b","text_b":"c"}"#);
    }

    #[test]
    fn refusals_name_the_place_and_what_was_expected() {
        assert!(matches!(
            parse(b"{\"inputs\": \"\xff\"}", SEQ),
            Err(ServeError::NotUtf8(_))
        ));
        assert!(err("{", SEQ).contains("not JSON"));
        assert!(err("[1]", SEQ).contains("is a list, not an object"));
        assert!(err(r#"{"input": "x"}"#, SEQ).contains("unknown field `input`"));
        assert!(err("{}", SEQ).contains("missing field `inputs`"));
        assert!(err(r#"{"inputs": ["a", 3]}"#, SEQ).contains("inputs[1]: expected a string"));
        assert!(
            err(r#"{"inputs": [["a"]]}"#, SEQ).contains("inputs[0]: a list input must be a pair")
        );
        assert!(
            err(
                r#"{"inputs": {"text": "a", "text_b": "b", "candidates": []}}"#,
                SEQ
            )
            .contains("not both")
        );
        assert!(
            err(r#"{"inputs": {"text": "a", "candidates": ["b", 1]}}"#, SEQ)
                .contains("inputs.candidates[1]: expected a string, found a number")
        );
        let no_rank = Accepts {
            ranking: false,
            ..SEQ
        };
        assert!(
            err(r#"{"inputs": {"text": "a", "candidates": ["b"]}}"#, no_rank)
                .contains("--positive-label")
        );
        let token = Accepts {
            task: TaskKind::Token,
            ranking: false,
        };
        assert!(err(r#"{"inputs": [["a", "b"]]}"#, token).contains("token classifier"));
        for body in ["{", "[1]", "{}"] {
            assert!(err(body, SEQ).contains(EXPECTED), "{body}");
        }
    }
}
