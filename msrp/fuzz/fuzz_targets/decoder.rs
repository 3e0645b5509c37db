//! Fuzz target for the MSRP framing engine (RFC 4975 §7.1, §9; DESIGN.md convention 4).
//!
//! Run on stable with `cargo fuzz run decoder -s none` from `msrp/fuzz`. For arbitrary bytes:
//!
//! 1. [`msrp::Decoder`] must never panic, whether the bytes arrive in one read or split into reads
//!    at positions derived from the input (resumability, convention 2), and both ways must give the
//!    same events (body pieces merged per frame) and the same errors, with
//!    [`msrp::DecoderConfig::reuse_heads`], `repeated_sends` and `whole_repeats` on and off.
//! 2. [`msrp::FrameDecoder`] must never panic, and every frame it returns, written back with
//!    [`msrp::Frame::write`] (i.e. `encode::frame`), must decode again to an equal head, body and
//!    end-line flag, consuming exactly what was written.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use msrp::{DecodeError, Decoder, DecoderConfig, Event, Flag, Frame, FrameDecoder, Head};

/// A decoder event with the body pieces of one frame merged, so that runs fed in different reads
/// can be compared.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Head(Head, bool),
    Body(Vec<u8>),
    End(Flag),
    Error(DecodeError),
}

/// Small deterministic generator for read sizes (xorshift64).
struct Splits(u64);

