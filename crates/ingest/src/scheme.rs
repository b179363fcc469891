//! Tag schemes: parsing tags, detecting the scheme of a corpus and converting any supported
//! scheme to IOB2, repairing invalid sequences the way conlleval reads them.
//!
//! One decoder serves every scheme. A tag's prefix has a role: `B` begins, `I`/`M` continue,
//! `E`/`L` end, `S`/`U` are single-token entities. A chunk starts at a begin or single tag,
//! or at a continue/end tag that cannot continue the previous chunk (after `O`, after a chunk
//! that ended, or with another type) — conlleval's reading. A chunk start or end that the
//! declared scheme does not allow counts as one repair.

use flowcore::TagScheme;

/// What a tag prefix does inside a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Begin,
    Inside,
    End,
    Single,
}

/// A parsed tag: `O`, or a prefix letter and an entity type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag<'a> {
    /// Outside any entity.
    Outside,
    /// A prefix (`B`, `I`, `E`, `S`, `M`, `L`, `U`) and the entity type.
    Entity(char, &'a str),
}

/// Parse `O` or `<P>-<TYPE>`; `None` for anything else.
pub fn parse_tag(tag: &str) -> Option<Tag<'_>> {
    if tag == "O" {
        return Some(Tag::Outside);
    }
    let (prefix, typ) = tag.split_once('-')?;
    let mut chars = prefix.chars();
    let p = chars.next()?;
    if chars.next().is_some() || typ.is_empty() || !"BIESMLU".contains(p) {
        return None;
    }
    Some(Tag::Entity(p, typ))
}

/// The prefixes a scheme uses.
pub fn prefixes(scheme: TagScheme) -> &'static str {
    match scheme {
        TagScheme::Iob1 | TagScheme::Iob2 => "BI",
        TagScheme::Ioe1 | TagScheme::Ioe2 => "IE",
        TagScheme::Iobes => "BIES",
        TagScheme::Bilou => "BILU",
        TagScheme::Bmes => "BMES",
    }
}

fn role(p: char) -> Role {
    match p {
        'B' => Role::Begin,
        'I' | 'M' => Role::Inside,
        'E' | 'L' => Role::End,
        _ => Role::Single,
    }
}

/// Why a sentence's tags cannot be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadTag {
    /// Index of the token.
    pub index: usize,
    /// The tag.
    pub tag: String,
    /// What was expected.
    pub expected: String,
}

/// An open chunk: the roles of its first and last tags.
struct Chunk {
    first: Role,
    last: Role,
}

/// Convert tags in `scheme` to IOB2. Returns the tags and the number of repairs.
pub fn to_iob2(tags: &[String], scheme: TagScheme) -> Result<(Vec<String>, u64), BadTag> {
    let allowed = prefixes(scheme);
    let mut out = Vec::with_capacity(tags.len());
    let mut repairs = 0;
    let mut open: Option<(Chunk, &str)> = None;
    let close = |chunk: Chunk, repairs: &mut u64| {
        if !end_ok(scheme, chunk.first, chunk.last) {
            *repairs += 1;
        }
    };
    for (index, raw) in tags.iter().enumerate() {
        let tag = parse_tag(raw).ok_or_else(|| BadTag {
            index,
            tag: raw.clone(),
            expected: format!("`O` or `<prefix>-<TYPE>` with a prefix of {allowed}"),
        })?;
        match tag {
            Tag::Outside => {
                if let Some((chunk, _)) = open.take() {
                    close(chunk, &mut repairs);
                }
                out.push("O".to_string());
            }
            Tag::Entity(p, typ) => {
                if !allowed.contains(p) {
                    return Err(BadTag {
                        index,
                        tag: raw.clone(),
                        expected: format!(
                            "a prefix of {allowed} for scheme {scheme:?} (set `scheme` if the detection is wrong)"
                        ),
                    });
                }
                let r = role(p);
                let continues = matches!(r, Role::Inside | Role::End)
                    && open.as_ref().is_some_and(|(c, t)| {
                        *t == typ && matches!(c.last, Role::Begin | Role::Inside)
                    });
                if continues {
                    if let Some((c, _)) = open.as_mut() {
                        c.last = r;
                    }
                    out.push(format!("I-{typ}"));
                } else {
                    if let Some((chunk, _)) = open.take() {
                        close(chunk, &mut repairs);
                    }
                    if !start_ok(scheme, r) {
                        repairs += 1;
                    }
                    open = Some((Chunk { first: r, last: r }, typ));
                    out.push(format!("B-{typ}"));
                }
            }
        }
    }
    if let Some((chunk, _)) = open.take() {
        close(chunk, &mut repairs);
    }
    Ok((out, repairs))
}

/// Whether a chunk may start with this role in the scheme.
fn start_ok(scheme: TagScheme, r: Role) -> bool {
    match scheme {
        TagScheme::Iob1 | TagScheme::Ioe1 | TagScheme::Ioe2 => true,
        TagScheme::Iob2 => r == Role::Begin,
        TagScheme::Iobes | TagScheme::Bilou | TagScheme::Bmes => {
            matches!(r, Role::Begin | Role::Single)
        }
    }
}

/// Whether a chunk may end with this role in the scheme.
fn end_ok(scheme: TagScheme, first: Role, last: Role) -> bool {
    match scheme {
        TagScheme::Iob1 | TagScheme::Iob2 | TagScheme::Ioe1 => true,
        TagScheme::Ioe2 => last == Role::End,
        TagScheme::Iobes | TagScheme::Bilou | TagScheme::Bmes => {
            last == Role::End || (first == Role::Single && last == Role::Single)
        }
    }
}

