//! Fuzz target for the mixer's CPIM parser (`msrp_mixer::cpim`, RFC 3862), which reads bodies
//! from any participant (DESIGN.md convention 4).
//!
//! Run on stable with `cargo fuzz run cpim -s none` from `mixer/fuzz`. For arbitrary bytes, in
//! strict and lenient mode:
//!
//! 1. [`Message::parse`], [`Message::parse_prefix`] and [`head_len`] never panic, and agree:
//!    `head_len` is `Some(n)` exactly when `parse_prefix` finds a header section of `n` octets.
//! 2. A prefix's verdict holds for every longer prefix: once `head_len` of a prefix is an error
//!    or `Some(n)`, the whole input gives the same (the switch decides on a prefix, 7701-017).
//! 3. A parsed message keeps the input octets exactly (3862-006): `as_bytes()` is the input, and
//!    every accessor (From, To, cc, Subject, NS, Require, DateTime, MIME headers) runs without
//!    panicking; the body is the input after the header section.
//! 4. A [`ParseSpace`] that parsed the input first (as a switch keeps one per session) parses
//!    the input with one octet changed exactly as a fresh parser does: it resumes after the
//!    lines the two have in common.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use msrp_mixer::cpim::{Message, ParseOptions, ParseSpace, head_len};

fn check(data: &[u8], opts: &ParseOptions) {
    let whole = head_len(data, opts);
    let prefix = Message::parse_prefix(Bytes::copy_from_slice(data), opts);
    match (&whole, &prefix) {
        (Ok(Some(n)), Ok(Some((_, m)))) => assert_eq!(n, m, "head_len and parse_prefix agree"),
        (Ok(None), Ok(None)) | (Err(_), Err(_)) => {}
        (a, b) => panic!(
            "head_len {a:?} but parse_prefix {:?}",
            b.as_ref().map(|o| o.is_some())
        ),
    }
    // A verdict on a prefix stands for the whole (7701-017).
    for cut in [data.len() / 3, data.len() / 2, data.len().saturating_sub(1)] {
        match head_len(&data[..cut], opts) {
            Ok(Some(n)) => assert_eq!(whole.as_ref().ok(), Some(&Some(n)), "cut {cut}"),
            Err(e) => assert!(whole.is_err(), "cut {cut}: {e} but the whole is {whole:?}"),
            Ok(None) => {}
        }
    }
    if let Ok(m) = Message::parse(Bytes::copy_from_slice(data), opts) {
        assert_eq!(&m.as_bytes()[..], data, "3862-006: octets kept");
        let n = m.head_len();
        assert_eq!(
            &m.body()[..],
            &data[n..],
            "the body follows the header section"
        );
        let _ = (m.from(), m.to().count(), m.single_to(), m.cc().count());
        let _ = (m.date_time(), m.subjects().count(), m.subject(None));
        let _ = (m.namespaces().count(), m.require().count());
        let _ = (m.mime_headers().count(), m.content_type(), m.media_type());
        for h in m.headers() {
            let _ = (h.name(), h.namespace(), h.value(), h.text(), h.lang());
        }
        for a in m.from().into_iter().chain(m.to()) {
            let _ = (a.uri(), a.formal_name());
        }
    }
}

/// Check 4: `data`, then `data` with its middle octet changed, through one space.
fn check_space(data: &[u8], opts: &ParseOptions) {
    let mut space = ParseSpace::default();
    if let Ok(Some((m, _))) =
        Message::parse_prefix_in(Bytes::copy_from_slice(data), opts, &mut space)
    {
        m.recycle(&mut space);
    }
    let mut next = data.to_vec();
    if let Some(b) = next.get_mut(data.len() / 2) {
        *b ^= 1;
    }
    let next = Bytes::from(next);
    let fresh = Message::parse_prefix(next.clone(), opts);
    let reused = Message::parse_prefix_in(next, opts, &mut space);
    match (&fresh, &reused) {
        (Ok(None), Ok(None)) => {}
        (Err(a), Err(b)) => assert_eq!(a, b),
        (Ok(Some((a, n))), Ok(Some((b, m)))) => {
            assert_eq!(n, m);
            assert_eq!(a.header_block(), b.header_block());
            assert_eq!(a.separator_missing(), b.separator_missing());
            assert!(a.headers().eq(b.headers()), "CPIM headers");
            assert!(a.mime_headers().eq(b.mime_headers()), "MIME headers");
            assert_eq!((a.from(), a.date_time()), (b.from(), b.date_time()));
            assert!(a.to().eq(b.to()) && a.require().eq(b.require()));
            assert_eq!(a.media_type(), b.media_type());
        }
        _ => panic!("a space and a fresh parser disagree: {fresh:?} / {reused:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    check(data, &ParseOptions::strict());
    check(data, &ParseOptions::lenient().with_max_head_bytes(512));
    check_space(data, &ParseOptions::strict());
    check_space(data, &ParseOptions::lenient());
});
