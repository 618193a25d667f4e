//! Where the bearer token comes from: `--token-file FILE` (`-` reads
//! standard input; one trailing newline is ignored), else `PAN_TOKEN` (the
//! token itself; empty means unset), else none (the manager then answers
//! `Unauthenticated`). The token never appears in an error.

use crate::client::Token;
use crate::error::{CliError, one_line};
use std::io::Read as _;
use std::path::Path;

/// The environment variable holding the token itself.
pub const TOKEN_ENV: &str = "PAN_TOKEN";

/// The token to send: `--token-file` wins over `PAN_TOKEN` (`env`).
pub fn resolve(file: Option<&Path>, env: Option<String>) -> Result<Option<Token>, CliError> {
    if let Some(path) = file {
        return read_token_file(path).map(Some);
    }
    let Some(text) = env else {
        return Ok(None);
    };
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    Token::new(text).map(Some).ok_or_else(|| {
        CliError::Usage(format!(
            "{TOKEN_ENV} holds characters a token cannot have (spaces, line breaks or non-ASCII); set it to the token alone (pan_…) or use --token-file FILE"
        ))
    })
}

/// Reads a token from `path` (`-`: standard input), ignoring one trailing
/// newline.
pub fn read_token_file(path: &Path) -> Result<Token, CliError> {
    let shown = path.display();
    let mut text = String::new();
    let read = if path == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|t| text = t)
    };
    read.map_err(|e| {
        let reason = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            std::io::ErrorKind::InvalidData => "not UTF-8 text".to_string(),
            std::io::ErrorKind::IsADirectory => "a directory".to_string(),
            _ => one_line(&e.to_string()),
        };
        CliError::Usage(format!(
            "cannot read the token file {shown} ({reason}); pass --token-file with a file holding a PAN token (pan_…), or set {TOKEN_ENV}"
        ))
    })?;
    let token = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if token.is_empty() {
        return Err(CliError::Usage(format!(
            "the token file {shown} is empty; write the token (pan_…) into it"
        )));
    }
    Token::new(token).ok_or_else(|| {
        CliError::Usage(format!(
            "the token file {shown} holds characters a token cannot have (spaces, more than one line or non-ASCII); write only the token (pan_…) into it"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_files::temp_file as temp;

    fn usage(err: CliError) -> String {
        assert_eq!(err.exit_code(), 2, "{err}");
        err.to_string()
    }

    #[test]
    fn the_token_file_wins_over_pan_token() {
        let file = temp("wins", b"pan_file_token\n");
        let token = resolve(Some(&*file), Some("pan_env_token".into()))
            .unwrap()
            .unwrap();
        assert_eq!(token.expose(), "pan_file_token");
        let token = resolve(None, Some(" pan_env_token\n".into()))
            .unwrap()
            .unwrap();
        assert_eq!(token.expose(), "pan_env_token");
        assert_eq!(resolve(None, None).unwrap(), None);
        assert_eq!(resolve(None, Some(String::new())).unwrap(), None);
    }

    #[test]
    fn only_one_trailing_newline_is_ignored() {
        let crlf = temp("crlf", b"pan_a_b\r\n");
        assert_eq!(read_token_file(&crlf).unwrap().expose(), "pan_a_b");
        let bare = temp("bare", b"pan_a_b");
        assert_eq!(read_token_file(&bare).unwrap().expose(), "pan_a_b");
        let two = temp("two", b"pan_a_b\n\n");
        let text = usage(read_token_file(&two).unwrap_err());
        assert!(text.contains("more than one line"), "{text}");
        assert!(text.contains(&two.display().to_string()), "{text}");
    }

    #[test]
    fn unreadable_or_empty_token_files_are_usage_errors_naming_the_file() {
        let missing = Path::new("/nonexistent/pan.token");
        let text = usage(resolve(Some(missing), Some("pan_x".into())).unwrap_err());
        assert_eq!(
            text,
            "cannot read the token file /nonexistent/pan.token (no such file); pass --token-file with a file holding a PAN token (pan_…), or set PAN_TOKEN"
        );
        let empty = temp("empty", b"\n");
        let text = usage(read_token_file(&empty).unwrap_err());
        assert!(text.contains("is empty"), "{text}");
        assert!(text.contains(&empty.display().to_string()), "{text}");
        let dir = std::env::temp_dir();
        let text = usage(read_token_file(&dir).unwrap_err());
        assert!(text.starts_with("cannot read the token file"), "{text}");
    }

    #[test]
    fn errors_never_show_the_token() {
        let file = temp("spaces", b"pan_s3cret with spaces\n");
        let text = usage(read_token_file(&file).unwrap_err());
        assert!(!text.contains("s3cret"), "{text}");
        let text = usage(resolve(None, Some("pan_s3cret x".into())).unwrap_err());
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.starts_with("PAN_TOKEN holds"), "{text}");
    }
}
