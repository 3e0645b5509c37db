//! The Byte-Range header (RFC 4975 §7.1.1, §9).

use std::fmt;

/// `Byte-Range: range-start "-" range-end "/" total` (4975-021). Positions start at 1 and are
/// inclusive; `end` and `total` are `None` for `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ByteRange {
    /// Position of the chunk's first octet in the whole message (4975-023).
    pub start: u64,
    /// Position of the chunk's last octet, `None` for `*` (4975-024).
    pub end: Option<u64>,
    /// Size of the whole message, `None` for `*` (4975-025).
    pub total: Option<u64>,
}

/// Why a Byte-Range value is rejected (answered 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ByteRangeError {
    /// Not `start-end/total` with digits or `*`.
    #[error("Byte-Range is not start-end/total")]
    Syntax,
    /// A number does not fit in 64 bits.
    #[error("Byte-Range number overflows")]
    Overflow,
    /// start is 0, end < start - 1, or end > total.
    #[error("Byte-Range bounds are inconsistent")]
    Bounds,
}

fn number(s: &[u8]) -> Result<u64, ByteRangeError> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return Err(ByteRangeError::Syntax);
    }
    s.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)
            .and_then(|a| a.checked_add(u64::from(d - b'0')))
            .ok_or(ByteRangeError::Overflow)
    })
}

fn number_or_star(s: &[u8]) -> Result<Option<u64>, ByteRangeError> {
    if s == b"*" {
        Ok(None)
    } else {
        number(s).map(Some)
    }
}

impl ByteRange {
    /// The range of a complete message of `len` octets sent in one chunk: `1-len/len`
    /// (`1-0/0` for an empty body, 4975-026).
    pub fn whole(len: u64) -> ByteRange {
        ByteRange {
            start: 1,
            end: Some(len),
            total: Some(len),
        }
    }

    /// Parses `start-end/total` (4975-021), checking that start >= 1, end >= start - 1 and
    /// end <= total (4975-018: sanity-checked before anything is allocated on its trust).
    pub fn parse(v: &str) -> Result<ByteRange, ByteRangeError> {
        let b = v.as_bytes();
        let dash = b
            .iter()
            .position(|&c| c == b'-')
            .ok_or(ByteRangeError::Syntax)?;
        let slash = b
            .iter()
            .position(|&c| c == b'/')
            .ok_or(ByteRangeError::Syntax)?;
        if slash < dash {
            return Err(ByteRangeError::Syntax);
        }
        let start = number(&b[..dash])?;
        let end = number_or_star(&b[dash + 1..slash])?;
        let total = number_or_star(&b[slash + 1..])?;
        let r = ByteRange { start, end, total };
        r.check()?;
        Ok(r)
    }

    fn check(&self) -> Result<(), ByteRangeError> {
        if self.start == 0 {
            return Err(ByteRangeError::Bounds);
        }
        if let Some(e) = self.end {
            if e < self.start - 1 {
                return Err(ByteRangeError::Bounds);
            }
            if self.total.is_some_and(|t| e > t) {
                return Err(ByteRangeError::Bounds);
            }
        }
        if self.total.is_some_and(|t| self.start - 1 > t) {
            return Err(ByteRangeError::Bounds);
        }
        Ok(())
    }

    /// The number of octets the range declares, when `end` is known.
    pub fn declared_len(&self) -> Option<u64> {
        self.end
            .map(|e| e.saturating_sub(self.start.saturating_sub(1)))
    }

    /// Writes the value into `out`.
    pub fn write(&self, out: &mut impl Extend<u8>) {
        let mut b = itoa::Buffer::new();
        out.extend(b.format(self.start).bytes());
        out.extend([b'-']);
        match self.end {
            Some(e) => out.extend(b.format(e).bytes()),
            None => out.extend([b'*']),
        }
        out.extend([b'/']);
        match self.total {
            Some(t) => out.extend(b.format(t).bytes()),
            None => out.extend([b'*']),
        }
    }
}

impl fmt::Display for ByteRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut v = Vec::with_capacity(24);
        self.write(&mut v);
        f.write_str(std::str::from_utf8(&v).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_writes() {
        // 4975-021, 4975-026
        for (s, r) in [
            (
                "1-25/25",
                ByteRange {
                    start: 1,
                    end: Some(25),
                    total: Some(25),
                },
            ),
            (
                "1-*/8",
                ByteRange {
                    start: 1,
                    end: None,
                    total: Some(8),
                },
            ),
            (
                "138-148/148",
                ByteRange {
                    start: 138,
                    end: Some(148),
                    total: Some(148),
                },
            ),
            (
                "1-*/*",
                ByteRange {
                    start: 1,
                    end: None,
                    total: None,
                },
            ),
            ("1-0/0", ByteRange::whole(0)),
            (
                "5-4/*",
                ByteRange {
                    start: 5,
                    end: Some(4),
                    total: None,
                },
            ),
        ] {
            assert_eq!(ByteRange::parse(s), Ok(r), "{s}");
            assert_eq!(r.to_string(), s);
        }
    }

    #[test]
    fn rejects_bad_ranges() {
        use ByteRangeError::*;
        for (s, e) in [
            ("", Syntax),
            ("1-2", Syntax),
            ("1/2-3", Syntax),
            ("-1-2/3", Syntax),
            ("1--2/3", Syntax),
            ("a-2/3", Syntax),
            ("1-2/ 3", Syntax),
            ("0-2/3", Bounds),
            ("5-3/10", Bounds),
            ("1-11/10", Bounds),
            ("12-*/10", Bounds),
            ("1-99999999999999999999/*", Overflow),
            ("18446744073709551616-*/*", Overflow),
        ] {
            assert_eq!(ByteRange::parse(s), Err(e), "{s}");
        }
    }
}
