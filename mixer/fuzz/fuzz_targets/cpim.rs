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
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use msrp_mixer::cpim::{Message, ParseOptions, head_len};

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

fuzz_target!(|data: &[u8]| {
    check(data, &ParseOptions::strict());
    check(data, &ParseOptions::lenient().with_max_head_bytes(512));
});
