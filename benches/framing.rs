//! Criterion benches of the `msrp` framing engine: the streaming [`Decoder`], the whole-frame
//! [`FrameDecoder`], the writer ([`encode::frame`]), the chunk sender ([`ChunkSender`]) and the
//! reassembler ([`Reassembler`]).
//!
//! Run with `cargo bench --bench framing` (about a minute: the measurement time is kept short
//! in [`config`]). Every group sets a [`Throughput`], so criterion reports frames/s
//! (`Elements`) or bytes/s (`Bytes`).
//!
//! The frames are RFC 4975 §4 Figure 2 SENDs (To-Path, From-Path, Message-ID, Byte-Range,
//! Content-Type) with a 100-octet `text/plain` body, each with its own transaction id and
//! Message-ID, as a busy chat connection would carry them.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use msrp::reassembly::{Outcome, Reassembler};
use msrp::sender::{ChunkSender, DEFAULT_CHUNK_SIZE};
use msrp::{Decoder, DecoderConfig, Event, Flag, Frame, FrameDecoder, IdGenerator, encode};

/// Frames per iteration in the small-SEND decode benches.
const FRAMES: usize = 1000;
/// Body size of the small SENDs.
const SMALL_BODY: usize = 100;
/// Body size of the large SEND.
const MIB: usize = 1024 * 1024;
/// Size of one simulated socket read.
const READ: usize = 16 * 1024;

/// A 100-octet chat message body (no CRLF, no end-line look-alike).
fn small_body() -> Vec<u8> {
    let text = b"Hey Bob, are you there? This is a hundred-octet chat message used to measure MSRP framing speed. ";
    let mut body = text.repeat(2);
    body.truncate(SMALL_BODY);
    body
}

/// One SEND like RFC 4975 §4 Figure 2, with transaction id and Message-ID derived from `i`.
fn small_send(i: usize, body: &[u8], out: &mut Vec<u8>) {
    let head = format!(
        "MSRP a786{i:08x} SEND\r\n\
         To-Path: msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp\r\n\
         From-Path: msrp://atlanta.example.com:7654/jshA7weztas;tcp\r\n\
         Message-ID: 8765{i:08}\r\n\
         Byte-Range: 1-{n}/{n}\r\n\
         Content-Type: text/plain\r\n\
         \r\n",
        n = body.len()
    );
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(format!("\r\n-------a786{i:08x}$\r\n").as_bytes());
}

/// `FRAMES` back-to-back small SENDs.
fn small_stream() -> Bytes {
    let body = small_body();
    let mut out = Vec::with_capacity(FRAMES * 400);
    for i in 0..FRAMES {
        small_send(i, &body, &mut out);
    }
    Bytes::from(out)
}