/// Detect the scheme from the tag sequences of a corpus (unknown tags are ignored here and
/// rejected during conversion).
pub fn detect<'a>(sentences: impl Iterator<Item = &'a [String]>) -> TagScheme {
    let mut seen = std::collections::BTreeSet::new();
    let mut b_after_outside = false;
    let mut i_chunk_without_e = false;
    for tags in sentences {
        let mut prev: Option<Tag<'_>> = None;
        for raw in tags {
            let tag = parse_tag(raw);
            if let Some(Tag::Entity(p, typ)) = tag {
                seen.insert(p);
                let same_before = matches!(prev, Some(Tag::Entity(q, t)) if t == typ && q != 'E');
                if p == 'B' && !same_before {
                    b_after_outside = true;
                }
            }
            // An I-chunk that ends without E marks IOE1 (IOE2 ends every chunk with E).
            if let Some(Tag::Entity('I', t)) = prev {
                let continues =
                    matches!(tag, Some(Tag::Entity(q, u)) if u == t && (q == 'I' || q == 'E'));
                if !continues {
                    i_chunk_without_e = true;
                }
            }
            prev = tag;
        }
        if let Some(Tag::Entity('I', _)) = prev {
            i_chunk_without_e = true;
        }
    }
    let has = |p: char| seen.contains(&p);
    if has('M') {
        TagScheme::Bmes
    } else if has('L') || has('U') {
        TagScheme::Bilou
    } else if has('S') || (has('B') && has('E')) {
        TagScheme::Iobes
    } else if has('E') {
        if i_chunk_without_e {
            TagScheme::Ioe1
        } else {
            TagScheme::Ioe2
        }
    } else if b_after_outside || !has('I') {
        TagScheme::Iob2
    } else {
        TagScheme::Iob1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    fn conv(s: &str, scheme: TagScheme) -> (String, u64) {
        let (tags, repairs) = to_iob2(&v(s), scheme).unwrap();
        (tags.join(" "), repairs)
    }

    #[test]
    fn every_scheme_converts_to_iob2() {
        let want = "B-PER I-PER O B-LOC B-LOC I-LOC";
        assert_eq!(
            conv("I-PER I-PER O I-LOC B-LOC I-LOC", TagScheme::Iob1),
            (want.into(), 0)
        );
        assert_eq!(conv(want, TagScheme::Iob2), (want.into(), 0));
        assert_eq!(
            conv("I-PER I-PER O E-LOC I-LOC I-LOC", TagScheme::Ioe1),
            (want.into(), 0)
        );
        assert_eq!(
            conv("I-PER E-PER O E-LOC I-LOC E-LOC", TagScheme::Ioe2),
            (want.into(), 0)
        );
        assert_eq!(
            conv("B-PER E-PER O S-LOC B-LOC E-LOC", TagScheme::Iobes),
            (want.into(), 0)
        );
        assert_eq!(
            conv("B-PER L-PER O U-LOC B-LOC L-LOC", TagScheme::Bilou),
            (want.into(), 0)
        );
        assert_eq!(
            conv("B-PER E-PER O S-LOC B-LOC E-LOC", TagScheme::Bmes),
            (want.into(), 0)
        );
        assert_eq!(
            conv("B-PER M-PER E-PER", TagScheme::Bmes),
            ("B-PER I-PER I-PER".into(), 0)
        );
    }

    #[test]
    fn invalid_sequences_are_repaired_and_counted() {
        // I after O, and a type change inside an entity.
        assert_eq!(
            conv("O I-PER I-PER B-LOC I-ORG", TagScheme::Iob2),
            ("O B-PER I-PER B-LOC B-ORG".into(), 2)
        );
        // IOBES chunk that never ends, and one that starts with I.
        assert_eq!(
            conv("B-PER O I-LOC E-LOC", TagScheme::Iobes),
            ("B-PER O B-LOC I-LOC".into(), 2)
        );
    }

    #[test]
    fn unknown_tags_and_foreign_prefixes_are_errors() {
        let err = to_iob2(&v("O B_PER"), TagScheme::Iob2).unwrap_err();
        assert_eq!((err.index, err.tag.as_str()), (1, "B_PER"));
        let err = to_iob2(&v("O S-PER"), TagScheme::Iob2).unwrap_err();
        assert_eq!(err.index, 1);
        assert!(to_iob2(&v("X"), TagScheme::Iob2).is_err());
    }

    #[test]
    fn detection() {
        let d = |s: &str| detect(std::iter::once(v(s).as_slice()));
        assert_eq!(d("O B-PER I-PER O I-LOC"), TagScheme::Iob2);
        assert_eq!(d("O I-PER I-PER O I-LOC B-LOC"), TagScheme::Iob1);
        assert_eq!(d("O I-PER E-PER O E-LOC"), TagScheme::Ioe2);
        assert_eq!(d("O I-PER I-PER O E-LOC I-LOC"), TagScheme::Ioe1);
        assert_eq!(d("S-PER O B-LOC E-LOC"), TagScheme::Iobes);
        assert_eq!(d("U-PER O B-LOC L-LOC"), TagScheme::Bilou);
        assert_eq!(d("B-PER M-PER E-PER"), TagScheme::Bmes);
        assert_eq!(d("O O"), TagScheme::Iob2);
    }
}
