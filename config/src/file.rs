//! The optional TOML configuration file.
//!
//! The file is a flat table whose keys are the long flag names (`listen`,
//! `dispatch-mode`; underscores work too). Each value becomes the default of
//! that flag, so clap still validates it and flags and environment variables
//! still override it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// A configuration that cannot be used; the message names the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    /// A key of the file names no setting.
    #[error("config file {path}: unknown setting `{key}`")]
    UnknownKey { path: PathBuf, key: String },
    /// A value of the file has a type that cannot be a flag value.
    #[error("config file {path}: setting `{key}` must be a string, number, boolean or list")]
    BadValue { path: PathBuf, key: String },
    /// A setting is invalid, or settings contradict each other.
    #[error("invalid setting `{setting}`: {message}")]
    Invalid { setting: String, message: String },
    /// clap rejected the command line (this includes `--help`).
    #[error(transparent)]
    Cli(#[from] clap::Error),
}

impl ConfigError {
    /// An invalid value for `setting`.
    pub fn invalid(setting: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            setting: setting.to_owned(),
            message: message.into(),
        }
    }
}

/// Finds `--config PATH` / `--config=PATH` in `args`, else the environment variable.
pub fn config_path(args: &[OsString], env_var: &str) -> Option<PathBuf> {
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let text = arg.to_string_lossy();
        if text == "--config" {
            return iter.next().map(PathBuf::from);
        }
        if let Some(path) = text.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os(env_var).map(PathBuf::from)
}

/// Reads the file at `path` into (flag name, value) pairs, flag names in kebab case.
pub fn read(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })?;
    let mut pairs = Vec::with_capacity(table.len());
    for (key, value) in table {
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => {
                let mut parts = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        toml::Value::String(s) => parts.push(s),
                        toml::Value::Integer(i) => parts.push(i.to_string()),
                        _ => {
                            return Err(ConfigError::BadValue {
                                path: path.to_owned(),
                                key,
                            });
                        }
                    }
                }
                parts.join(",")
            }
            _ => {
                return Err(ConfigError::BadValue {
                    path: path.to_owned(),
                    key,
                });
            }
        };
        pairs.push((key.replace('_', "-"), value));
    }
    Ok(pairs)
}

/// Makes each file value the default of the flag with that long name, in
/// `command` and in every subcommand that has it. A key no flag takes is an error.
pub fn apply(
    mut command: clap::Command,
    path: &Path,
    pairs: Vec<(String, String)>,
) -> Result<clap::Command, ConfigError> {
    for (key, value) in pairs {
        let mut used = false;
        command = set_default(command, &key, &value, &mut used);
        if !used {
            return Err(ConfigError::UnknownKey {
                path: path.to_owned(),
                key,
            });
        }
    }
    Ok(command)
}

fn set_default(command: clap::Command, key: &str, value: &str, used: &mut bool) -> clap::Command {
    let id = command
        .get_arguments()
        .find(|arg| arg.get_long() == Some(key) && key != "config")
        .map(|arg| arg.get_id().clone());
    let mut command = match id {
        Some(id) => {
            *used = true;
            let value = value.to_owned();
            command.mut_arg(id, |arg| arg.default_value(value))
        }
        None => command,
    };
    let names: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .collect();
    for name in names {
        command = command.mut_subcommand(name, |sub| set_default(sub, key, value, used));
    }
    command
}

/// Parses `args` with `C`, taking defaults from the config file when one is named.
pub fn parse<C>(args: Vec<OsString>, env_var: &str) -> Result<C, ConfigError>
where
    C: clap::Parser,
{
    let mut command = C::command();
    if let Some(path) = config_path(&args, env_var) {
        let pairs = read(&path)?;
        command = apply(command, &path, pairs)?;
    }
    let matches = command.try_get_matches_from(args)?;
    Ok(C::from_arg_matches(&matches)?)
}
