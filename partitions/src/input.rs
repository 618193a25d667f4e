//! Input checks the API applies before a request goes anywhere: object names
//! and free text.
//!
//! One validator for every user-facing name (partitions, principals, servers,
//! volumes, pools, …) so the rules cannot drift between objects: 1 to 63
//! characters, starting with a letter or digit, then letters, digits, `-`,
//! `_` and `.`. That refuses control characters, path separators (`/`, `\`),
//! whitespace, `..`, and anything non-ASCII (look-alike names). The rules and
//! messages are the ones the state machine already applies, so it can call
//! [`check_name`] instead of its own copy.
//!
//! Pure functions over values; this module must never do I/O.

use std::fmt;

/// Longest accepted name, in bytes (names are ASCII, so also characters).
pub const MAX_NAME_LEN: usize = 63;

/// Longest accepted free text (descriptions), in bytes.
pub const MAX_TEXT_LEN: usize = 1024;

/// How much of an oversized or hostile input an error message quotes.
const QUOTE_LEN: usize = 64;

/// A refused input, with the field it came from and what to do instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    /// A name broke the naming rules.
    #[error("invalid {kind} name {}: {reason}", Quoted(.name))]
    Name {
        /// What the name is for: "partition", "principal", "server", …
        kind: String,
        /// The refused name as given (messages quote at most 64 characters).
        name: String,
        /// Which rule it broke and what to use instead.
        reason: String,
    },
    /// Free text (a description) was too long or held control characters.
    #[error("invalid {field}: {reason}")]
    Text {
        /// The request field, e.g. "description".
        field: String,
        /// Which rule it broke and what to use instead.
        reason: String,
    },
}

/// Debug-quotes a user string for a message, cut to [`QUOTE_LEN`] characters,
/// so control characters are escaped and a megabyte of input does not become
/// a megabyte of log line.
pub(crate) struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        match s.char_indices().nth(QUOTE_LEN) {
            None => write!(f, "{s:?}"),
            Some((cut, _)) => write!(f, "{:?}… ({} bytes)", &s[..cut], s.len()),
        }
    }
}

/// Checks a user-facing object name; `kind` names the object in the error
/// ("partition", "principal", …).
pub fn check_name(kind: &str, name: &str) -> Result<(), InvalidInput> {
    let invalid = |reason: String| InvalidInput::Name {
        kind: kind.to_string(),
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid(format!(
            "it is empty; use 1 to {MAX_NAME_LEN} characters"
        )));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(invalid(format!(
            "it is {} characters long; use at most {MAX_NAME_LEN}",
            name.len()
        )));
    }
    if !name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
    {
        return Err(invalid("it must start with a letter or digit".to_string()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(invalid(format!(
            "character {c:?} is not allowed; use letters, digits, '-', '_' and '.'"
        )));
    }
    Ok(())
}

/// Checks free text such as a description: at most [`MAX_TEXT_LEN`] bytes and
/// no control characters (they would corrupt terminals, the TUI's tables and
/// log lines; escape sequences could even rewrite an operator's screen).
pub fn check_text(field: &str, text: &str) -> Result<(), InvalidInput> {
    let invalid = |reason: String| InvalidInput::Text {
        field: field.to_string(),
        reason,
    };
    if text.len() > MAX_TEXT_LEN {
        return Err(invalid(format!(
            "it is {} bytes long; use at most {MAX_TEXT_LEN}",
            text.len()
        )));
    }
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(invalid(format!(
            "control character {c:?} is not allowed; use a single line of printable text"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn refused_name(name: &str, reason_has: &str) {
        let err = check_name("partition", name).expect_err(name);
        let InvalidInput::Name {
            kind,
            name: n,
            reason,
        } = &err
        else {
            panic!("expected a name error, got {err:?}");
        };
        assert_eq!((kind.as_str(), n.as_str()), ("partition", name));
        assert!(
            reason.contains(reason_has),
            "{reason:?} lacks {reason_has:?}"
        );
        assert!(
            err.to_string().starts_with("invalid partition name "),
            "{err}"
        );
    }

    #[test]
    fn good_names_pass() {
        for name in ["a", "acme", "web-1", "db_2", "v1.2", "0", &"x".repeat(63)] {
            check_name("partition", name).unwrap();
        }
    }

    #[test]
    fn bad_names_are_refused_with_the_rule_they_broke() {
        refused_name("", "it is empty; use 1 to 63 characters");
        refused_name(&"x".repeat(64), "it is 64 characters long; use at most 63");
        refused_name("-acme", "it must start with a letter or digit");
        refused_name(".", "it must start with a letter or digit");
        refused_name("..", "it must start with a letter or digit");
        refused_name("a/b", "character '/' is not allowed");
        refused_name("a\\b", "character '\\\\' is not allowed");
        refused_name("a b", "character ' ' is not allowed");
        refused_name("a\nb", "character '\\n' is not allowed");
        refused_name("a\u{1b}[2J", "character '\\u{1b}' is not allowed");
        refused_name("a\0", "character '\\0' is not allowed");
        refused_name("acmé", "character 'é' is not allowed");
        // Cyrillic 'а' looks like Latin 'a'.
        refused_name("\u{430}cme", "it must start with a letter or digit");
    }

    #[test]
    fn messages_quote_hostile_input_escaped_and_cut() {
        let huge = "é".repeat(100_000);
        let message = check_name("server", &huge).unwrap_err().to_string();
        assert!(message.len() < 400, "{} bytes", message.len());
        assert!(message.contains("… (200000 bytes)"), "{message}");

        let message = check_name("server", "a\u{1b}[31m").unwrap_err().to_string();
        assert!(!message.contains('\u{1b}'), "{message:?}");
        assert!(
            message.starts_with(r#"invalid server name "a\u{1b}[31m": "#),
            "{message}"
        );
    }

    #[test]
    fn text_is_checked_for_length_and_control_characters() {
        check_text("description", "").unwrap();
        check_text("description", "Acme's web tier — production").unwrap();
        check_text("description", &"x".repeat(MAX_TEXT_LEN)).unwrap();

        let err = check_text("description", &"x".repeat(MAX_TEXT_LEN + 1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid description: it is 1025 bytes long; use at most 1024"
        );
        let err = check_text("description", "two\nlines").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid description: control character '\\n' is not allowed; \
             use a single line of printable text"
        );
        assert!(check_text("description", "bell\u{7}").is_err());
        assert!(check_text("description", "csi\u{9b}").is_err());
    }
}
