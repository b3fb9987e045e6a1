//! Which characters each kind of text may hold: tags, labels, names,
//! principals and their tokens.
//!
//! PostgreSQL text cannot hold NUL, so nothing may. Beyond that it depends
//! on who reads the text: a program gets argv and environment values as
//! they are; names the system uses (paths, variable names) hold no control
//! characters; text people read in listings and on the dashboard (labels,
//! worker names, token labels, idempotency keys) holds no control, format or
//! other invisible character ([`switchyard_protocol::text`] lists them), so
//! it cannot pass for something it is not. Tags and principal names use a
//! small ASCII set.

use switchyard_protocol::CreateToken;
use switchyard_protocol::limits::*;
use switchyard_protocol::text::{
    BOOTSTRAP_ADMIN, first_refused, is_principal_name_char, is_tag_char,
};

use super::{ValidationError, invalid};

/// What a piece of text is for, and so what it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Text {
    /// Handed to a program as it is (argv, environment values): anything
    /// but NUL.
    Program,
    /// Used by the system (a path, a variable name): no control characters.
    System,
    /// Read by people: no control, format or invisible characters.
    Visible,
}

/// Checks that `value` is 1 to `max` bytes (`what` names it in the
/// message: "a label") of what text of its kind may hold.
pub(super) fn bounded_text(
    field: &str,
    what: &str,
    value: &str,
    max: usize,
    kind: Text,
) -> Result<(), ValidationError> {
    if value.is_empty() || value.len() > max {
        return Err(invalid(field, format!("{what} is 1 to {max} bytes")));
    }
    check_text(field, value, kind)
}

/// Checks that `value` holds only what text of its kind may.
pub(super) fn check_text(field: &str, value: &str, kind: Text) -> Result<(), ValidationError> {
    if value.contains('\0') {
        return Err(invalid(field, "must not contain NUL characters"));
    }
    match kind {
        Text::Program => Ok(()),
        Text::System if value.chars().any(char::is_control) => {
            Err(invalid(field, "must not contain control characters"))
        }
        Text::System => Ok(()),
        Text::Visible => match first_refused(value) {
            Some(c) => Err(invalid(
                field,
                format!(
                    "must not contain control, format (bidi, zero-width) or invisible \
                     characters; found U+{:04X}",
                    u32::from(c)
                ),
            )),
            None => Ok(()),
        },
    }
}

/// Checks a tag list and returns it sorted and deduplicated. A tag is ASCII
/// letters, digits and a little punctuation, so no invisible character can
/// hide in one.
pub fn tags(field: &str, tags: &[String]) -> Result<Vec<String>, ValidationError> {
    if tags.len() > MAX_TAGS {
        return Err(invalid(field, format!("at most {MAX_TAGS} tags")));
    }
    for (i, tag) in tags.iter().enumerate() {
        let field = format!("{field}[{i}]");
        if tag.is_empty() || tag.len() > MAX_TAG_BYTES {
            return Err(invalid(
                field,
                format!("a tag is 1 to {MAX_TAG_BYTES} bytes"),
            ));
        }
        if !tag.chars().all(is_tag_char) {
            return Err(invalid(
                field,
                "a tag uses only letters, digits and - _ . : / = + @",
            ));
        }
    }
    let mut sorted = tags.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    Ok(sorted)
}

/// Checks a tag a listing filters by (field `tag`): what a task's tag may
/// be, or it could match nothing.
pub fn tag_filter(tag: &str) -> Result<(), ValidationError> {
    tags("tag", &[tag.to_owned()]).map_err(|e| invalid("tag", e.message))?;
    Ok(())
}

/// Checks one label: 1 to [`MAX_LABEL_BYTES`] bytes of visible text.
pub fn label(field: &str, label: &str) -> Result<(), ValidationError> {
    bounded_text(field, "a label", label, MAX_LABEL_BYTES, Text::Visible)
}

