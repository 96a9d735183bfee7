//! `--store` URIs: `file://DIR` (the embedded default) and `dynamodb://TABLE`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Where the store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUri {
    /// A local directory.
    File(PathBuf),
    /// A DynamoDB table (for a highly available controller).
    DynamoDb(String),
}

impl FromStr for StoreUri {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(dir) = s.strip_prefix("file://") {
            if dir.is_empty() {
                return Err(
                    "file:// needs a directory, as file:///var/lib/tugboat or file://./state"
                        .to_owned(),
                );
            }
            return Ok(StoreUri::File(PathBuf::from(dir)));
        }
        if let Some(table) = s.strip_prefix("dynamodb://") {
            let valid = (3..=255).contains(&table.len())
                && table
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
            if !valid {
                return Err(format!(
                    "`{table}` is not a DynamoDB table name (3 to 255 of A-Z a-z 0-9 _ . -)"
                ));
            }
            return Ok(StoreUri::DynamoDb(table.to_owned()));
        }
        if s.contains("://") {
            return Err(format!(
                "unsupported store `{s}`: use file://DIR or dynamodb://TABLE"
            ));
        }
        // A bare path: say the exact form rather than guess between a directory and a table.
        let dir = if s.starts_with('/') || s.starts_with('.') {
            s.to_owned()
        } else {
            format!("./{s}")
        };
        let table = if s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        {
            format!("; for a DynamoDB table, dynamodb://{s}")
        } else {
            String::new()
        };
        Err(format!(
            "`{s}` has no scheme: for the directory, use file://{dir}{table}"
        ))
    }
}

impl fmt::Display for StoreUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUri::File(dir) => write!(f, "file://{}", dir.display()),
            StoreUri::DynamoDb(table) => write!(f, "dynamodb://{table}"),
        }
    }
}

/// The store used when neither `--store` nor `TUG_STORE` is given:
/// `$XDG_STATE_HOME/tugboat`, else `$HOME/.local/state/tugboat`, else `./.tugboat`.
pub fn default_store_uri(xdg_state_home: Option<&str>, home: Option<&str>) -> StoreUri {
    let dir = match (
        xdg_state_home.filter(|s| !s.is_empty()),
        home.filter(|s| !s.is_empty()),
    ) {
        (Some(state), _) => PathBuf::from(state).join("tugboat"),
        (None, Some(home)) => PathBuf::from(home).join(".local/state/tugboat"),
        (None, None) => PathBuf::from(".tugboat"),
    };
    StoreUri::File(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_two_schemes() {
        assert_eq!("file:///tmp/x".parse(), Ok(StoreUri::File("/tmp/x".into())));
        assert_eq!("file://rel".parse(), Ok(StoreUri::File("rel".into())));
        assert_eq!(
            "dynamodb://tug-state".parse(),
            Ok(StoreUri::DynamoDb("tug-state".into()))
        );
        assert!("s3://bucket".parse::<StoreUri>().is_err());
        assert!("file://".parse::<StoreUri>().is_err());
    }

    #[test]
    fn default_follows_xdg() {
        assert_eq!(
            default_store_uri(Some("/s"), Some("/h")),
            StoreUri::File("/s/tugboat".into())
        );
        assert_eq!(
            default_store_uri(None, Some("/h")),
            StoreUri::File("/h/.local/state/tugboat".into())
        );
        assert_eq!(
            default_store_uri(None, None),
            StoreUri::File(".tugboat".into())
        );
    }
}
