//! Which characters the text people read may hold.
//!
//! Labels, worker names, token labels and idempotency keys appear in
//! listings and on the dashboard, where one user's text is read by others.
//! A character that draws nothing or reorders what follows lets such text
//! pass for something it is not (a bidi override shows `exe.txt` for
//! `txt.exe`; a zero-width space makes two labels that look the same), so
//! [`REFUSED`] lists what such text may not contain:
//!
//! - every control character (general category Cc);
//! - every format character (Cf): bidi embeddings, overrides, isolates and
//!   marks, zero-width spaces and joiners, the byte-order mark, invisible
//!   operators, tag characters, and the rarer ones of Arabic, Syriac,
//!   Mongolian, Kaithi, Egyptian hieroglyphs, shorthand and music notation;
//! - the line and paragraph separators (Zl, Zp), which break a listing's lines;
//! - letters and marks that draw nothing: the Hangul fillers, the Khmer
//!   inherent vowels, the braille blank and the combining grapheme joiner.
//!   Variation selectors (emoji need them, and Mongolian script its own)
//!   stay allowed.
//!
//! The price: emoji sequences joined with U+200D and words that need
//! U+200C (Persian, some Indic scripts) cannot be written in a label.
//! Program text (argv, environment) is passed on as it is, and may hold
//! any of these but NUL.
//!
//! Tags and principal names use a small ASCII set instead
//! ([`is_tag_char`], [`is_principal_name_char`]).

/// Cuts the start of `text` until it fits in `limit` bytes, on a character
/// boundary; says whether anything was cut. How the end of a task's output
/// is kept, by the agent and by the coordinator.
pub fn keep_tail(text: &mut String, limit: usize) -> bool {
    if text.len() <= limit {
        return false;
    }
    let start = text.ceil_char_boundary(text.len() - limit);
    text.drain(..start);
    true
}

/// Cuts the end of `text` until it fits in `limit` bytes, on a character
/// boundary. How an error text is kept.
pub fn keep_head(text: &mut String, limit: usize) {
    if text.len() > limit {
        let end = text.floor_char_boundary(limit);
        text.truncate(end);
    }
}

/// Character ranges (inclusive, sorted, disjoint) refused in text people
/// read. Unicode 18.0's Cf lies wholly inside them; unassigned code points
/// inside a block of format characters are refused with it.
pub const REFUSED: &[(char, char)] = &[
    ('\u{0000}', '\u{001F}'),   // C0 controls (Cc)
    ('\u{007F}', '\u{009F}'),   // DEL and C1 controls (Cc)
    ('\u{00AD}', '\u{00AD}'),   // soft hyphen (Cf)
    ('\u{034F}', '\u{034F}'),   // combining grapheme joiner (draws nothing)
    ('\u{0600}', '\u{0605}'),   // Arabic number signs (Cf)
    ('\u{061C}', '\u{061C}'),   // Arabic letter mark (Cf)
    ('\u{06DD}', '\u{06DD}'),   // Arabic end of ayah (Cf)
    ('\u{070F}', '\u{070F}'),   // Syriac abbreviation mark (Cf)
    ('\u{0890}', '\u{0891}'),   // Arabic pound and piastre marks above (Cf)
    ('\u{08E2}', '\u{08E2}'),   // Arabic disputed end of ayah (Cf)
    ('\u{115F}', '\u{1160}'),   // Hangul choseong and jungseong fillers (draw nothing)
    ('\u{17B4}', '\u{17B5}'),   // Khmer inherent vowels (draw nothing)
    ('\u{180E}', '\u{180E}'),   // Mongolian vowel separator (Cf)
    ('\u{200B}', '\u{200F}'),   // zero-width space, non-joiner, joiner; LRM, RLM (Cf)
    ('\u{2028}', '\u{2029}'),   // line and paragraph separators (Zl, Zp)
    ('\u{202A}', '\u{202E}'),   // bidi embeddings, pop, overrides (Cf)
    ('\u{2060}', '\u{206F}'),   // word joiner, invisible operators, bidi isolates, deprecated (Cf)
    ('\u{2800}', '\u{2800}'),   // braille blank (draws nothing; a known trick for blank names)
    ('\u{3164}', '\u{3164}'),   // Hangul filler (draws nothing)
    ('\u{FEFF}', '\u{FEFF}'),   // zero-width no-break space, byte-order mark (Cf)
    ('\u{FFA0}', '\u{FFA0}'),   // halfwidth Hangul filler (draws nothing)
    ('\u{FFF0}', '\u{FFFB}'),   // reserved specials (invisible), interlinear annotation (Cf)
    ('\u{110BD}', '\u{110BD}'), // Kaithi number sign (Cf)
    ('\u{110CD}', '\u{110CD}'), // Kaithi number sign above (Cf)
    ('\u{13430}', '\u{1343F}'), // Egyptian hieroglyph format controls (Cf)
    ('\u{1BCA0}', '\u{1BCA3}'), // shorthand format controls (Cf)
    ('\u{1D173}', '\u{1D17A}'), // musical symbol beams, ties, slurs, phrases (Cf)
    ('\u{E0000}', '\u{E007F}'), // tag characters (Cf)
];

