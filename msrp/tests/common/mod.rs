//! Helpers shared by the integration tests: run the decoder over an input split at given
//! positions and collect whole frames or errors.
#![allow(dead_code)]

use bytes::BytesMut;
use msrp::{DecodeError, Decoder, DecoderConfig, Event, Flag, Head};

/// What a run of the decoder produced for one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    Frame {
        head: Head,
        body: Option<Vec<u8>>,
        flag: Flag,
    },
    Error {
        kind: msrp::ErrorKind,
        tid: Option<String>,
        can_continue: bool,
    },
    /// An [`Event::BriefSuccess`] (`DecoderConfig::brief_success_responses`), with the head
    /// its frame parses to and the first To-Path URI it names.
    Brief {
        head: Head,
        status: msrp::StatusCode,
        first_to: String,
    },
}

impl Out {
    /// A brief success response as the whole frame it stands for.
    pub fn unbriefed(self) -> Out {
        match self {
            Out::Brief { head, .. } => Out::Frame {
                head,
                body: None,
                flag: Flag::Last,
            },
            o => o,
        }
    }
}

/// The result of feeding `input` to a decoder in pieces cut at `cuts` (ascending positions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub outs: Vec<Out>,
    /// A fatal error stopped the run.
    pub fatal: bool,
    /// Bytes left undecoded at the end (an incomplete frame).
    pub left: usize,
    /// The decoder was between frames at the end.
    pub idle: bool,
}

pub fn run_cuts(cfg: &DecoderConfig, input: &[u8], cuts: &[usize]) -> Run {
    let mut dec = Decoder::new(cfg.clone());
    let mut buf = BytesMut::new();
    let mut outs = Vec::new();
    let mut cur: Option<(Head, Option<Vec<u8>>)> = None;
    let mut prev = 0;
    let mut fatal = false;
    'feed: for &c in cuts.iter().chain(std::iter::once(&input.len())) {
        buf.extend_from_slice(&input[prev..c]);
        prev = c;
        loop {
            match dec.decode(&mut buf) {
                Ok(None) => break,
                Ok(Some(Event::Head { head, body })) => {
                    assert!(cur.is_none(), "head inside a frame");
                    cur = Some((head, body.then(Vec::new)));
                }
                Ok(Some(Event::RepeatedSend(r))) => {
                    // The head it stands for (tests/decoder.rs compares it with a full parse).
                    assert!(cur.is_none(), "head inside a frame");
                    assert!(cfg.repeated_sends && cfg.reuse_heads, "not configured");
                    // The body and end-line read with it (`whole_repeats`) are taken for every
                    // other frame; the others' come as events.
                    match (outs.len() % 2 == 0).then(|| dec.take_tail()).flatten() {
                        // The body and end-line read with it: the frame is whole.
                        Some(t) => {
                            assert!(cfg.whole_repeats && r.body, "not configured");
                            assert_eq!(t.octets(), t.body.len() + 2 + 7 + r.tid.len() + 3);
                            outs.push(Out::Frame {
                                head: r.head(),
                                body: Some(t.body.to_vec()),
                                flag: t.flag,
                            });
                        }
                        None => cur = Some((r.head(), r.body.then(Vec::new))),
                    }
                }
                Ok(Some(Event::Body(b))) => {
                    assert!(!b.is_empty(), "empty body piece");
                    let (_, body) = cur.as_mut().expect("body outside a frame");
                    body.as_mut()
                        .expect("body piece for a bodiless frame")
                        .extend_from_slice(&b);
                }
                Ok(Some(Event::End(flag))) => {
                    let (head, body) = cur.take().expect("end outside a frame");
                    outs.push(Out::Frame { head, body, flag });
                }
                Ok(Some(Event::BriefSuccess(r))) => {
                    assert!(cur.is_none(), "brief response inside a frame");
                    assert!(cfg.brief_success_responses, "not configured");
                    let head = r.head().expect("a brief response parses");
                    assert_eq!(head.tid, r.tid());
                    assert_eq!(r.tid_octets(), head.tid.as_bytes());
                    assert_eq!(head.status(), Some(r.status));
                    outs.push(Out::Brief {
                        head,
                        status: r.status,
                        first_to: String::from_utf8(r.first_to_path().to_vec()).expect("text"),
                    });
                }
                Err(e) => {
                    cur = None;
                    outs.push(err_out(&e));
                    if !e.can_continue() {
                        fatal = true;
                        break 'feed;
                    }
                }
            }
        }
    }
    let (left, idle) = if fatal {
        (0, false)
    } else {
        (buf.len(), dec.is_idle() && cur.is_none())
    };
    Run {
        outs,
        fatal,
        left,
        idle,
    }
}

pub fn err_out(e: &DecodeError) -> Out {
    Out::Error {
        kind: e.kind.clone(),
        tid: e.tid.as_ref().map(|t| t.to_string()),
        can_continue: e.can_continue(),
    }
}

pub fn run_whole(cfg: &DecoderConfig, input: &[u8]) -> Run {
    run_cuts(cfg, input, &[])
}

/// Every single split point, and byte-at-a-time, must give the same run as the whole input.
pub fn assert_split_invariant(cfg: &DecoderConfig, input: &[u8]) -> Run {
    let whole = run_whole(cfg, input);
    for i in 0..=input.len() {
        let r = run_cuts(cfg, input, &[i]);
        assert_eq!(r, whole, "split at {i} of {}", input.len());
    }
    let every: Vec<usize> = (1..input.len()).collect();
    assert_eq!(run_cuts(cfg, input, &every), whole, "byte at a time");
    whole
}
