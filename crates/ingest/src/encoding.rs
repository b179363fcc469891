//! Turning raw bytes into text: strict UTF-8 (errors name the line), Latin-1, Windows-1252,
//! or `auto` (UTF-8 with a per-file Windows-1252 fallback). A BOM is stripped; CRLF is
//! handled by [`lines`].

use std::path::Path;

use crate::error::{IngestError, Result};
use crate::params::Encoding;

/// A decoded file.
#[derive(Debug)]
pub struct Decoded {
    /// The text, without BOM.
    pub text: String,
    /// Whether `auto` fell back to Windows-1252.
    pub fell_back: bool,
    /// Number of U+FFFD characters in the text (stand-ins for lost characters).
    pub replacement_chars: u64,
}

/// Read and decode a file.
pub fn read_text(path: &Path, encoding: Encoding) -> Result<Decoded> {
    let bytes = fs_err::read(path)?;
    decode(path, bytes, encoding)
}

/// Decode bytes read from `path` (the path is only used in messages).
pub fn decode(path: &Path, mut bytes: Vec<u8>, encoding: Encoding) -> Result<Decoded> {
    let (text, fell_back) = match encoding {
        Encoding::Utf8 => (strict_utf8(path, strip_bom(bytes))?, false),
        Encoding::Auto => match String::from_utf8(strip_bom(bytes)) {
            Ok(text) => (text, false),
            Err(err) => {
                let bytes = err.into_bytes();
                let located = utf8_error(path, &bytes);
                tracing::warn!(
                    "{located}; decoding {} as Windows-1252 instead (encoding = \"auto\")",
                    path.display()
                );
                (windows_1252(&bytes), true)
            }
        },
        Encoding::Latin1 => {
            if bytes.starts_with(b"\xEF\xBB\xBF") {
                bytes.drain(..3);
            }
            (bytes.iter().map(|&b| char::from(b)).collect(), false)
        }
        Encoding::Windows1252 => (windows_1252(&bytes), false),
    };
    let replacement_chars = text.chars().filter(|&c| c == '\u{FFFD}').count() as u64;
    Ok(Decoded {
        text,
        fell_back,
        replacement_chars,
    })
}

fn strip_bom(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    bytes
}

fn windows_1252(bytes: &[u8]) -> String {
    let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes);
    text.into_owned()
}

fn strict_utf8(path: &Path, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|err| utf8_error(path, err.as_bytes()))
}

/// Locate the first invalid UTF-8 sequence of `bytes` as an error naming line and column.
fn utf8_error(path: &Path, bytes: &[u8]) -> IngestError {
    let (valid, len) = match std::str::from_utf8(bytes) {
        Ok(_) => (bytes.len(), 0),
        Err(e) => (
            e.valid_up_to(),
            e.error_len().unwrap_or(bytes.len() - e.valid_up_to()),
        ),
    };
    let before = &bytes[..valid];
    let line = before.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let bad = &bytes[valid..(valid + len.max(1)).min(bytes.len())];
    IngestError::InvalidUtf8 {
        path: path.to_path_buf(),
        line,
        column: valid - line_start + 1,
        bytes: bad
            .iter()
            .map(|b| format!("{b:#04x}"))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// Lines of a text with 1-based numbers; a trailing `\r` (CRLF files) is removed.
pub fn lines(text: &str) -> impl Iterator<Item = (u64, &str)> {
    // A final newline ends the last line; it does not start an empty one.
    let body = text.strip_suffix('\n').unwrap_or(text);
    let empty = text.is_empty();
    body.split('\n')
        .filter(move |_| !empty)
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l.strip_suffix('\r').unwrap_or(l)))
}

/// Shorten raw text kept in rejects so one 10 MB line cannot bloat the artifact.
pub fn truncate_raw(raw: &str, limit: usize) -> String {
    if raw.len() <= limit {
        return raw.to_string();
    }
    let mut end = limit;
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &raw[..end], raw.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_names_line_and_column() {
        let err = decode(
            Path::new("f.txt"),
            b"ok\nab\xFFc\n".to_vec(),
            Encoding::Utf8,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("f.txt:2: invalid UTF-8 at byte 3"), "{err}");
        assert!(err.contains("0xff"), "{err}");
    }

    #[test]
    fn auto_falls_back_to_windows_1252() {
        let d = decode(
            Path::new("f"),
            b"caf\xE9 \x93q\x94".to_vec(),
            Encoding::Auto,
        )
        .unwrap();
        assert_eq!(d.text, "café \u{201C}q\u{201D}");
        assert!(d.fell_back);
        let d = decode(
            Path::new("f"),
            b"\xEF\xBB\xBFcaf\xC3\xA9".to_vec(),
            Encoding::Auto,
        )
        .unwrap();
        assert_eq!(d.text, "café");
        assert!(!d.fell_back);
    }

    #[test]
    fn latin1_maps_bytes_to_code_points() {
        let d = decode(Path::new("f"), b"\xE9\x80".to_vec(), Encoding::Latin1).unwrap();
        assert_eq!(d.text, "é\u{80}");
    }

    #[test]
    fn lines_strip_cr_and_final_newline() {
        let got: Vec<_> = lines("a\r\nb\n\nc\n").collect();
        assert_eq!(got, vec![(1, "a"), (2, "b"), (3, ""), (4, "c")]);
    }
}