/// Whether `c` may not appear in text people read.
pub fn is_refused(c: char) -> bool {
    REFUSED
        .binary_search_by(|&(low, high)| {
            if high < c {
                std::cmp::Ordering::Less
            } else if low > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// The first character of `text` that it may not hold, if any.
pub fn first_refused(text: &str) -> Option<char> {
    text.chars().find(|&c| is_refused(c))
}

/// Punctuation a tag may use besides ASCII letters and digits.
pub const TAG_PUNCTUATION: &str = "-_.:/=+@";

/// Whether `c` may appear in a tag.
pub fn is_tag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || TAG_PUNCTUATION.contains(c)
}

/// The name the bootstrap admin acts as (owner of the tasks it submits,
/// registrar of its workers); no principal may take it.
pub const BOOTSTRAP_ADMIN: &str = "bootstrap-admin";

/// Punctuation a principal name may use besides ASCII letters and digits.
pub const PRINCIPAL_NAME_PUNCTUATION: &str = "-_.@";

/// Whether `c` may appear in a principal's name.
pub fn is_principal_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || PRINCIPAL_NAME_PUNCTUATION.contains(c)
}

/// Punctuation an agent's instance key may use besides ASCII letters and digits.
pub const INSTANCE_KEY_PUNCTUATION: &str = "-_";

/// Whether `c` may appear in an agent's instance key.
pub fn is_instance_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || INSTANCE_KEY_PUNCTUATION.contains(c)
}

/// One character inside a regular expression's character class: `\uXXXX`
/// in the Basic Multilingual Plane (ECMA-262 and most engines read it), the
/// character itself above it (no escape for those is portable).
fn class_char(c: char, out: &mut String) {
    use std::fmt::Write;
    if u32::from(c) <= 0xFFFF {
        let _ = write!(out, "\\u{:04X}", u32::from(c));
    } else {
        out.push(c);
    }
}

/// An ECMA-262 pattern (as JSON Schema's `pattern` takes it) that matches
/// text holding no [`REFUSED`] character.
pub fn visible_text_pattern() -> String {
    let mut pattern = String::from("^[^");
    for &(low, high) in REFUSED {
        class_char(low, &mut pattern);
        if high != low {
            pattern.push('-');
            class_char(high, &mut pattern);
        }
    }
    pattern.push_str("]*$");
    pattern
}

/// An ECMA-262 pattern of one or more ASCII letters, digits or characters
/// of `punctuation`.
fn ascii_word_pattern(punctuation: &str) -> String {
    let mut pattern = String::from("^[A-Za-z0-9");
    // Inside a class only `\`, `]`, `^` and `-` mean something, and ECMA-262's
    // unicode mode refuses needless escapes: `-` goes last, where it cannot
    // make a range, and the others stand as they are.
    debug_assert!(!punctuation.contains(['\\', ']', '^']));
    pattern.extend(punctuation.chars().filter(|&c| c != '-'));
    if punctuation.contains('-') {
        pattern.push('-');
    }
    pattern.push_str("]+$");
    pattern
}

