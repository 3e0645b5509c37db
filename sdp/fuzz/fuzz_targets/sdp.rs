//! Fuzz target for `msrp-sdp` (DESIGN.md convention 4).
//!
//! Run on stable with `cargo fuzz run sdp -s none` from `sdp/fuzz`. For arbitrary bytes:
//!
//! 1. Parsing the bytes as an SDP document, and each `m=message` section into an
//!    [`MsrpMedia`], must never panic.
//! 2. Every typed attribute parser must never panic on any line of the input, and whatever it
//!    accepts must write back to a value it parses again to an equal attribute (parse leniently,
//!    write strictly, RFC 4975 §8.6 4975-104).
//! 3. [`negotiate`] must never panic under a plain and a chat-room policy; an answer it gives must
//!    parse again, with as many m-lines as the offer (RFC 3264 §6, 3264-001), each MSRP one
//!    converting to an [`MsrpMedia`].
#![no_main]

use libfuzzer_sys::fuzz_target;
use msrp_sdp::attr::{
    AcceptTypes, AcceptWrappedTypes, Chatroom, ConnectionAttr, FileDate, FileDisposition, FileIcon,
    FileRange, FileSelector, FileTransferId, Fingerprint, MaxSize, MsrpAttribute, MsrpCema,
    PathAttr, Setup,
};
use msrp_sdp::sdp_types::Session;
use msrp_sdp::{MsrpMedia, Policy, negotiate};

/// `parse(write(parse(v))) == parse(v)` for whatever `v` parses.
fn round_trip<A: MsrpAttribute + PartialEq + std::fmt::Debug>(value: Option<&str>) {
    if let Ok(a) = A::parse_value(value) {
        let written = a.to_value();
        let again = A::parse_value(written.as_deref())
            .unwrap_or_else(|e| panic!("a={} wrote {written:?}, which fails: {e}", A::NAME));
        assert_eq!(a, again, "a={}: {value:?} -> {written:?}", A::NAME);
    }
}

fn attributes(value: Option<&str>) {
    round_trip::<PathAttr>(value);
    round_trip::<AcceptTypes>(value);
    round_trip::<AcceptWrappedTypes>(value);
    round_trip::<MaxSize>(value);
    round_trip::<Setup>(value);
    round_trip::<ConnectionAttr>(value);
    round_trip::<Fingerprint>(value);
    round_trip::<Chatroom>(value);
    round_trip::<MsrpCema>(value);
    round_trip::<FileSelector>(value);
    round_trip::<FileTransferId>(value);
    round_trip::<FileDisposition>(value);
    round_trip::<FileDate>(value);
    round_trip::<FileIcon>(value);
    round_trip::<FileRange>(value);
}

fn policies() -> [Policy; 2] {
    let uri = "msrp://127.0.0.1:2855/fuzz0session;tcp"
        .parse()
        .expect("uri");
    let plain = Policy::new(vec![uri]);
    let mut chat = plain.clone();
    chat.chat_room = Some(Chatroom {
        nickname: true,
        private_messages: true,
        extensions: Vec::new(),
    });
    [plain, chat]
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        attributes(None);
        for line in text.lines() {
            attributes(Some(line));
            if let Some((_, v)) = line.split_once(':') {
                attributes(Some(v));
            }
        }
    }
    let Ok(offer) = Session::parse(data) else {
        return;
    };
    for m in &offer.medias {
        let _ = MsrpMedia::from_media(&offer, m);
    }
    for policy in policies() {
        if let Ok(answer) = negotiate(&offer, &policy) {
            let bytes = answer.to_bytes();
            let parsed = Session::parse(&bytes).expect("an answer parses");
            assert_eq!(parsed.medias.len(), offer.medias.len(), "3264-001");
            for m in &parsed.medias {
                if m.port != 0 {
                    MsrpMedia::from_media(&parsed, m).expect("an accepted m-line is valid");
                }
            }
        }
    }
});
