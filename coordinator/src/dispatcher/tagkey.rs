//! The key of the tag-set interning index: a normalised tag set encoded as
//! one byte string.
//!
//! Every enqueue looks its task's tags up in that index. Keyed by
//! `Vec<String>`, a lookup follows two pointers per candidate key (the
//! vector, then each string) and, with tens of thousands of tag sets, misses
//! the cache on both. Encoded, a short key (the usual case) sits inline in
//! the index's table, so a lookup hashes and compares it without leaving
//! the table; longer keys live on the heap behind one pointer.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

/// Longest encoding kept inline.
const INLINE: usize = 22;

/// Appends the encoding of sorted, deduplicated `tags` to `out`: each tag
/// as its length (LEB128) followed by its bytes, so distinct tag sets never
/// encode alike.
pub(super) fn encode_into(tags: &[String], out: &mut Vec<u8>) {
    for tag in tags {
        let mut len = tag.len();
        loop {
            let low = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                out.push(low);
                break;
            }
            out.push(low | 0x80);
        }
        out.extend_from_slice(tag.as_bytes());
    }
}

/// An encoded tag set; compares and hashes as its bytes, so the index can
/// be searched with a borrowed `&[u8]`.
#[derive(Clone, Debug)]
pub(super) enum TagKey {
    /// Up to [`INLINE`] bytes, stored in place.
    Inline { len: u8, bytes: [u8; INLINE] },
    /// Longer encodings.
    Heap(Box<[u8]>),
}

impl TagKey {
    /// The key for an encoding.
    pub(super) fn new(encoded: &[u8]) -> Self {
        match u8::try_from(encoded.len()) {
            Ok(len) if encoded.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..encoded.len()].copy_from_slice(encoded);
                Self::Inline { len, bytes }
            }
            _ => Self::Heap(encoded.into()),
        }
    }

    /// The encoding.
    pub(super) fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Self::Heap(bytes) => bytes,
        }
    }
}

impl Borrow<[u8]> for TagKey {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for TagKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for TagKey {}

/// Hashes exactly as the `[u8]` it borrows as, as `Borrow` requires.
impl Hash for TagKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(tags: &[&str]) -> Vec<u8> {
        let tags: Vec<String> = tags.iter().map(|t| (*t).to_owned()).collect();
        let mut out = Vec::new();
        encode_into(&tags, &mut out);
        out
    }

    #[test]
    fn distinct_tag_sets_encode_apart() {
        let sets: [&[&str]; 6] = [&[], &[""], &["", ""], &["ab"], &["a", "b"], &["a\u{1}b"]];
        for (i, a) in sets.iter().enumerate() {
            for (j, b) in sets.iter().enumerate() {
                assert_eq!(i == j, encode(a) == encode(b), "{a:?} vs {b:?}");
            }
        }
        let long = "x".repeat(300);
        assert_eq!(encode(&[&long])[..2], [0xac, 0x02]);
    }

    #[test]
    fn inline_and_heap_keys_compare_as_bytes() {
        for tags in [
            &["linux", "gpu"][..],
            &["a-rather-long-tag-name", "another-one"],
        ] {
            let bytes = encode(tags);
            let key = TagKey::new(&bytes);
            assert_eq!(key.as_bytes(), &bytes[..]);
            assert_eq!(key, TagKey::new(&bytes));
        }
        assert!(matches!(
            TagKey::new(&encode(&["gpu"])),
            TagKey::Inline { .. }
        ));
        assert!(matches!(
            TagKey::new(&encode(&["a-rather-long-tag-name"])),
            TagKey::Heap(_)
        ));
    }
}