/// The pattern of a tag.
pub fn tag_pattern() -> String {
    ascii_word_pattern(TAG_PUNCTUATION)
}

/// The pattern of a principal's name.
pub fn principal_name_pattern() -> String {
    ascii_word_pattern(PRINCIPAL_NAME_PUNCTUATION)
}

/// The pattern of an agent's instance key.
pub fn instance_key_pattern() -> String {
    ascii_word_pattern(INSTANCE_KEY_PUNCTUATION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_disjoint() {
        for &(low, high) in REFUSED {
            assert!(low <= high, "{low:?}..{high:?}");
        }
        for pair in REFUSED.windows(2) {
            assert!(pair[0].1 < pair[1].0, "{pair:?}");
        }
    }

    #[test]
    fn bidi_zero_width_and_controls_are_refused_and_text_is_not() {
        for c in [
            '\u{202E}',
            '\u{202A}',
            '\u{2066}',
            '\u{2069}',
            '\u{200B}',
            '\u{200D}',
            '\u{200F}',
            '\u{2060}',
            '\u{2064}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{E0041}',
            '\u{E007F}',
            '\0',
            '\n',
            '\u{7F}',
            '\u{85}',
            '\u{2028}',
            '\u{3164}',
            '\u{1D17A}',
        ] {
            assert!(is_refused(c), "U+{:04X}", u32::from(c));
        }
        for c in [
            'a',
            'Z',
            ' ',
            '~',
            'é',
            'ß',
            'ж',
            'ש',
            'ع',
            '中',
            '😀',
            '\u{FE0F}',
            '\u{00A0}',
            '\u{2070}',
            '\u{E0080}',
            '\u{E0100}',
            '\u{10FFFF}',
        ] {
            assert!(!is_refused(c), "U+{:04X}", u32::from(c));
        }
        assert_eq!(first_refused("nightly"), None);
        assert_eq!(first_refused("night\u{202E}ly"), Some('\u{202E}'));
    }

    #[test]
    fn every_format_control_and_separator_character_is_refused() {
        use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
        let mut missing = Vec::new();
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let hidden = matches!(
                c.general_category(),
                GeneralCategory::Format
                    | GeneralCategory::Control
                    | GeneralCategory::LineSeparator
                    | GeneralCategory::ParagraphSeparator
            );
            if hidden && !is_refused(c) {
                missing.push(format!("U+{:04X}", u32::from(c)));
            }
        }
        assert!(
            missing.is_empty(),
            "Unicode {:?} has these outside the table: {missing:?}",
            unicode_properties::UNICODE_VERSION
        );
    }

    #[test]
    fn patterns_say_what_the_checks_say() {
        assert_eq!(tag_pattern(), "^[A-Za-z0-9_.:/=+@-]+$");
        assert_eq!(principal_name_pattern(), "^[A-Za-z0-9_.@-]+$");
        let visible = visible_text_pattern();
        assert!(visible.starts_with(r"^[^\u0000-\u001F\u007F-\u009F\u00AD"));
        assert!(visible.contains(r"\u202A-\u202E"), "{visible}");
        assert!(visible.ends_with("\u{E0000}-\u{E007F}]*$"), "{visible}");
    }

    #[test]
    fn tails_and_heads_are_cut_on_character_boundaries() {
        let mut text = "aéb".to_owned(); // 4 bytes: a, é (2), b
        assert!(!keep_tail(&mut text, 4));
        assert!(keep_tail(&mut text, 2));
        assert_eq!(text, "b", "half an é is dropped with it");
        let mut text = "aéb".to_owned();
        keep_head(&mut text, 2);
        assert_eq!(text, "a");
        let mut text = "ab".to_owned();
        keep_head(&mut text, 5);
        assert_eq!(text, "ab");
    }
}
