//! The tag mix: which tags each simulated worker offers and each task needs.

use std::fmt;
use std::str::FromStr;

use switchyard_protocol::limits::{MAX_TAG_BYTES, MAX_TAGS};

/// Tag sets, handed out round-robin: worker `i` offers set `i mod n` and
/// task `j` requires set `j mod n`. Written `linux;linux,gpu;mac`: `;`
/// between sets, `,` between the tags of one set; an empty set (`linux;`)
/// requires nothing and so runs on any worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSets(Vec<Vec<String>>);

impl TagSets {
    /// The sets, in order.
    pub fn sets(&self) -> &[Vec<String>] {
        &self.0
    }

    /// How many sets there are (at least one).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: parsing refuses an empty list.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The set of worker or task number `index`.
    pub fn pick(&self, index: usize) -> &[String] {
        self.0
            .get(index % self.0.len().max(1))
            .map_or(&[], Vec::as_slice)
    }
}

impl FromStr for TagSets {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut sets = Vec::new();
        for part in text.split(';') {
            let mut set: Vec<String> = Vec::new();
            for tag in part.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                if tag.len() > MAX_TAG_BYTES || tag.chars().any(char::is_whitespace) {
                    return Err(format!(
                        "tag `{tag}` must be at most {MAX_TAG_BYTES} bytes without spaces"
                    ));
                }
                if !set.iter().any(|t| t == tag) {
                    set.push(tag.to_owned());
                }
            }
            if set.len() > MAX_TAGS {
                return Err(format!("a tag set has more than {MAX_TAGS} tags"));
            }
            set.sort();
            sets.push(set);
        }
        if text.trim().is_empty() {
            // `""` means one set that requires nothing.
            sets = vec![Vec::new()];
        }
        Ok(Self(sets))
    }
}

impl fmt::Display for TagSets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text: Vec<String> = self.0.iter().map(|set| set.join(",")).collect();
        f.write_str(&text.join(";"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Vec<String>> {
        let sets: TagSets = text.parse().unwrap();
        sets.sets().to_vec()
    }

    #[test]
    fn sets_split_on_semicolons_and_tags_on_commas() {
        assert_eq!(
            parse("linux;linux,gpu;mac"),
            vec![vec!["linux"], vec!["gpu", "linux"], vec!["mac"]]
        );
        assert_eq!(
            parse(" linux , gpu ;mac"),
            vec![vec!["gpu", "linux"], vec!["mac"]]
        );
        assert_eq!(parse("a,a,b"), vec![vec!["a", "b"]]);
    }

    #[test]
    fn empty_sets_run_anywhere() {
        assert_eq!(parse(""), vec![Vec::<String>::new()]);
        assert_eq!(parse("linux;"), vec![vec!["linux"], vec![]]);
    }

    #[test]
    fn bad_tags_are_refused() {
        assert!("a b".parse::<TagSets>().is_err());
        assert!("x".repeat(65).parse::<TagSets>().is_err());
        let many: Vec<String> = (0..33).map(|i| format!("t{i}")).collect();
        assert!(many.join(",").parse::<TagSets>().is_err());
    }

    #[test]
    fn picking_goes_round_robin() {
        let sets: TagSets = "a;b;c".parse().unwrap();
        assert_eq!(sets.len(), 3);
        assert_eq!(sets.pick(0), ["a"]);
        assert_eq!(sets.pick(4), ["b"]);
        assert_eq!(sets.pick(5), ["c"]);
        assert_eq!(sets.to_string(), "a;b;c");
    }
}
