//! Where the client connects and with what token: the coordinator URLs,
//! the CA file, and finding the token without it ever being on the command
//! line (`SWITCHYARD_TOKEN`, else a token file).

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use switchyard_protocol::{Client, ClientError, ClientOptions};

/// Where the default token file lives, under the configuration folder.
const TOKEN_FILE: &str = "switchyard/token";

/// A token's secret. Its `Debug` does not show it, so it never reaches a
/// log or an error message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// The secret, to hand to the client.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(..)")
    }
}

/// Where the token comes from: the inputs of [`discover_token`], taken as
/// values so that tests need not touch the process's environment.
#[derive(Debug, Clone, Default)]
pub struct TokenSources {
    /// `SWITCHYARD_TOKEN`.
    pub env_token: Option<String>,
    /// `--token-file` / `SWITCHYARD_TOKEN_FILE`.
    pub token_file: Option<PathBuf>,
    /// `XDG_CONFIG_HOME`.
    pub xdg_config_home: Option<OsString>,
    /// `HOME`.
    pub home: Option<OsString>,
}

impl TokenSources {
    /// The sources of this process: its environment, and `token_file` from
    /// the command line.
    pub fn from_env(token_file: Option<PathBuf>) -> Self {
        Self {
            env_token: std::env::var("SWITCHYARD_TOKEN").ok(),
            token_file,
            xdg_config_home: std::env::var_os("XDG_CONFIG_HOME"),
            home: std::env::var_os("HOME"),
        }
    }

    /// The default token file: `$XDG_CONFIG_HOME/switchyard/token`, else
    /// `~/.config/switchyard/token`; `None` without a home folder.
    pub fn default_file(&self) -> Option<PathBuf> {
        let absolute = |dir: &OsString| Some(PathBuf::from(dir)).filter(|p| p.is_absolute());
        let config = match self.xdg_config_home.as_ref().and_then(absolute) {
            Some(dir) => dir,
            None => self.home.as_ref().and_then(absolute)?.join(".config"),
        };
        Some(config.join(TOKEN_FILE))
    }
}

/// A token found, and what to warn the user about it.
#[derive(Debug)]
pub struct FoundToken {
    pub token: Token,
    /// Set when the token file may be read by other users.
    pub warning: Option<String>,
}

/// Why the token could not be found or read (exit status 3).
#[derive(Debug, PartialEq, Eq)]
pub struct TokenError(pub String);

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TokenError {}

/// Finds the token: `SWITCHYARD_TOKEN` when set and not blank, else the
/// named token file (which must exist), else the default token file (which
/// may be missing: then there is no token). Blanks around it are trimmed.
pub fn discover_token(sources: &TokenSources) -> Result<Option<FoundToken>, TokenError> {
    if let Some(token) = sources.env_token.as_deref().map(str::trim)
        && !token.is_empty()
    {
        return Ok(Some(FoundToken {
            token: Token(token.to_owned()),
            warning: None,
        }));
    }
    if let Some(path) = &sources.token_file {
        return read_token_file(path).map(Some);
    }
    match sources.default_file() {
        Some(path) if path.exists() => read_token_file(&path).map(Some),
        _ => Ok(None),
    }
}

/// What to do when no token was found.
pub fn no_token_advice(sources: &TokenSources) -> String {
    let file = sources.default_file().map_or_else(
        || "~/.config/switchyard/token".to_owned(),
        |p| p.display().to_string(),
    );
    format!(
        "no token: set SWITCHYARD_TOKEN, or put a token in {file} (or name a file with \
         SWITCHYARD_TOKEN_FILE or --token-file)"
    )
}

fn read_token_file(path: &Path) -> Result<FoundToken, TokenError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        TokenError(format!(
            "cannot read the token file {}: {e}",
            path.display()
        ))
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(TokenError(format!(
            "the token file {} is empty: put a token in it, or set SWITCHYARD_TOKEN",
            path.display()
        )));
    }
    Ok(FoundToken {
        token: Token(token.to_owned()),
        warning: exposure_warning(path),
    })
}

