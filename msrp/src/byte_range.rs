//! The Byte-Range header (RFC 4975 §7.1.1, §9).

use std::fmt;

use bytes::{BufMut, BytesMut};

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

/// A whole field of digits, checked for overflow.
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

/// A whole field of digits or `*`.
fn number_or_star(s: &[u8]) -> Result<Option<u64>, ByteRangeError> {
    if s == b"*" {
        Ok(None)
    } else {
        number(s).map(Some)
    }
}

/// Digits that always fit in a `u64` (10^19 - 1 < 2^64).
const SAFE_DIGITS: usize = 19;

/// Reads the run of ASCII digits at the front of `s`: its value (wrapped past
/// [`SAFE_DIGITS`] digits), its length and what follows it.
#[inline(always)]
fn digits(s: &[u8]) -> (u64, usize, &[u8]) {
    let mut n = 0u64;
    let mut rest = s;
    while let [c, tail @ ..] = rest {
        let d = u64::from(*c).wrapping_sub(u64::from(b'0'));
        if d > 9 {
            break;
        }
        n = n.wrapping_mul(10).wrapping_add(d);
        rest = tail;
    }
    (n, s.len() - rest.len(), rest)
}

/// The common case in one pass: `digits-digits/digits` (end or total may be `*`), every number
/// of 1 to [`SAFE_DIGITS`] digits, the bounds consistent. `None` for anything else, which
/// [`ByteRange::parse_exact`] then judges; where both accept a value they agree on it.
#[inline(always)]
fn parse_fast(b: &[u8]) -> Option<ByteRange> {
    let (start, k, rest) = digits(b);
    let [b'-', rest @ ..] = rest else {
        return None;
    };
    let mut long = k.wrapping_sub(1) >= SAFE_DIGITS;
    let (end, rest) = match rest {
        [b'*', b'/', rest @ ..] => (None, rest),
        _ => {
            let (n, k, rest) = digits(rest);
            let [b'/', rest @ ..] = rest else {
                return None;
            };
            long |= k.wrapping_sub(1) >= SAFE_DIGITS;
            (Some(n), rest)
        }
    };
    let total = match rest {
        [b'*'] => None,
        _ => {
            let (n, k, rest) = digits(rest);
            if !rest.is_empty() {
                return None;
            }
            long |= k.wrapping_sub(1) >= SAFE_DIGITS;
            Some(n)
        }
    };
    if long {
        return None;
    }
    let r = ByteRange { start, end, total };
    r.check().ok()?;
    Some(r)
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
    ///
    /// A well-formed, consistent value whose numbers have at most 19 digits (every real one) is
    /// read in a single pass. Anything else is read again field by field, which decides the
    /// error: `Syntax` without a `-` and a later `/`; otherwise start, end and total are judged
    /// in that order (`Syntax` for an empty field or one that is neither digits nor `*`,
    /// `Overflow` past `u64::MAX`; leading zeros are allowed); `Bounds` comes last.
    pub fn parse(v: &str) -> Result<ByteRange, ByteRangeError> {
        match parse_fast(v.as_bytes()) {
            Some(r) => Ok(r),
            None => Self::parse_exact(v),
        }
    }

    /// [`ByteRange::parse`] field by field: finds the first `-` and the first `/`, then reads
    /// start, end and total in that order, so that the first fault met decides the error.
    #[cold]
    #[inline(never)]
    fn parse_exact(v: &str) -> Result<ByteRange, ByteRangeError> {
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

    /// Writes the value into `out`, in one piece (`start-end/total`).
    pub fn write(&self, out: &mut impl Extend<u8>) {
        let (text, n) = self.text();
        out.extend(text[..n].iter().copied());
    }

    /// Writes the value at the end of `out`: each number's digits as itoa makes them, the
    /// separators and `*` octet by octet (assembling the value first cost a copy of each part
    /// and of the whole, 220 instructions a value).
    pub fn write_to(&self, out: &mut BytesMut) {
        let mut b = itoa::Buffer::new();
        let mut num = |out: &mut BytesMut, n: Option<u64>| match n {
            Some(n) => out.extend_from_slice(b.format(n).as_bytes()),
            None => out.put_u8(b'*'),
        };
        num(out, Some(self.start));
        out.put_u8(b'-');
        num(out, self.end);
        out.put_u8(b'/');
        num(out, self.total);
    }

    /// The value's octets (the first `n`): three numbers of at most 20 digits and two
    /// separators.
    fn text(&self) -> ([u8; 62], usize) {
        let mut text = [0u8; 62];
        let mut n = 0;
        let mut put = |s: &[u8]| {
            text[n..n + s.len()].copy_from_slice(s);
            n += s.len();
        };
        let mut b = itoa::Buffer::new();
        put(b.format(self.start).as_bytes());
        put(b"-");
        match self.end {
            Some(e) => put(b.format(e).as_bytes()),
            None => put(b"*"),
        }
        put(b"/");
        match self.total {
            Some(t) => put(b.format(t).as_bytes()),
            None => put(b"*"),
        }
        (text, n)
    }
}

impl fmt::Display for ByteRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (text, n) = self.text();
        f.write_str(std::str::from_utf8(&text[..n]).map_err(|_| fmt::Error)?)
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
            let mut out = BytesMut::from(&b"Byte-Range: "[..]);
            r.write_to(&mut out);
            assert_eq!(&out[..], format!("Byte-Range: {s}").as_bytes());
            let mut v = Vec::new();
            r.write(&mut v);
            assert_eq!(v, s.as_bytes());
        }
        let max = ByteRange {
            start: u64::MAX,
            end: Some(u64::MAX),
            total: Some(u64::MAX),
        };
        let mut out = BytesMut::new();
        max.write_to(&mut out);
        assert_eq!(&out[..], max.to_string().as_bytes());
    }

    /// Edge cases of the grammar and of the checks; the expected results are those of the
    /// field-by-field reader this parser replaced (kept as `parse_exact`).
    #[test]
    fn edge_cases() {
        use ByteRangeError::*;
        let ok = |start, end, total| Ok(ByteRange { start, end, total });
        let max = u64::MAX;
        for (s, r) in [
            // 1-based: a start of 0 is inconsistent, not malformed.
            ("0-1/1", Err(Bounds)),
            ("0-*/*", Err(Bounds)),
            ("0-x/1", Err(Syntax)),
            // Leading zeros are digits like any other, even past 19 digits.
            ("01-001/0001", ok(1, Some(1), Some(1))),
            ("00-1/1", Err(Bounds)),
            ("0000000000000000000001-*/*", ok(1, None, None)),
            ("1-0000000000000000000000/*", ok(1, Some(0), None)),
            // `*` only as a whole end or total.
            ("1-*/5", ok(1, None, Some(5))),
            ("1-5/*", ok(1, Some(5), None)),
            ("*-5/5", Err(Syntax)),
            ("1-**/5", Err(Syntax)),
            ("1-*5/5", Err(Syntax)),
            ("1-5*/5", Err(Syntax)),
            ("1-5/**", Err(Syntax)),
            ("1-5/*5", Err(Syntax)),
            ("1-5/5*", Err(Syntax)),
            ("1-*/", Err(Syntax)),
            ("1-*", Err(Syntax)),
            // u64 limits: 20 digits may or may not fit.
            ("18446744073709551615-*/*", ok(max, None, None)),
            (
                "1-18446744073709551615/18446744073709551615",
                ok(1, Some(max), Some(max)),
            ),
            (
                "10000000000000000000-*/*",
                ok(10_000_000_000_000_000_000, None, None),
            ),
            (
                "9999999999999999999-*/*",
                ok(9_999_999_999_999_999_999, None, None),
            ),
            ("18446744073709551616-*/*", Err(Overflow)),
            ("1-18446744073709551616/*", Err(Overflow)),
            ("1-*/18446744073709551616", Err(Overflow)),
            ("1-5/99999999999999999999", Err(Overflow)),
            ("1-5/184467440737095516150", Err(Overflow)),
            // An empty range (end = start - 1) is consistent; one below that is not.
            ("1-0/5", ok(1, Some(0), Some(5))),
            ("6-5/5", ok(6, Some(5), Some(5))),
            ("2-0/5", Err(Bounds)),
            // end and start - 1 at most total.
            ("1-6/5", Err(Bounds)),
            ("6-*/5", ok(6, None, Some(5))),
            ("7-*/5", Err(Bounds)),
            ("7-6/*", ok(7, Some(6), None)),
            // No spaces, signs or trailing octets anywhere.
            (" 1-2/3", Err(Syntax)),
            ("1 -2/3", Err(Syntax)),
            ("1- 2/3", Err(Syntax)),
            ("1-2 /3", Err(Syntax)),
            ("1-2/3 ", Err(Syntax)),
            ("1-2/3\r", Err(Syntax)),
            ("+1-2/3", Err(Syntax)),
            ("1-+2/3", Err(Syntax)),
            ("1-2/+3", Err(Syntax)),
            ("1-2/3x", Err(Syntax)),
            // The octets next to the digits ("/" 0x2F is a separator, ":" 0x3A is not).
            (":-2/3", Err(Syntax)),
            ("1-2:/3", Err(Syntax)),
            ("1-2/3:", Err(Syntax)),
            ("1-2//3", Err(Syntax)),
            ("1-2/3/4", Err(Syntax)),
            ("1-2/3-4", Err(Syntax)),
            ("1-2/3\u{e9}", Err(Syntax)),
            ("\u{ff11}-2/3", Err(Syntax)),
            // Empty fields.
            ("-/", Err(Syntax)),
            ("1-/5", Err(Syntax)),
            ("-5/5", Err(Syntax)),
            ("1-5/", Err(Syntax)),
            ("1-/", Err(Syntax)),
            // Error precedence: structure, then start, end, total, then bounds.
            ("18446744073709551616-x/1", Err(Overflow)),
            ("18446744073709551616-x", Err(Syntax)),
            ("18446744073709551616/1-2", Err(Syntax)),
            ("1-18446744073709551616/x", Err(Overflow)),
            ("18446744073709551616-18446744073709551616/x", Err(Overflow)),
            ("0-18446744073709551616/1", Err(Overflow)),
            ("0-5/x", Err(Syntax)),
            ("x-18446744073709551616/1", Err(Syntax)),
        ] {
            assert_eq!(ByteRange::parse(s), r, "{s:?}");
        }
    }

    /// The one-pass reader agrees with the field-by-field one on every short value over an
    /// alphabet that exercises each branch, and on values built from numbers near the limits.
    #[test]
    fn fast_path_agrees_with_field_by_field_reading() {
        fn all(buf: &mut String, depth: usize, alphabet: &[char], n: &mut usize) {
            assert_eq!(
                ByteRange::parse(buf),
                ByteRange::parse_exact(buf),
                "{buf:?}"
            );
            *n += 1;
            if depth > 0 {
                for &c in alphabet {
                    buf.push(c);
                    all(buf, depth - 1, alphabet, n);
                    buf.pop();
                }
            }
        }
        let mut n = 0;
        all(
            &mut String::new(),
            6,
            &['0', '1', '9', ':', '-', '/', '*', ' '],
            &mut n,
        );
        all(&mut String::new(), 7, &['0', '5', '-', '/', '*'], &mut n);
        assert!(n > 100_000);
        let nums = [
            "0",
            "1",
            "2",
            "10",
            "*",
            "",
            "00",
            "1844674407370955161",
            "9999999999999999999",
            "18446744073709551615",
            "018446744073709551615",
            "18446744073709551616",
            "99999999999999999999",
        ];
        for a in nums {
            for b in nums {
                for c in nums {
                    let s = format!("{a}-{b}/{c}");
                    assert_eq!(ByteRange::parse(&s), ByteRange::parse_exact(&s), "{s:?}");
                }
            }
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
