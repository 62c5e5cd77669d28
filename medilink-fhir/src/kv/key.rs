//! [`KvKey`]: a key-value key formatted on the stack, so the per-request lookups of the
//! pipeline (token denylist and revocation cut-off, rate-limit counters, the consent grant
//! cache) allocate nothing for their keys (issue #19). Keys longer than the buffer (none of
//! the pipeline's: a prefix and a UUID, a user id or an IP address) fall back to a `String`.

use std::fmt::{self, Write as _};

/// Bytes kept on the stack.
const INLINE: usize = 120;

/// A formatted key (see the module docs).
#[derive(Clone)]
pub struct KvKey {
    len: usize,
    inline: [u8; INLINE],
    heap: Option<String>,
}

impl KvKey {
    /// `prefix` followed by `rest`'s `Display`.
    pub fn new(prefix: &str, rest: impl fmt::Display) -> KvKey {
        let mut key = KvKey {
            len: 0,
            inline: [0; INLINE],
            heap: None,
        };
        let _ = write!(key, "{prefix}{rest}");
        key
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        match &self.heap {
            Some(heap) => heap,
            // Only whole `&str`s are copied in, so the prefix is UTF-8.
            None => std::str::from_utf8(&self.inline[..self.len]).unwrap_or_default(),
        }
    }
}

impl fmt::Write for KvKey {
    fn write_str(&mut self, part: &str) -> fmt::Result {
        if let Some(heap) = &mut self.heap {
            heap.push_str(part);
        } else if self.len + part.len() <= INLINE {
            self.inline[self.len..self.len + part.len()].copy_from_slice(part.as_bytes());
            self.len += part.len();
        } else {
            let mut heap = String::with_capacity(self.len + part.len());
            heap.push_str(self.as_str());
            heap.push_str(part);
            self.heap = Some(heap);
        }
        Ok(())
    }
}

impl std::ops::Deref for KvKey {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for KvKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::KvKey;

    #[test]
    fn short_keys_stay_inline_and_long_ones_spill_whole() {
        let short = KvKey::new("deny:", "0190f0a4-6c1e-7c4e-9a59-1f2a3b4c5d6e");
        assert_eq!(&*short, "deny:0190f0a4-6c1e-7c4e-9a59-1f2a3b4c5d6e");
        assert!(short.heap.is_none());
        let long_rest = "x".repeat(200);
        let long = KvKey::new("rate:api:", &long_rest);
        assert_eq!(&*long, format!("rate:api:{long_rest}"));
        assert!(long.heap.is_some());
        // Exactly at the edge: inline; one byte more: spilled, nothing lost.
        let edge = KvKey::new("", "y".repeat(super::INLINE));
        assert_eq!(edge.len(), super::INLINE);
        assert!(edge.heap.is_none());
        let over = KvKey::new("z", "y".repeat(super::INLINE));
        assert_eq!(over.len(), super::INLINE + 1);
        assert!(over.heap.is_some());
    }
}
