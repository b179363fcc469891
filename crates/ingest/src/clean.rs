//! Text cleaning: Unicode normalisation, removal of control and invisible format characters,
//! whitespace collapsing and trimming. Applied to every text, label and token.

use std::borrow::Cow;

use unicode_normalization::UnicodeNormalization;

use crate::params::Normalize;

/// Cleaning settings.
#[derive(Debug, Clone, Copy)]
pub struct Cleaner {
    /// Normalisation form.
    pub normalize: Normalize,
    /// Remove control (Cc) and invisible format (Cf: zero-width, bidi marks, BOM) characters.
    pub strip_control: bool,
    /// Collapse whitespace runs to one space.
    pub collapse_whitespace: bool,
}

impl Default for Cleaner {
    fn default() -> Self {
        Self {
            normalize: Normalize::Nfc,
            strip_control: true,
            collapse_whitespace: true,
        }
    }
}

/// Invisible characters removed by cleaning besides Cc: the zero-width and formatting
/// characters of Unicode category Cf that occur in scraped text.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

impl Cleaner {
    /// Clean one text. The result may be empty (the caller rejects or drops it).
    pub fn clean(&self, text: &str) -> String {
        // Fast path: plain printable ASCII with single inner spaces is already clean.
        let bytes = text.as_bytes();
        if bytes
            .iter()
            .all(|&b| (0x21..0x7F).contains(&b) || b == b' ')
            && !text.starts_with(' ')
            && !text.ends_with(' ')
            && !text.contains("  ")
        {
            return text.to_string();
        }
        let normalized: Cow<'_, str> = if text.is_ascii() {
            Cow::Borrowed(text)
        } else {
            match self.normalize {
                Normalize::Nfc => Cow::Owned(text.nfc().collect()),
                Normalize::Nfkc => Cow::Owned(text.nfkc().collect()),
                Normalize::None => Cow::Borrowed(text),
            }
        };
        let mut out = String::with_capacity(normalized.len());
        let mut pending_space = false;
        for c in normalized.chars() {
            if c.is_whitespace() {
                if self.collapse_whitespace {
                    pending_space = !out.is_empty();
                } else if !out.is_empty() {
                    out.push(if c.is_control() { ' ' } else { c });
                }
                continue;
            }
            if self.strip_control && (c.is_control() || is_invisible(c)) {
                continue;
            }
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
        if !self.collapse_whitespace {
            let trimmed = out.trim_end().len();
            out.truncate(trimmed);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_strips_and_collapses() {
        let c = Cleaner::default();
        assert_eq!(c.clean("  a\u{200B}b \t\u{00A0} c\u{0007}  "), "ab c");
        assert_eq!(c.clean("e\u{0301}"), "é");
        assert_eq!(c.clean("plain text"), "plain text");
        assert_eq!(c.clean("\u{FEFF}\u{200B}"), "");
        // U+FFFD is a visible stand-in for a lost character: kept.
        assert_eq!(c.clean("\u{FFFD}"), "\u{FFFD}");
    }

    #[test]
    fn nfkc_and_no_collapse() {
        let c = Cleaner {
            normalize: Normalize::Nfkc,
            strip_control: false,
            collapse_whitespace: false,
        };
        assert_eq!(c.clean("ｆｉ  x\u{200B} "), "fi  x\u{200B}");
    }
}