/// Checks a principal's name (field `name`): 1 to
/// [`MAX_PRINCIPAL_NAME_BYTES`] ASCII letters, digits and `- _ . @`.
pub fn principal_name(name: &str) -> Result<(), ValidationError> {
    if name.is_empty()
        || name.len() > MAX_PRINCIPAL_NAME_BYTES
        || !name.chars().all(is_principal_name_char)
    {
        return Err(invalid(
            "name",
            format!("1 to {MAX_PRINCIPAL_NAME_BYTES} bytes of letters, digits and - _ . @"),
        ));
    }
    if name == BOOTSTRAP_ADMIN {
        return Err(invalid("name", format!("{BOOTSTRAP_ADMIN} is reserved")));
    }
    Ok(())
}

/// Checks a request for a token: its label is visible text of at most
/// [`MAX_TOKEN_LABEL_BYTES`], its lifetime 1 s to [`MAX_TOKEN_LIFETIME_SECS`].
pub fn token_request(request: &CreateToken) -> Result<(), ValidationError> {
    if let Some(label) = &request.label {
        bounded_text(
            "label",
            "a token label",
            label,
            MAX_TOKEN_LABEL_BYTES,
            Text::Visible,
        )?;
    }
    if request
        .expires_in_secs
        .is_some_and(|secs| !(1..=MAX_TOKEN_LIFETIME_SECS).contains(&secs))
    {
        return Err(invalid(
            "expires_in_secs",
            format!("1 to {MAX_TOKEN_LIFETIME_SECS} seconds (ten years)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ends of every refused range but NUL (the table itself is
    /// checked against Unicode's categories in `protocol::text`).
    fn disguises() -> impl Iterator<Item = char> {
        switchyard_protocol::text::REFUSED
            .iter()
            .flat_map(|&(low, high)| [low, high])
            .filter(|&c| c != '\0')
    }

    #[test]
    fn visible_text_refuses_every_disguise_and_names_it() {
        for c in disguises() {
            let text = format!("invoice{c}fdp.exe");
            let error = check_text("labels[0]", &text, Text::Visible).unwrap_err();
            assert_eq!(error.field, "labels[0]");
            assert!(
                error.message.contains(&format!("U+{:04X}", u32::from(c))),
                "{error}"
            );
            assert!(label("labels[0]", &text).is_err());
            // A program may be given any of them.
            assert!(check_text("argv[1]", &text, Text::Program).is_ok());
        }
        for fine in [
            "nightly",
            "Jörg's build",
            "夜間",
            "🚀 release",
            "heart ❤\u{FE0F}",
        ] {
            assert!(label("labels[0]", fine).is_ok(), "{fine}");
        }
        assert!(check_text("x", "a\nb", Text::Visible).is_err());
        assert!(check_text("x", "a\nb", Text::System).is_err());
        assert!(check_text("x", "a\nb", Text::Program).is_ok());
        assert!(check_text("x", "a\0b", Text::Program).is_err());
    }

    #[test]
    fn tags_cannot_hold_a_disguise_at_all() {
        for c in disguises() {
            let tag = format!("gpu{c}");
            let error = tags("tags", &[tag]).unwrap_err();
            assert_eq!(error.field, "tags[0]");
        }
        assert_eq!(
            tags("tags", &["a-b_c.d:e/f=g+h@i".into()]).unwrap(),
            ["a-b_c.d:e/f=g+h@i"]
        );
    }

    #[test]
    fn principal_names_and_token_labels() {
        assert!(principal_name("alice.smith@example-1").is_ok());
        for bad in ["", "has space", "a\u{202E}b", "ünïcode", &"a".repeat(65)] {
            assert_eq!(principal_name(bad).unwrap_err().field, "name", "{bad:?}");
        }
        assert!(principal_name(&"a".repeat(64)).is_ok());
        let token = |label: &str| CreateToken {
            label: Some(label.into()),
            expires_in_secs: None,
        };
        assert!(token_request(&token("laptop")).is_ok());
        assert!(token_request(&token(&"é".repeat(64))).is_ok());
        for bad in ["", "lap\u{200B}top", "a\tb", &"é".repeat(65)] {
            assert_eq!(
                token_request(&token(bad)).unwrap_err().field,
                "label",
                "{bad:?}"
            );
        }
        let forever = CreateToken {
            label: None,
            expires_in_secs: Some(MAX_TOKEN_LIFETIME_SECS + 1),
        };
        assert_eq!(
            token_request(&forever).unwrap_err().field,
            "expires_in_secs"
        );
    }
}