impl Splits {
    /// Seeds from the whole input (FNV-1a), so the stream itself is the input unchanged and the
    /// seed corpus (RFC vectors) stays valid MSRP.
    fn new(data: &[u8]) -> Splits {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in data {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Splits(h | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Config derived from the input: strict or lenient white space, 2xx responses skipped, read
/// briefly or decoded, heads reused or parsed in full, and a small or default head limit so that `HeadTooLarge` is reachable
/// with short inputs.
fn config(splits: &mut Splits) -> DecoderConfig {
    let r = splits.next();
    DecoderConfig {
        strict: r & 1 == 1,
        skip_success_responses: r & 4 == 4,
        brief_success_responses: r & 16 == 16,
        reuse_heads: r & 32 == 0,
        repeated_sends: r & 64 == 64,
        whole_repeats: r & 128 == 128,
        max_head: if r & 2 == 2 {
            64 + (r >> 8) as usize % 512
        } else {
            DecoderConfig::default().max_head
        },
        ..DecoderConfig::default()
    }
}

/// Drains `dec` into `out`; returns `false` once a fatal (non-continuable) error was seen.
fn drain(dec: &mut Decoder, buf: &mut BytesMut, out: &mut Vec<Seen>) -> bool {
    loop {
        match dec.decode(buf) {
            Ok(None) => return true,
            Ok(Some(Event::Head { head, body })) => out.push(Seen::Head(head, body)),
            Ok(Some(Event::RepeatedSend(r))) => {
                assert_eq!(r.message_id(), r.head().message_id());
                assert_eq!(r.byte_range(), r.head().byte_range());
                out.push(Seen::Head(r.head(), r.body));
                // A tail (`DecoderConfig::whole_repeats`), taken for every other frame, is the
                // Body and End that follow (the others' come as those events).
                if let Some(t) = (out.len() % 2 == 0).then(|| dec.take_tail()).flatten() {
                    assert!(r.body);
                    assert_eq!(t.octets(), t.body.len() + 12 + r.tid.len());
                    if !t.body.is_empty() {
                        out.push(Seen::Body(t.body.to_vec()));
                    }
                    out.push(Seen::End(t.flag));
                }
            }
            Ok(Some(Event::Body(piece))) => {
                assert!(!piece.is_empty(), "empty Body event");
                match out.last_mut() {
                    Some(Seen::Body(b)) => b.extend_from_slice(&piece),
                    _ => out.push(Seen::Body(piece.to_vec())),
                }
            }
            Ok(Some(Event::End(flag))) => out.push(Seen::End(flag)),
            Ok(Some(Event::BriefSuccess(r))) => {
                // Its frame parses as the decoder would have parsed it, or fails as it would
                // have failed.
                match r.head() {
                    Ok(head) => {
                        assert_eq!(head.tid, r.tid());
                        assert_eq!(r.tid_octets(), head.tid.as_bytes());
                        assert_eq!(head.status(), Some(r.status));
                        assert!(head.to_path().first().is_some());
                        out.push(Seen::Head(head, false));
                        out.push(Seen::End(Flag::Last));
                    }
                    Err(e) => out.push(Seen::Error(e)),
                }
            }
            Err(e) => {
                let go_on = e.can_continue();
                out.push(Seen::Error(e));
                if !go_on {
                    return false;
                }
            }
        }
    }
}

/// Feeds `data` to a fresh decoder in reads of the given sizes (`None`: one read).
fn events(cfg: &DecoderConfig, data: &[u8], splits: Option<&mut Splits>) -> Vec<Seen> {
    let mut dec = Decoder::new(cfg.clone());
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    match splits {
        None => {
            buf.extend_from_slice(data);
            drain(&mut dec, &mut buf, &mut out);
        }
        Some(splits) => {
            // Mostly tiny reads (1..=8 octets) to hit every resume point, sometimes larger ones.
            let mut rest = data;
            while !rest.is_empty() {
                let r = splits.next();
                let cap = if r & 3 == 0 {
                    1 + (r >> 8) as usize % 512
                } else {
                    1 + (r >> 8) as usize % 8
                };
                let (read, tail) = rest.split_at(cap.min(rest.len()));
                rest = tail;
                buf.extend_from_slice(read);
                if !drain(&mut dec, &mut buf, &mut out) {
                    break;
                }
            }
        }
    }
    out
}

/// Whole-frame decoding, and the encode → decode round trip of every frame.
fn frames(cfg: &DecoderConfig, data: &[u8]) {
    let mut dec = FrameDecoder::new(cfg.clone(), 1 << 20);
    let mut buf = BytesMut::from(data);
    loop {
        match dec.decode(&mut buf) {
            Ok(None) => break,
            Ok(Some(frame)) => round_trip(&frame, cfg.strict),
            Err(e) if e.can_continue() => continue,
            Err(_) => break,
        }
    }
}

fn round_trip(frame: &Frame, strict: bool) {
    let mut wire = BytesMut::new();
    frame.write(&mut wire);
    let written = Bytes::copy_from_slice(&wire);
    // Decode with the same white-space rule (strict mode keeps trailing white space in a value,
    // lenient mode trims it) and limits that admit whatever was just written.
    let cfg = DecoderConfig {
        max_head: usize::MAX,
        max_control_body: u64::MAX,
        strict,
        skip_success_responses: false,
        brief_success_responses: false,
        reuse_heads: true,
        repeated_sends: false,
        whole_repeats: false,
    };
    let mut again = FrameDecoder::new(cfg, u64::MAX);
    match again.decode(&mut wire) {
        Ok(Some(f)) => {
            assert_eq!(
                f.head, frame.head,
                "head changed in an encode/decode round trip: {written:?}"
            );
            assert_eq!(
                f.body, frame.body,
                "body changed in an encode/decode round trip: {written:?}"
            );
            assert_eq!(
                f.flag, frame.flag,
                "flag changed in an encode/decode round trip: {written:?}"
            );
            assert!(
                wire.is_empty(),
                "{} octets left over after re-decoding {written:?}",
                wire.len()
            );
        }
        other => panic!("re-encoded frame does not decode ({other:?}): {written:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut splits = Splits::new(data);
    let cfg = config(&mut splits);

    let whole = events(&cfg, data, None);
    let split = events(&cfg, data, Some(&mut splits));
    // What was decoded must not depend on how the bytes arrived. Compare up to the last complete
    // frame boundary plus any error, and the trailing unfinished frame's head; the body octets
    // of an unfinished frame may legitimately be held back by different amounts.
    let settled = |ev: &[Seen]| match ev
        .iter()
        .rposition(|e| matches!(e, Seen::End(_) | Seen::Error(_)))
    {
        Some(i) => i + 1,
        None => 0,
    };
    let (sw, ss) = (settled(&whole), settled(&split));
    assert_eq!(
        whole[..sw],
        split[..ss],
        "split reads changed the decoded frames"
    );
    let head_of = |ev: &[Seen]| {
        ev.iter().find_map(|e| {
            if let Seen::Head(h, b) = e {
                Some((h.clone(), *b))
            } else {
                None
            }
        })
    };
    assert_eq!(
        head_of(&whole[sw..]),
        head_of(&split[ss..]),
        "split reads changed an unfinished frame's head"
    );

    // Heads served from the decoder's kept head (`DecoderConfig::reuse_heads`) are the heads a
    // full parse gives, and the errors the same.
    let flipped = DecoderConfig {
        reuse_heads: !cfg.reuse_heads,
        repeated_sends: !cfg.repeated_sends,
        whole_repeats: !cfg.whole_repeats,
        ..cfg.clone()
    };
    assert_eq!(
        whole,
        events(&flipped, data, None),
        "reusing heads changed the decoded frames"
    );

    frames(&cfg, data);
});
