//! Small formatting helpers for the dashboard: user text made visible, and
//! human durations.

use std::fmt;

use switchyard_protocol::text::is_refused;

/// Text that came from users (names, tags, labels), with the characters
/// they may not hold (bidi overrides, zero-width, controls) shown as their
/// code point, `⟨U+202E⟩`: the coordinator refuses them, but rows stored
/// before it did must not disguise themselves either. It is plain text:
/// the page's templates escape it like every other value.
#[derive(Debug, Clone, Copy)]
pub struct Visible<'a>(pub &'a str);

impl fmt::Display for Visible<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(is_refused) {
            f.write_str(&rest[..i])?;
            let c = rest[i..].chars().next().unwrap_or_default();
            write!(f, "⟨U+{:04X}⟩", u32::from(c))?;
            rest = &rest[i + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// `12 s`, `3 min 04 s`, `2 h 05 min`, `3 d 04 h`.
pub fn duration(secs: f64) -> String {
    let secs = if secs.is_finite() && secs > 0.0 {
        secs as u64
    } else {
        0
    };
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {:02} s", secs / 60, secs % 60),
        3600..86400 => format!("{} h {:02} min", secs / 3600, secs % 3600 / 60),
        _ => format!("{} d {:02} h", secs / 86400, secs % 86400 / 3600),
    }
}

/// `text` fit for a URL's query or path: every byte but the unreserved
/// ones (`A-Z a-z 0-9 - . _ ~`) as `%XX`.
pub fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// A tag list as `a, b`, or `(any)` when empty.
pub fn tags(tags: &[String]) -> String {
    if tags.is_empty() {
        "(any)".to_owned()
    } else {
        tags.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use maud::html;

    use super::*;

    #[test]
    fn refused_characters_show_as_code_points() {
        assert_eq!(Visible("plain").to_string(), "plain");
        assert_eq!(
            Visible("txt\u{202E}exe.<i>").to_string(),
            "txt⟨U+202E⟩exe.<i>"
        );
        assert_eq!(Visible("a\u{200B}b\nc").to_string(), "a⟨U+200B⟩b⟨U+000A⟩c");
    }

    #[test]
    fn visible_text_is_escaped_on_the_page() {
        let name = "<b>\"Tom\" & 'Jerry'</b>\u{202E}";
        assert_eq!(
            html! { td { (Visible(name)) } }.into_string(),
            "<td>&lt;b&gt;&quot;Tom&quot; &amp; 'Jerry'&lt;/b&gt;⟨U+202E⟩</td>"
        );
    }

    #[test]
    fn only_unreserved_bytes_stay_as_they_are_in_urls() {
        assert_eq!(
            percent_encode("/tasks/7?x=a b&é"),
            "%2Ftasks%2F7%3Fx%3Da%20b%26%C3%A9"
        );
        assert_eq!(percent_encode("A-z_0.9~"), "A-z_0.9~");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(0.4), "0 s");
        assert_eq!(duration(59.9), "59 s");
        assert_eq!(duration(184.0), "3 min 04 s");
        assert_eq!(duration(7500.0), "2 h 05 min");
        assert_eq!(duration(3.0 * 86400.0 + 4.0 * 3600.0), "3 d 04 h");
        assert_eq!(duration(f64::NAN), "0 s");
    }
}