/// A warning when the file at `path` may be read by its group or by others.
#[cfg(unix)]
fn exposure_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o044 != 0).then(|| {
        format!(
            "warning: the token file {} is readable by other users (mode {:o}): chmod 600 it",
            path.display(),
            mode & 0o777
        )
    })
}

#[cfg(not(unix))]
fn exposure_warning(_path: &Path) -> Option<String> {
    None
}

/// A client for `urls` (several: it follows their leader) trusting
/// `ca_file` when given, sending `token`.
pub fn client(
    urls: &[String],
    ca_file: Option<&Path>,
    token: &Token,
) -> Result<Client, ClientError> {
    let options = ClientOptions {
        ca_file: ca_file.map(Path::to_owned),
    };
    Ok(Client::with_failover(urls, &options)?.with_token(token.secret()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn sources(dir: &Path) -> TokenSources {
        TokenSources {
            env_token: None,
            token_file: None,
            xdg_config_home: None,
            home: Some(dir.as_os_str().to_owned()),
        }
    }

    fn write(path: &Path, text: &str, mode: u32) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    }

    fn found(sources: &TokenSources) -> FoundToken {
        discover_token(sources).unwrap().expect("a token")
    }

    #[test]
    fn the_environment_comes_first_and_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        write(
            &dir.path().join(".config/switchyard/token"),
            "from-file",
            0o600,
        );
        let mut sources = sources(dir.path());
        sources.env_token = Some("  from-env\n".to_owned());
        let token = found(&sources);
        assert_eq!(token.token.secret(), "from-env");
        assert!(token.warning.is_none());
        // A blank variable counts as unset.
        sources.env_token = Some(" ".to_owned());
        assert_eq!(found(&sources).token.secret(), "from-file");
    }

    #[test]
    fn a_named_file_beats_the_default_one_and_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        write(
            &dir.path().join(".config/switchyard/token"),
            "default",
            0o600,
        );
        let named = dir.path().join("named");
        write(&named, "\n named-token \n", 0o600);
        let mut sources = sources(dir.path());
        sources.token_file = Some(named);
        assert_eq!(found(&sources).token.secret(), "named-token");
        sources.token_file = Some(dir.path().join("missing"));
        let error = discover_token(&sources).unwrap_err();
        assert!(error.0.contains("cannot read the token file"), "{error}");
    }

    #[test]
    fn the_default_file_follows_xdg_config_home() {
        let home = tempfile::tempdir().unwrap();
        let xdg = tempfile::tempdir().unwrap();
        write(&home.path().join(".config/switchyard/token"), "home", 0o600);
        write(&xdg.path().join("switchyard/token"), "xdg", 0o600);
        let mut sources = sources(home.path());
        assert_eq!(found(&sources).token.secret(), "home");
        sources.xdg_config_home = Some(xdg.path().as_os_str().to_owned());
        assert_eq!(found(&sources).token.secret(), "xdg");
        // A relative XDG_CONFIG_HOME is ignored, as the specification says.
        sources.xdg_config_home = Some("relative".into());
        assert_eq!(found(&sources).token.secret(), "home");
    }

    #[test]
    fn no_file_means_no_token_and_an_empty_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let sources = sources(dir.path());
        assert!(discover_token(&sources).unwrap().is_none());
        assert!(no_token_advice(&sources).contains("SWITCHYARD_TOKEN"));
        write(&dir.path().join(".config/switchyard/token"), " \n", 0o600);
        assert!(discover_token(&sources).unwrap_err().0.contains("is empty"));
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_may_read_is_warned_about() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".config/switchyard/token");
        write(&path, "secret-token", 0o644);
        let token = found(&sources(dir.path()));
        let warning = token.warning.expect("a warning");
        assert!(warning.contains("chmod 600"), "{warning}");
        assert!(!warning.contains("secret-token"));
        write(&path, "secret-token", 0o600);
        assert!(found(&sources(dir.path())).warning.is_none());
    }

    #[test]
    fn the_token_does_not_show_in_debug() {
        let token = Token("secret-token".to_owned());
        assert!(!format!("{token:?}").contains("secret"));
    }
}
