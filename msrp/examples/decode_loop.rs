//! A decode loop for profiling and instruction counts (issue #2): 1000 back-to-back 100-octet
//! SENDs (as in `benches/framing.rs`) decoded N times; prints the best and the mean time per
//! frame. Run `cargo run --release -p msrp --example decode_loop -- 300`; count instructions with
//! `valgrind --tool=callgrind` at N = 1 and N = 11 and divide the difference by 10 000. With
//! `DL_TRACE=1` set, each pass's time per frame goes to stderr (to see a noisy machine's spread).
//! With `DL_RESPONSES=1` the frames are bodiless `200 OK` responses instead, as a relay or a
//! room reads them back for every SEND it forwards or copies.
#![forbid(unsafe_code)]

use std::time::Instant;

use bytes::BytesMut;
use msrp::{Decoder, Event};

fn main() {
    let iters: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let body = vec![b'x'; 100];
    let mut input = Vec::new();
    let responses = std::env::var_os("DL_RESPONSES").is_some();
    for i in 0..1000usize {
        if responses {
            input.extend_from_slice(
                format!(
                    "MSRP a786{i:08x} 200 OK\r\nTo-Path: msrp://atlanta.example.com:7654/jshA7weztas;tcp\r\n\
                     From-Path: msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp\r\n-------a786{i:08x}$\r\n"
                )
                .as_bytes(),
            );
            continue;
        }
        input.extend_from_slice(
            format!(
                "MSRP a786{i:08x} SEND\r\nTo-Path: msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp\r\n\
                 From-Path: msrp://atlanta.example.com:7654/jshA7weztas;tcp\r\nMessage-ID: 8765{i:08}\r\n\
                 Byte-Range: 1-100/100\r\nContent-Type: text/plain\r\n\r\n"
            )
            .as_bytes(),
        );
        input.extend_from_slice(&body);
        input.extend_from_slice(format!("\r\n-------a786{i:08x}$\r\n").as_bytes());
    }
    let (mut best, mut total) = (f64::MAX, 0.0);
    for _ in 0..iters {
        let mut buf = BytesMut::from(&input[..]);
        let t = Instant::now();
        let mut dec = Decoder::default();
        let mut frames = 0;
        while let Some(ev) = dec.decode(&mut buf).expect("decodes") {
            if let Event::End(_) = ev {
                frames += 1;
            }
            std::hint::black_box(ev);
        }
        assert_eq!(frames, 1000);
        let e = t.elapsed().as_secs_f64();
        total += e;
        best = best.min(e);
        if std::env::var_os("DL_TRACE").is_some() {
            eprint!("{:.0} ", e / 1000.0 * 1e9);
        }
    }
    println!(
        "best {:.0} ns/frame, mean {:.0} ns/frame",
        best / 1000.0 * 1e9,
        total / iters.max(1) as f64 / 1000.0 * 1e9
    );
}
