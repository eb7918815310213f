//! The character vocabulary: the sorted set of characters of the training text.

use std::collections::BTreeSet;

/// Maps characters to token indices and back. Index order is the sorted character order, so
/// the same text always gives the same vocabulary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vocab {
    chars: Vec<char>,
}

/// Characters a text uses that the vocabulary lacks, in order of first appearance.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe_unknown(.0))]
pub struct UnknownChars(pub Vec<char>);

fn describe_unknown(chars: &[char]) -> String {
    let list: Vec<String> = chars.iter().map(|c| format!("{c:?}")).collect();
    format!(
        "the model does not know {} character{}: {}",
        chars.len(),
        if chars.len() == 1 { "" } else { "s" },
        list.join(", ")
    )
}

impl Vocab {
    /// The vocabulary of a text.
    pub fn from_text(text: &str) -> Self {
        let set: BTreeSet<char> = text.chars().collect();
        Vocab { chars: set.into_iter().collect() }
    }

    /// A vocabulary from its characters; they must be distinct (order is kept).
    pub fn from_chars(chars: Vec<char>) -> Option<Self> {
        let set: BTreeSet<char> = chars.iter().copied().collect();
        (set.len() == chars.len() && !chars.is_empty()).then_some(Vocab { chars })
    }

    pub fn len(&self) -> usize {
        self.chars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// The characters as one string (how the weights file stores them).
    pub fn as_string(&self) -> String {
        self.chars.iter().collect()
    }

    pub fn index(&self, c: char) -> Option<usize> {
        self.chars.binary_search(&c).ok().or_else(|| self.chars.iter().position(|&x| x == c))
    }

    pub fn char(&self, index: usize) -> Option<char> {
        self.chars.get(index).copied()
    }

    /// Token indices of a text, or every character the vocabulary lacks.
    pub fn encode(&self, text: &str) -> Result<Vec<usize>, UnknownChars> {
        let mut unknown = Vec::new();
        let mut out = Vec::with_capacity(text.len());
        for c in text.chars() {
            match self.index(c) {
                Some(i) => out.push(i),
                None if !unknown.contains(&c) => unknown.push(c),
                None => {}
            }
        }
        if unknown.is_empty() {
            Ok(out)
        } else {
            Err(UnknownChars(unknown))
        }
    }

    /// Like [`Vocab::encode`] but skips unknown characters, counting them.
    pub fn encode_lossy(&self, text: &str) -> (Vec<usize>, usize) {
        let mut skipped = 0;
        let tokens = text
            .chars()
            .filter_map(|c| {
                let i = self.index(c);
                skipped += i.is_none() as usize;
                i
            })
            .collect();
        (tokens, skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_round_trips() {
        let v = Vocab::from_text("cab\tc\n");
        assert_eq!(v.as_string(), "\t\nabc");
        assert_eq!(v.encode("abc").unwrap(), vec![2, 3, 4]);
        assert_eq!(v.char(4), Some('c'));
    }

    #[test]
    fn unknown_characters_are_named_once_each() {
        let v = Vocab::from_text("abc");
        let err = v.encode("axbyx").unwrap_err();
        assert_eq!(err.0, vec!['x', 'y']);
        assert_eq!(err.to_string(), "the model does not know 2 characters: 'x', 'y'");
    }

    #[test]
    fn duplicate_characters_are_refused() {
        assert!(Vocab::from_chars(vec!['a', 'a']).is_none());
        assert!(Vocab::from_chars(vec![]).is_none());
    }
}