/// One SEND carrying a 1 MiB body of pseudo-random octets (a file transfer).
fn large_send() -> Bytes {
    let mut body = Vec::with_capacity(MIB);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while body.len() < MIB {
        // xorshift64: deterministic, fast, no dependency.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        body.extend_from_slice(&x.to_le_bytes());
    }
    body.truncate(MIB);
    let mut out = format!(
        "MSRP fl3x9q2b SEND\r\n\
         To-Path: msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp\r\n\
         From-Path: msrp://atlanta.example.com:7654/jshA7weztas;tcp\r\n\
         Message-ID: 12339sdqwer\r\n\
         Byte-Range: 1-{MIB}/{MIB}\r\n\
         Content-Type: application/octet-stream\r\n\
         \r\n"
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out.extend_from_slice(b"\r\n-------fl3x9q2b$\r\n");
    Bytes::from(out)
}

/// The first frame of `bytes`, decoded (used to get a typed [`msrp::Head`] to encode).
fn first_frame(bytes: &[u8]) -> Frame {
    let mut buf = BytesMut::from(bytes);
    let mut dec = FrameDecoder::new(DecoderConfig::default(), u64::MAX);
    match dec.decode(&mut buf) {
        Ok(Some(frame)) => frame,
        other => panic!("bench input does not decode: {other:?}"),
    }
}

/// Drains every event from `buf`; returns (frames ended, body octets). Panics on a decode
/// error: the bench inputs are well-formed, so an error is a bug worth stopping for.
fn drain(dec: &mut Decoder, buf: &mut BytesMut, frames: &mut usize, body: &mut usize) {
    loop {
        match dec.decode(buf) {
            Ok(Some(Event::Head { head, .. })) => {
                black_box(head);
            }
            Ok(Some(Event::Body(piece))) => *body += piece.len(),
            Ok(Some(Event::End(flag))) => {
                black_box(flag);
                *frames += 1;
            }
            Ok(Some(Event::BriefSuccess(r))) => {
                black_box(r);
                *frames += 1;
            }
            Ok(Some(Event::RepeatedSend(r))) => {
                black_box(r);
            }
            Ok(None) => return,
            Err(e) => panic!("bench input failed to decode: {e}"),
        }
    }
}

fn decode_small_send(c: &mut Criterion) {
    let input = small_stream();
    let mut g = c.benchmark_group("decode/small_send");
    g.throughput(Throughput::Elements(FRAMES as u64));
    g.bench_function("Decoder", |b| {
        b.iter_batched_ref(
            || BytesMut::from(&input[..]),
            |buf| {
                let mut dec = Decoder::default();
                let (mut frames, mut body) = (0, 0);
                drain(&mut dec, buf, &mut frames, &mut body);
                assert_eq!((frames, body), (FRAMES, FRAMES * SMALL_BODY));
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("FrameDecoder", |b| {
        b.iter_batched_ref(
            || BytesMut::from(&input[..]),
            |buf| {
                let mut dec = FrameDecoder::new(DecoderConfig::default(), 64 * 1024);
                let mut frames = 0;
                loop {
                    match dec.decode(buf) {
                        Ok(Some(frame)) => {
                            black_box(frame);
                            frames += 1;
                        }
                        Ok(None) => break,
                        Err(e) => panic!("bench input failed to decode: {e}"),
                    }
                }
                assert_eq!(frames, FRAMES);
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn decode_body_1mib(c: &mut Criterion) {
    let input = large_send();
    let mut g = c.benchmark_group("decode/body_1mib_16k_reads");
    g.throughput(Throughput::Bytes(MIB as u64));
    // Each 16 KiB "read" is appended to the read buffer (the copy a socket read would do) and
    // the decoder is drained before the next one, as a connection task does.
    g.bench_function("Decoder", |b| {
        let mut buf = BytesMut::with_capacity(4 * READ);
        b.iter(|| {
            let mut dec = Decoder::default();
            let (mut frames, mut body) = (0, 0);
            for read in input.chunks(READ) {
                buf.extend_from_slice(read);
                drain(&mut dec, &mut buf, &mut frames, &mut body);
            }
            assert_eq!((frames, body), (1, MIB));
        })
    });
    g.finish();
}

fn encode_small_send(c: &mut Criterion) {
    let mut one = Vec::new();
    small_send(7, &small_body(), &mut one);
    let frame = first_frame(&one);
    let body = frame.body.clone().unwrap_or_default();
    let mut g = c.benchmark_group("encode/small_send");
    g.throughput(Throughput::Elements(1));
    g.bench_function("encode::frame", |b| {
        let mut out = BytesMut::with_capacity(1024);
        b.iter(|| {
            out.clear();
            encode::frame(
                black_box(&frame.head),
                Some(black_box(&body[..])),
                Flag::Last,
                &mut out,
            );
            black_box(out.len());
        })
    });
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// Chunking and reassembly of a 1 MiB message (RFC 4975 §7.1.1, §7.3.1), with the default 16 KiB
// chunks: 64 chunks per message.
// ---------------------------------------------------------------------------------------------

/// The 1 MiB SEND as a message template (its Byte-Range is replaced per chunk) and body.
fn large_message() -> (msrp::Head, Bytes) {
    let frame = first_frame(&large_send());
    let body = frame.body.unwrap_or_default();
    assert_eq!(body.len(), MIB);
    (frame.head, body)
}

fn chunk_1mib(c: &mut Criterion) {
    let (head, body) = large_message();
    let mut ids = IdGenerator::new();
    let mut g = c.benchmark_group("chunk/1mib");
    g.throughput(Throughput::Bytes(MIB as u64));
    // Splitting only: chunk heads (tid, Byte-Range) and zero-copy body slices.
    g.bench_function("poll_chunk", |b| {
        b.iter(|| {
            let mut sender = ChunkSender::default();
            sender
                .send(head.clone(), body.clone())
                .expect("valid message");
            let mut n = 0;
            while let Some(chunk) = sender.poll_chunk(&mut ids, |_| false) {
                n += chunk.body.len();
                black_box(chunk);
            }
            assert_eq!(n, MIB);
        })
    });
    // Splitting and writing every chunk (head, body, end-line) into a reused write buffer.
    g.bench_function("poll_chunk+write", |b| {
        let mut out = BytesMut::with_capacity(2 * DEFAULT_CHUNK_SIZE);
        b.iter(|| {
            let mut sender = ChunkSender::default();
            sender
                .send(head.clone(), body.clone())
                .expect("valid message");
            let mut n = 0;
            while let Some(chunk) = sender.poll_chunk(&mut ids, |_| false) {
                out.clear();
                chunk.write(&mut out);
                n += out.len();
            }
            assert!(n > MIB);
        })
    });
    g.finish();
}

fn reassemble_1mib(c: &mut Criterion) {
    let (head, body) = large_message();
    let mut ids = IdGenerator::new();
    let mut sender = ChunkSender::default();
    sender.send(head, body.clone()).expect("valid message");
    let mut chunks = Vec::new();
    while let Some(chunk) = sender.poll_chunk(&mut ids, |_| false) {
        chunks.push((chunk.head, chunk.body, chunk.flag));
    }
    let reversed: Vec<_> = chunks.iter().rev().cloned().collect();
    let now = Instant::now();
    let mut g = c.benchmark_group("reassemble/1mib");
    g.throughput(Throughput::Bytes(MIB as u64));
    for (name, order) in [("in_order", &chunks), ("reversed", &reversed)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut r = Reassembler::default();
                let mut done = None;
                for (head, piece, flag) in order {
                    let mut cursor = r.begin(head, now).expect("valid chunk");
                    r.body(&mut cursor, piece.clone()).expect("valid body");
                    if let Outcome::Complete(m) = r.end(cursor, *flag, now).expect("valid end") {
                        done = Some(m);
                    }
                }
                let m = done.expect("message completed");
                assert_eq!(m.body.len(), MIB);
                black_box(m);
            })
        });
    }
    g.finish();
}

/// Short warm-up and measurement so the whole bench finishes in about a minute.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = framing;
    config = config();
    targets = decode_small_send, decode_body_1mib, encode_small_send, chunk_1mib, reassemble_1mib
}
criterion_main!(framing);
