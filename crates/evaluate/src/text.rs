//! Plain-text helpers shared by `predict` and the probes: punctuation as BERT's
//! pre-tokenizer sees it, and splitting raw text into words with character offsets.

/// Whether `c` is punctuation: ASCII punctuation (which BERT treats as punctuation even where
/// Unicode calls it a symbol, like `$` and `^`) and the Unicode punctuation blocks.
pub fn is_punct(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(c,
            '\u{00A1}' | '\u{00A7}' | '\u{00AB}' | '\u{00B6}' | '\u{00B7}' | '\u{00BB}' | '\u{00BF}'
            | '\u{2010}'..='\u{2027}'
            | '\u{2030}'..='\u{205E}'
            | '\u{3001}'..='\u{3003}'
            | '\u{3008}'..='\u{3011}'
            | '\u{3014}'..='\u{301F}'
            | '\u{FF01}'..='\u{FF0F}'
            | '\u{FF1A}'..='\u{FF20}'
            | '\u{FF3B}'..='\u{FF40}'
            | '\u{FF5B}'..='\u{FF65}')
}

/// Whether every character of `word` is punctuation (and there is at least one).
pub fn is_punct_word(word: &str) -> bool {
    !word.is_empty() && word.chars().all(is_punct)
}

/// A word of raw text with its position, in characters (not bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The word.
    pub text: String,
    /// Character offset of its first character.
    pub start: usize,
    /// Character offset one past its last character.
    pub end: usize,
}

/// Splits text the way BERT's pre-tokenizer does: whitespace separates words and every
/// punctuation character is a word of its own; offsets are character offsets.
pub fn split_words(text: &str) -> Vec<Word> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    let flush = |current: &mut String, start: usize, end: usize, words: &mut Vec<Word>| {
        if !current.is_empty() {
            words.push(Word {
                text: std::mem::take(current),
                start,
                end,
            });
        }
    };
    let mut n = 0;
    for (i, c) in text.chars().enumerate() {
        n = i + 1;
        if c.is_whitespace() {
            flush(&mut current, start, i, &mut words);
        } else if is_punct(c) {
            flush(&mut current, start, i, &mut words);
            words.push(Word {
                text: c.to_string(),
                start: i,
                end: i + 1,
            });
        } else {
            if current.is_empty() {
                start = i;
            }
            current.push(c);
        }
    }
    flush(&mut current, start, n, &mut words);
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_character_offsets() {
        let text = "Zoë met O'Neil, in São Paulo!";
        let words = split_words(text);
        let texts: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "Zoë", "met", "O", "'", "Neil", ",", "in", "São", "Paulo", "!"
            ]
        );
        let chars: Vec<char> = text.chars().collect();
        for w in &words {
            let back: String = chars[w.start..w.end].iter().collect();
            assert_eq!(back, w.text);
        }
        assert!(split_words("  \t ").is_empty());
    }

    #[test]
    fn punctuation_words() {
        assert!(is_punct_word("..."));
        assert!(is_punct_word("“"));
        assert!(!is_punct_word("U.S."));
        assert!(!is_punct_word(""));
    }
}
