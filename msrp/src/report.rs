//! Which transaction responses and REPORTs a node owes, and how they are built (RFC 4975 §7.1.2
//! to §7.1.4, §7.2, §7.3, §10, §12; RFC 4976 §6.4.1, §6.4.3).
//!
//! Everything here is a pure function of the request's [`Head`]: no I/O, no state. The rules:
//!
//! | request                     | outcome | response (4975-044/045/046/052) | failure REPORT | success REPORT |
//! |-----------------------------|---------|----------------------------------|----------------|----------------|
//! | SEND, FR `yes` or absent    | 2xx     | yes                              | no             | if SR `yes`    |
//! | SEND, FR `yes` or absent    | error   | yes, carrying the error          | see below      | no             |
//! | SEND, FR `partial`          | 2xx     | **no** (4975-045)                | no             | if SR `yes`    |
//! | SEND, FR `partial`          | error   | yes, carrying the error          | see below      | no             |
//! | SEND, FR `no`               | any     | **no** (4975-046)                | **never**      | if SR `yes` and 2xx |
//! | REPORT                      | any     | **never** (4975-052)             | **never**      | **never**      |
//! | AUTH, NICKNAME, unknown     | any     | yes                              | never          | never          |
//!
//! Failure REPORTs (4975-053, 4976-031, 4976-037) are owed for a SEND whose Failure-Report is
//! `yes` or `partial` when a failure is found that the transaction response did not carry: an
//! endpoint finds it after answering (a gateway, a chat room whose fan-out fails), a relay finds it
//! downstream (an error response or a timeout of the next hop, 4976-030) or locally (RFC 4976
//! §6.4.1 asks for the REPORT even when the relay also answered with the error). See [`owed`],
//! [`relay_owed`] and [`failure_report_owed`].

use bytestring::ByteString;

use crate::byte_range::ByteRange;
use crate::head::{Head, Method};
use crate::header::{FailureReport, Header, Path, Status};
use crate::ident::Ident;
use crate::status::StatusCode;
use crate::uri::MsrpUri;

/// RFC 4975 §7.1.2 (4975-052), §7.1.4 (4975-045/046), §7.2 (4975-044): whether a transaction
/// response with `status` is to be sent for request `req`.
///
/// - REPORT: never (4975-052).
/// - SEND with Failure-Report `no`: never (4975-046).
/// - SEND with Failure-Report `partial`: only for a non-2xx status (4975-045).
/// - SEND with Failure-Report `yes` or absent (4975-043: absent means `yes`): always (4975-044).
/// - Any other request (AUTH, NICKNAME, an unknown method answered 501): always.
/// - A response is never answered: `false`.
pub fn response_owed(req: &Head, status: StatusCode) -> bool {
    match req.method() {
        None | Some(Method::Report) => false,
        Some(Method::Send) => match req.failure_report() {
            FailureReport::Yes => true,
            FailureReport::Partial => !status.is_success(),
            FailureReport::No => false,
        },
        Some(_) => true,
    }
}

/// RFC 4975 §7.1.3 (4975-047/048): whether the receiver of `req` owes success REPORTs covering
/// the octets it received: only for a SEND whose Success-Report is `yes` (absent means `no`,
/// 4975-043). Never for a REPORT or any other method.
pub fn success_report_owed(req: &Head) -> bool {
    req.is_send() && req.success_report()
}

/// RFC 4975 §7.1.4, RFC 4976 §6.4.1/§6.4.3 (4976-031, 4976-037): whether a failure with `status`
/// found for `req` is to be reported to the original sender in a failure REPORT: only for a SEND
/// whose Failure-Report is `yes` (or absent) or `partial`, and only for a non-2xx status. Never for
/// a REPORT (4975-052) or a SEND with Failure-Report `no` (4975-046).
///
/// This is the rule for failures found outside the transaction response (after a 200 was sent or
/// withheld, or downstream of a relay); [`owed`] and [`relay_owed`] apply it to an immediate
/// outcome.
pub fn failure_report_owed(req: &Head, status: StatusCode) -> bool {
    req.is_send() && req.failure_report() != FailureReport::No && !status.is_success()
}

/// RFC 4975 §7.1.1 (4975-056), RFC 4976 §6.4.1 (4976-030): whether the sender of `req` runs the
/// response timer (and so keeps the transaction in a
/// [`Transactions`](crate::transaction::Transactions) table): for a SEND with Failure-Report `yes`
/// or absent, and for every other request but REPORT, which is never answered (4975-052). A SEND
/// with Failure-Report `partial` gets a response only on failure, one with `no` never: no timer.
pub fn response_timer(req: &Head) -> bool {
    match req.method() {
        None | Some(Method::Report) => false,
        Some(Method::Send) => req.failure_report() == FailureReport::Yes,
        Some(_) => true,
    }
}

/// What a node owes once it knows the outcome of a request it received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owed {
    /// A transaction response with this status, on the connection the request came in on
    /// (4975-061); `None`: no response.
    pub response: Option<StatusCode>,
    /// A failure REPORT with the outcome's status to the original sender (build it with
    /// [`report`]).
    pub failure_report: bool,
    /// The received octets are to be covered by success REPORTs (4975-047: one per chunk, or one
    /// for the whole message once it is complete; build them with [`report`] and status 200).
    pub success_report: bool,
}

/// What an **endpoint** owes for request `req` whose outcome (the status it would answer) is
/// `outcome`, decided while the transaction is open (RFC 4975 §7.1.3, §7.1.4, §7.2):
///
/// - `response`: `Some(outcome)` when [`response_owed`].
/// - `failure_report`: an endpoint puts the error in the transaction response (RFC 4975 §7.1.4:
///   it "SHOULD simply include the appropriate error code in the transaction response"), so this
///   is set only when a failure REPORT is owed that no response carries, which the rules above
///   never produce. A failure found *after* the response was sent is reported when
///   [`failure_report_owed`] says so.
/// - `success_report`: a 2xx outcome of a SEND with Success-Report `yes` (4975-047/048); this
///   holds with Failure-Report `no` as well, since the two headers are independent.
pub fn owed(req: &Head, outcome: StatusCode) -> Owed {
    let response = response_owed(req, outcome).then_some(outcome);
    Owed {
        response,
        failure_report: response.is_none() && failure_report_owed(req, outcome),
        success_report: outcome.is_success() && success_report_owed(req),
    }
}

/// What a **relay** owes for request `req` whose local outcome is `outcome` (RFC 4976 §6.4.1):
/// the transaction response as for an endpoint (for a SEND with Failure-Report `yes` a final
/// response goes to the previous hop immediately, 4976-028/029: a 200 means received by the relay,
/// not delivered), and, for a local processing error of a SEND with Failure-Report `yes` or
/// `partial`, also a failure REPORT to the original sender (4976-031). A relay does not originate
/// success REPORTs (the destination does), so `success_report` is `false`.
///
/// Failures found later (an error response from the next hop, 4976-037, or a timeout, 4976-030
/// with status 408) are reported when [`failure_report_owed`] says so.
pub fn relay_owed(req: &Head, outcome: StatusCode) -> Owed {
    Owed {
        response: response_owed(req, outcome).then_some(outcome),
        failure_report: failure_report_owed(req, outcome),
        success_report: false,
    }
}

/// The comment to send: `comment` when it is a valid `comment` (no control characters, so it
/// cannot break the start line or a header), otherwise the registered reason phrase.
fn comment_or_reason(status: StatusCode, comment: Option<&str>) -> Option<ByteString> {
    match comment {
        Some(c) if !c.is_empty() && !c.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) => {
            Some(ByteString::from(c.to_owned()))
        }
        _ => status.reason().map(ByteString::from_static),
    }
}

/// RFC 4975 §7.2 (4975-061/062), RFC 4976 §6.4.1 (4976-029): the transaction response to `req`
/// with `status`:
///
/// - the request's transaction id (4975-061);
/// - To-Path: the first (leftmost) From-Path URI of a SEND (responses to SEND go to the previous
///   hop only), or the request's whole From-Path for any other method (4975-062);
/// - From-Path: `local`, the responder's URI in the session (4975-062);
/// - comment: `comment`, or the status's reason phrase when `comment` is `None` or not a valid
///   comment (it may not contain control characters).
///
/// The response carries no other header (no Message-ID, Success-Report or Failure-Report); the
/// caller adds any it needs (e.g. WWW-Authenticate, Use-Path) with [`Head::push`]. It is sent
/// without a body and with the `$` flag (RFC 4975 §7.2). Whether it is to be sent at all is
/// [`response_owed`]'s question.
pub fn response(req: &Head, status: StatusCode, comment: Option<&str>, local: &MsrpUri) -> Head {
    let from = req.from_path();
    let to = if req.is_send() {
        from.iter().take(1).cloned().collect()
    } else {
        from.iter().cloned().collect::<Path>()
    };
    let mut head = Head::response(status, req.tid, to, crate::path![local.clone()]);
    if let crate::head::StartLine::Response { comment: c, .. } = &mut head.start {
        *c = comment_or_reason(status, comment);
    }
    head
}

/// RFC 4975 §7.1.2 to §7.1.4 (4975-049/050/051/053), RFC 4976 §6.4.1: a success or failure
/// REPORT about `send`, with transaction id `tid`:
///
/// - To-Path: the SEND's whole From-Path, back to the original sender (4975-049);
/// - From-Path: `local`, the reporter's URI in the session;
/// - Message-ID: the SEND's (4975-049);
/// - Byte-Range: `range`, the octets actually received and reported on (4975-053: range-end is
///   computed from the body actually received, not copied from the SEND);
/// - `Status: 000 <status> <comment>`, the comment defaulting to the reason phrase (4975-050);
/// - no Success-Report and no Failure-Report (4975-051).
///
/// `None` when `send` has no Message-ID: a REPORT must carry the original one, so none can be
/// built. The REPORT has no body and is sent with the `$` flag.
pub fn report(
    send: &Head,
    tid: Ident,
    status: StatusCode,
    comment: Option<&str>,
    range: ByteRange,
    local: &MsrpUri,
) -> Option<Head> {
    let message_id = *send.message_id()?;
    let mut head = Head::request(
        Method::Report,
        tid,
        send.from_path().iter().cloned().collect(),
        crate::path![local.clone()],
    );
    head.headers.reserve_exact(3);
    head.headers.push(Header::MessageId(message_id));
    head.headers.push(Header::ByteRange(range));
    head.headers.push(Header::Status(Status {
        namespace: 0,
        code: status,
        comment: comment_or_reason(status, comment),
    }));
    Some(head)
}

/// RFC 4975 §7.3 (4975-063) and §12 (4975-017): an endpoint's first checks of a received request.
///
/// - The To-Path must hold exactly one URI, and it must map to a session bound to the connection
///   the request came in on (`has_session` answers that; the mapping is the caller's), otherwise
///   `Err(481)`.
/// - The method must be SEND, REPORT or one of `extra_methods` (e.g. NICKNAME for a chat room,
///   RFC 7701 §7), otherwise `Err(501)`.
/// - A response is not a request: `Err(400)`.
///
/// The error is the request's outcome: pass it to [`owed`], which says whether it is answered (it
/// is not for a REPORT, 4975-052, or a SEND with Failure-Report `no`, 4975-046: the request is
/// then ignored silently).
pub fn check_request(
    req: &Head,
    extra_methods: &[Method],
    has_session: impl FnOnce(&MsrpUri) -> bool,
) -> Result<(), StatusCode> {
    let Some(method) = req.method() else {
        return Err(StatusCode::BAD_REQUEST);
    };
    let known = match req.to_path() {
        [dest] => has_session(dest),
        _ => false,
    };
    if !known {
        return Err(StatusCode::NO_SUCH_SESSION);
    }
    match method {
        Method::Send | Method::Report => Ok(()),
        m if extra_methods.contains(m) => Ok(()),
        _ => Err(StatusCode::NOT_IMPLEMENTED),
    }
}

/// RFC 4975 §7.3.1 (4975-069): a SEND whose Content-Type the receiver does not support gets 415
/// (sent only when Failure-Report is not `no`, which [`owed`] takes care of). `supported` is asked
/// about the Content-Type value as received (parameters included; see
/// [`Header::content_type_mime`] to parse it). A SEND without Content-Type (no body) and any other
/// method pass. RFC 4975 §7.3.1 also requires endpoints to accept `multipart/mixed` and
/// `multipart/alternative`; that is for `supported` to say.
pub fn check_media_type(
    req: &Head,
    supported: impl FnOnce(&str) -> bool,
) -> Result<(), StatusCode> {
    match req.content_type() {
        Some(ct) if req.is_send() && !supported(ct) => Err(StatusCode::UNSUPPORTED_MEDIA_TYPE),
        _ => Ok(()),
    }
}

/// RFC 4975 §7.1.1, §7.1.2 (4975-054): `true` when `req` is a REPORT to be silently ignored
/// because its Message-ID is absent or not one `known` recognizes (a message this node sent).
/// `false` for any other request.
pub fn ignore_report(req: &Head, known: impl FnOnce(&str) -> bool) -> bool {
    matches!(req.method(), Some(Method::Report)) && !req.message_id().is_some_and(|m| known(m))
}

/// RFC 4975 §7.3.2: the status a received REPORT carries, to be interpreted exactly like a
/// transaction response with that code. `None` when the REPORT has no Status header or its
/// namespace is not `000` (MSRP status codes), or when `req` is not a REPORT.
pub fn report_status(req: &Head) -> Option<StatusCode> {
    if !matches!(req.method(), Some(Method::Report)) {
        return None;
    }
    req.report_status()
        .filter(|s| s.namespace == 0)
        .map(|s| s.code)
}

/// RFC 4975 §10 (4975-067): an endpoint that receives a 408 response (sent by a relay whose
/// downstream transaction timed out) treats it like its own transaction timeout.
pub fn is_local_timeout(status: StatusCode) -> bool {
    status == StatusCode::TIMEOUT
}

/// RFC 4975 §10 (4975-067): whether an endpoint may send `status`. 408 is reserved to relays;
/// an endpoint never sends it.
pub fn endpoint_may_send(status: StatusCode) -> bool {
    status != StatusCode::TIMEOUT
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decoder::DecoderConfig;
    use crate::encode;
    use crate::frame::FrameDecoder;
    use crate::head::Flag;
    use bytes::BytesMut;

    fn s(t: &str) -> ByteString {
        ByteString::from(t.to_owned())
    }

    fn uri(t: &str) -> MsrpUri {
        MsrpUri::parse(s(t)).unwrap()
    }

    /// Parses one whole frame with the crate's decoder.
    fn parse(wire: &str) -> Head {
        let mut buf = BytesMut::from(wire.as_bytes());
        let mut d = FrameDecoder::new(DecoderConfig::default(), 1 << 20);
        let f = d
            .decode(&mut buf)
            .expect("valid frame")
            .expect("complete frame");
        assert!(buf.is_empty(), "one frame");
        f.head
    }

    /// Writes a bodiless frame (responses and REPORTs) as `Head::write` does.
    fn wire(h: &Head) -> String {
        let mut out = BytesMut::new();
        encode::frame(h, None, Flag::Last, &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    const ALICE: &str = "msrp://alicepc.example.com:7777/iau39soe2843z;tcp";
    const BOB: &str = "msrp://bob.example.com:8888/9di4eae923wzd;tcp";

    fn request(method: Method, sr: Option<bool>, fr: Option<FailureReport>) -> Head {
        let mut h = Head::request(
            method,
            "tid12345".parse().unwrap(),
            crate::path![uri(BOB)],
            crate::path![uri(ALICE)],
        );
        h.push(Header::MessageId("msgid123".parse().unwrap()));
        if let Some(sr) = sr {
            h.push(Header::SuccessReport(sr));
        }
        if let Some(fr) = fr {
            h.push(Header::FailureReport(fr));
        }
        h
    }

    #[test]
    fn owed_table() {
        // 4975-043..048, 4975-052, 4975-069, 4976-028/031/037: (method, SR, FR, outcome) ->
        // endpoint (response, failure REPORT, success REPORT), relay (response, failure REPORT),
        // failure REPORT for a failure found later.
        use FailureReport::{No, Partial, Yes};
        let ok = StatusCode::OK;
        let e415 = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        let e481 = StatusCode::NO_SUCH_SESSION;
        let e501 = StatusCode::NOT_IMPLEMENTED;
        let other = || Method::Other(s("FOO"));
        /// (method, Success-Report, Failure-Report, outcome, endpoint (response, failure REPORT,
        /// success REPORT), relay (response, failure REPORT), failure REPORT for a later failure)
        type Row = (
            Method,
            Option<bool>,
            Option<FailureReport>,
            StatusCode,
            (Option<StatusCode>, bool, bool),
            (Option<StatusCode>, bool),
            bool,
        );
        #[rustfmt::skip]
        let rows: Vec<Row> = vec![
            // SEND, FR absent = yes (4975-043/044)
            (Method::Send, None, None, ok, (Some(ok), false, false), (Some(ok), false), false),
            (Method::Send, None, None, e415, (Some(e415), false, false), (Some(e415), true), true),
            // SEND, FR yes
            (Method::Send, None, Some(Yes), ok, (Some(ok), false, false), (Some(ok), false), false),
            (Method::Send, None, Some(Yes), e481, (Some(e481), false, false), (Some(e481), true), true),
            // SEND, FR partial: no 200, but errors answered (4975-045)
            (Method::Send, None, Some(Partial), ok, (None, false, false), (None, false), false),
            (Method::Send, None, Some(Partial), e415, (Some(e415), false, false), (Some(e415), true), true),
            // SEND, FR no: nothing, ever (4975-046)
            (Method::Send, None, Some(No), ok, (None, false, false), (None, false), false),
            (Method::Send, None, Some(No), e415, (None, false, false), (None, false), false),
            (Method::Send, None, Some(No), e481, (None, false, false), (None, false), false),
            // Success-Report yes: success REPORT on success only (4975-047); absent/no: never (4975-048)
            (Method::Send, Some(true), None, ok, (Some(ok), false, true), (Some(ok), false), false),
            (Method::Send, Some(true), None, e415, (Some(e415), false, false), (Some(e415), true), true),
            (Method::Send, Some(true), Some(Partial), ok, (None, false, true), (None, false), false),
            (Method::Send, Some(true), Some(No), ok, (None, false, true), (None, false), false),
            (Method::Send, Some(true), Some(No), e415, (None, false, false), (None, false), false),
            (Method::Send, Some(false), None, ok, (Some(ok), false, false), (Some(ok), false), false),
            (Method::Send, Some(false), Some(Yes), e415, (Some(e415), false, false), (Some(e415), true), true),
            // REPORT: never answered, never reported on (4975-052), whatever it carries
            (Method::Report, None, None, ok, (None, false, false), (None, false), false),
            (Method::Report, None, None, e481, (None, false, false), (None, false), false),
            (Method::Report, Some(true), Some(Yes), e481, (None, false, false), (None, false), false),
            // Other methods: always answered, no REPORTs (Failure-Report/Success-Report are SEND's)
            (Method::Auth, None, None, ok, (Some(ok), false, false), (Some(ok), false), false),
            (Method::Auth, None, Some(No), StatusCode::UNAUTHORIZED, (Some(StatusCode::UNAUTHORIZED), false, false), (Some(StatusCode::UNAUTHORIZED), false), false),
            (Method::Nickname, Some(true), Some(Partial), ok, (Some(ok), false, false), (Some(ok), false), false),
            (Method::Nickname, None, None, StatusCode::NICKNAME_IN_USE, (Some(StatusCode::NICKNAME_IN_USE), false, false), (Some(StatusCode::NICKNAME_IN_USE), false), false),
            (other(), None, None, e501, (Some(e501), false, false), (Some(e501), false), false),
            (other(), None, Some(No), e501, (Some(e501), false, false), (Some(e501), false), false),
        ];
        for (i, (m, sr, fr, outcome, (resp, frep, srep), (rresp, rfrep), later)) in
            rows.into_iter().enumerate()
        {
            let req = request(m, sr, fr);
            let ctx = format!(
                "row {i}: {} SR={sr:?} FR={fr:?} {outcome}",
                req.method().unwrap().as_str()
            );
            assert_eq!(
                owed(&req, outcome),
                Owed {
                    response: resp,
                    failure_report: frep,
                    success_report: srep
                },
                "{ctx}"
            );
            assert_eq!(
                relay_owed(&req, outcome),
                Owed {
                    response: rresp,
                    failure_report: rfrep,
                    success_report: false
                },
                "{ctx}"
            );
            assert_eq!(response_owed(&req, outcome), resp.is_some(), "{ctx}");
            assert_eq!(failure_report_owed(&req, outcome), later, "{ctx}");
            assert_eq!(
                success_report_owed(&req),
                req.is_send() && sr == Some(true),
                "{ctx}"
            );
        }
    }

    #[test]
    fn late_failures() {
        // 4976-030: a timeout of a forwarded SEND with FR yes -> 408 REPORT; 4976-037: an error
        // response from the next hop -> REPORT unless FR no; a 200 from the next hop -> nothing.
        let yes = request(Method::Send, None, None);
        assert!(failure_report_owed(&yes, StatusCode::TIMEOUT));
        assert!(failure_report_owed(&yes, StatusCode::FORBIDDEN));
        assert!(!failure_report_owed(&yes, StatusCode::OK));
        let partial = request(Method::Send, None, Some(FailureReport::Partial));
        assert!(failure_report_owed(&partial, StatusCode::TOO_LARGE));
        let no = request(Method::Send, None, Some(FailureReport::No));
        assert!(!failure_report_owed(&no, StatusCode::TIMEOUT));
    }

    #[test]
    fn response_timer_rules() {
        // 4975-056, 4976-030: the 30 s timer runs for FR yes (or absent); REPORTs are never
        // answered (4975-052); other methods are always answered.
        assert!(response_timer(&request(Method::Send, None, None)));
        assert!(response_timer(&request(
            Method::Send,
            None,
            Some(FailureReport::Yes)
        )));
        assert!(!response_timer(&request(
            Method::Send,
            None,
            Some(FailureReport::Partial)
        )));
        assert!(!response_timer(&request(
            Method::Send,
            None,
            Some(FailureReport::No)
        )));
        assert!(!response_timer(&request(Method::Report, None, None)));
        assert!(response_timer(&request(Method::Auth, None, None)));
        assert!(response_timer(&request(Method::Nickname, None, None)));
        let resp = response(
            &request(Method::Send, None, None),
            StatusCode::OK,
            None,
            &uri(BOB),
        );
        assert!(!response_timer(&resp));
        assert!(
            !response_owed(&resp, StatusCode::OK),
            "responses are not answered"
        );
    }

    #[test]
    fn response_to_send_rfc4975_fig2() {
        // RFC 4975 §4 Figure 2: the 200 to Alice's SEND. 4975-061 (same tid), 4975-062.
        let send = parse(
            "MSRP a786hjs2 SEND\r\n\
             To-Path: msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp\r\n\
             From-Path: msrp://atlanta.example.com:7654/jshA7weztas;tcp\r\n\
             Message-ID: 87652491\r\n\
             Byte-Range: 1-25/25\r\n\
             Content-Type: text/plain\r\n\
             \r\n\
             Hey Bob, are you there?\r\n\
             -------a786hjs2$\r\n",
        );
        let local = &send.to_path()[0];
        let r = response(&send, StatusCode::OK, None, local);
        assert_eq!(
            wire(&r),
            "MSRP a786hjs2 200 OK\r\n\
             To-Path: msrp://atlanta.example.com:7654/jshA7weztas;tcp\r\n\
             From-Path: msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp\r\n\
             -------a786hjs2$\r\n"
        );
        assert_eq!(parse(&wire(&r)), r, "round trip");
    }

    #[test]
    fn response_to_send_goes_to_previous_hop_only() {
        // 4975-062, 4976-029: RFC 4976 §3, relay B answers relay A's SEND. (The RFC's printed
        // 200 also carries the Message-ID; RFC 4975 §7.2 does not ask for it, so it is left out.)
        let send = parse(
            "MSRP juh76 SEND\r\n\
             To-Path: msrps://b.example.net:9000/aeiug;tcp msrps://bob.example.net:8145/foo;tcp\r\n\
             From-Path: msrps://a.example.org:9000/kjfjan;tcp msrps://alice.example.org:7965/bar;tcp\r\n\
             Success-Report: yes\r\n\
             Message-ID: 87652\r\n\
             Byte-Range: 1-*/*\r\n\
             Content-Type: text/plain\r\n\
             \r\n\
             Hi Bob, I'm about to send you file.mpeg\r\n\
             -------juh76$\r\n",
        );
        let r = response(
            &send,
            StatusCode::OK,
            None,
            &uri("msrps://b.example.net:9000/aeiug;tcp"),
        );
        assert_eq!(
            wire(&r),
            "MSRP juh76 200 OK\r\n\
             To-Path: msrps://a.example.org:9000/kjfjan;tcp\r\n\
             From-Path: msrps://b.example.net:9000/aeiug;tcp\r\n\
             -------juh76$\r\n"
        );
        assert_eq!(r.message_id(), None);
        assert!(
            !r.success_report()
                && r.find(|h| matches!(h, Header::FailureReport(_)).then_some(()))
                    .is_none()
        );
    }

    #[test]
    fn response_to_auth_goes_back_the_whole_path() {
        // 4975-062: RFC 4976 §5.1, the external relay challenges the AUTH forwarded by the
        // internal relay: To-Path is the AUTH's whole From-Path.
        let auth = parse(
            "MSRP m2nbvw AUTH\r\n\
             To-Path: msrps://extra.example.com;tcp\r\n\
             From-Path: msrps://intra.example.com:9000/jui787s2f;tcp msrps://alice.example.com:9892/98cjs;tcp\r\n\
             -------m2nbvw$\r\n",
        );
        let mut r = response(
            &auth,
            StatusCode::UNAUTHORIZED,
            None,
            &uri("msrps://extra.example.com;tcp"),
        );
        let v = s(
            r#"Digest realm="extra.example.com", qop="auth", nonce="Uumu8cAV38FGsEF31VLevIbNXj9HWO""#,
        );
        r.push(Header::parse(&v, "WWW-Authenticate", &v).unwrap());
        assert_eq!(
            wire(&r),
            "MSRP m2nbvw 401 Unauthorized\r\n\
             To-Path: msrps://intra.example.com:9000/jui787s2f;tcp msrps://alice.example.com:9892/98cjs;tcp\r\n\
             From-Path: msrps://extra.example.com;tcp\r\n\
             WWW-Authenticate: Digest realm=\"extra.example.com\", qop=\"auth\", nonce=\"Uumu8cAV38FGsEF31VLevIbNXj9HWO\"\r\n\
             -------m2nbvw$\r\n"
        );
    }

    #[test]
    fn response_to_nickname_goes_back_the_whole_path() {
        // 4975-062 for NICKNAME (RFC 7701 §7) through a relay, and a caller-chosen comment.
        let mut nick = Head::request(
            Method::Nickname,
            "nick0001".parse().unwrap(),
            crate::path![uri("msrp://room.example.com:2855/room1;tcp")],
            crate::path![uri("msrp://relay.example.com:2855/r1;tcp"), uri(ALICE)],
        );
        nick.push(Header::UseNickname(s("alice")));
        let r = response(
            &nick,
            StatusCode::NICKNAME_IN_USE,
            Some("Taken"),
            &uri("msrp://room.example.com:2855/room1;tcp"),
        );
        assert_eq!(
            wire(&r),
            format!(
                "MSRP nick0001 425 Taken\r\n\
                 To-Path: msrp://relay.example.com:2855/r1;tcp {ALICE}\r\n\
                 From-Path: msrp://room.example.com:2855/room1;tcp\r\n\
                 -------nick0001$\r\n"
            )
        );
        // The same request as a SEND: only the first URI.
        let mut send = nick.clone();
        send.start = crate::head::StartLine::Request(Method::Send);
        let r = response(
            &send,
            StatusCode::OK,
            None,
            &uri("msrp://room.example.com:2855/room1;tcp"),
        );
        assert_eq!(r.to_path(), &[uri("msrp://relay.example.com:2855/r1;tcp")]);
    }

    #[test]
    fn response_comments() {
        let req = request(Method::Send, None, None);
        let c = |h: &Head| match &h.start {
            crate::head::StartLine::Response { comment, .. } => {
                comment.as_deref().map(str::to_owned)
            }
            _ => panic!("not a response"),
        };
        let local = uri(BOB);
        assert_eq!(
            c(&response(&req, StatusCode::OK, None, &local)).as_deref(),
            Some("OK")
        );
        assert_eq!(
            c(&response(&req, StatusCode::OK, Some("Fine thanks"), &local)).as_deref(),
            Some("Fine thanks")
        );
        // An unregistered code without a comment has none; a comment that would break the line is
        // replaced by the reason phrase.
        assert_eq!(
            c(&response(&req, StatusCode::new(299).unwrap(), None, &local)),
            None
        );
        let evil = response(
            &req,
            StatusCode::FORBIDDEN,
            Some("x\r\nTo-Path: msrp://evil;tcp"),
            &local,
        );
        assert_eq!(c(&evil).as_deref(), Some("Forbidden"));
        // tid kept (4975-061), From-Path = local (4975-062).
        let r = response(&req, StatusCode::OK, None, &local);
        assert_eq!(r.tid, req.tid);
        assert_eq!(r.from_path(), &[local]);
        assert_eq!(r.status(), Some(StatusCode::OK));
    }

    #[test]
    fn success_report_rfc4975_fig17() {
        // RFC 4975 §11.6 Figures 16 and 17: Bob's success REPORT for Alice's SEND.
        // 4975-049/050/051/053.
        let send = parse(
            "MSRP d93kswow SEND\r\n\
             To-Path: msrp://bob.example.com:8888/9di4eae923wzd;tcp\r\n\
             From-Path: msrp://alicepc.example.com:7777/iau39soe2843z;tcp\r\n\
             Message-ID: 12339sdqwer\r\n\
             Byte-Range: 1-106/106\r\n\
             Success-Report: yes\r\n\
             Failure-Report: no\r\n\
             Content-Type: text/html\r\n\
             \r\n\
             <html><body>\r\n\
             <p>Here is that important link...\r\n\
             <a href=\"http://www.example.com/foobar\">foobar</a>\r\n\
             </p>\r\n\
             </body></html>\r\n\
             -------d93kswow$\r\n",
        );
        // The SEND asks for a success REPORT and no response at all.
        assert_eq!(
            owed(&send, StatusCode::OK),
            Owed {
                response: None,
                failure_report: false,
                success_report: true
            }
        );
        let range = ByteRange {
            start: 1,
            end: Some(106),
            total: Some(106),
        };
        let rep = report(
            &send,
            "dkei38sd".parse().unwrap(),
            StatusCode::OK,
            None,
            range,
            &uri(BOB),
        )
        .unwrap();
        let expected = "MSRP dkei38sd REPORT\r\n\
                        To-Path: msrp://alicepc.example.com:7777/iau39soe2843z;tcp\r\n\
                        From-Path: msrp://bob.example.com:8888/9di4eae923wzd;tcp\r\n\
                        Message-ID: 12339sdqwer\r\n\
                        Byte-Range: 1-106/106\r\n\
                        Status: 000 200 OK\r\n\
                        -------dkei38sd$\r\n";
        assert_eq!(wire(&rep), expected);
        // The REPORT itself owes nothing (4975-052) and carries no SR/FR (4975-051).
        assert_eq!(parse(expected), rep);
        assert_eq!(
            owed(&rep, StatusCode::OK),
            Owed {
                response: None,
                failure_report: false,
                success_report: false
            }
        );
        assert_eq!(
            relay_owed(&rep, StatusCode::FORBIDDEN),
            Owed {
                response: None,
                failure_report: false,
                success_report: false
            }
        );
        assert!(
            !rep.headers
                .iter()
                .any(|h| matches!(h, Header::SuccessReport(_) | Header::FailureReport(_)))
        );
        assert_eq!(report_status(&rep), Some(StatusCode::OK));
    }

    #[test]
    fn report_goes_back_the_whole_from_path() {
        // RFC 4976 §3: Bob's REPORT for the SEND relayed through A and B (4975-049: To-Path =
        // the SEND's whole From-Path); 4975-053: Byte-Range is what was received (1-39/39), not
        // the SEND's 1-*/*.
        let send = parse(
            "MSRP xght6 SEND\r\n\
             To-Path: msrps://bob.example.net:8145/foo;tcp\r\n\
             From-Path: msrps://b.example.net:9000/aeiug;tcp msrps://a.example.org:9000/kjfjan;tcp msrps://alice.example.org:7965/bar;tcp\r\n\
             Success-Report: yes\r\n\
             Message-ID: 87652\r\n\
             Byte-Range: 1-*/*\r\n\
             Content-Type: text/plain\r\n\
             \r\n\
             Hi Bob, I'm about to send you file.mpeg\r\n\
             -------xght6$\r\n",
        );
        let range = ByteRange {
            start: 1,
            end: Some(39),
            total: Some(39),
        };
        let rep = report(
            &send,
            "yh67".parse().unwrap(),
            StatusCode::OK,
            None,
            range,
            &send.to_path()[0],
        )
        .unwrap();
        assert_eq!(
            wire(&rep),
            "MSRP yh67 REPORT\r\n\
             To-Path: msrps://b.example.net:9000/aeiug;tcp msrps://a.example.org:9000/kjfjan;tcp msrps://alice.example.org:7965/bar;tcp\r\n\
             From-Path: msrps://bob.example.net:8145/foo;tcp\r\n\
             Message-ID: 87652\r\n\
             Byte-Range: 1-39/39\r\n\
             Status: 000 200 OK\r\n\
             -------yh67$\r\n"
        );
    }

    #[test]
    fn failure_report_status_and_comment() {
        // 4975-053 / 4976-030: a failure REPORT carries the error code; 408 from a relay timeout.
        let send = request(Method::Send, None, None);
        let range = ByteRange {
            start: 1,
            end: Some(10),
            total: None,
        };
        let local = uri("msrp://relay.example.com:2855/r1;tcp");
        let rep = report(
            &send,
            "rep00001".parse().unwrap(),
            StatusCode::TIMEOUT,
            None,
            range,
            &local,
        )
        .unwrap();
        assert_eq!(
            wire(&rep),
            format!(
                "MSRP rep00001 REPORT\r\n\
                 To-Path: {ALICE}\r\n\
                 From-Path: msrp://relay.example.com:2855/r1;tcp\r\n\
                 Message-ID: msgid123\r\n\
                 Byte-Range: 1-10/*\r\n\
                 Status: 000 408 Request Timeout\r\n\
                 -------rep00001$\r\n"
            )
        );
        let rep = report(
            &send,
            "rep00002".parse().unwrap(),
            StatusCode::TOO_LARGE,
            Some("too big for me"),
            range,
            &local,
        )
        .unwrap();
        assert_eq!(
            rep.report_status().and_then(|s| s.comment.as_deref()),
            Some("too big for me")
        );
        assert_eq!(report_status(&rep), Some(StatusCode::TOO_LARGE));
        // A SEND without Message-ID cannot be reported on (4975-049).
        let bare = Head::request(
            Method::Send,
            "tid12345".parse().unwrap(),
            crate::path![uri(BOB)],
            crate::path![uri(ALICE)],
        );
        assert_eq!(
            report(
                &bare,
                "rep00003".parse().unwrap(),
                StatusCode::OK,
                None,
                range,
                &local
            ),
            None
        );
    }

    #[test]
    fn report_status_namespace() {
        // RFC 4975 §7.3.2: only namespace 000 maps to MSRP codes.
        let mut rep = report(
            &request(Method::Send, None, None),
            "rep00001".parse().unwrap(),
            StatusCode::FORBIDDEN,
            None,
            ByteRange::whole(3),
            &uri(BOB),
        )
        .unwrap();
        assert_eq!(report_status(&rep), Some(StatusCode::FORBIDDEN));
        for h in &mut rep.headers {
            if let Header::Status(st) = h {
                st.namespace = 1;
            }
        }
        assert_eq!(report_status(&rep), None);
        assert_eq!(report_status(&request(Method::Send, None, None)), None);
    }

    #[test]
    fn check_request_481_and_501() {
        let mine = uri(BOB);
        let known = |u: &MsrpUri| *u == mine;
        // Known session, SEND and REPORT: fine.
        assert_eq!(
            check_request(&request(Method::Send, None, None), &[], known),
            Ok(())
        );
        assert_eq!(
            check_request(&request(Method::Report, None, None), &[], known),
            Ok(())
        );
        // 4975-017: unknown methods, and methods this endpoint does not implement, get 501.
        assert_eq!(
            check_request(&request(Method::Other(s("FOO")), None, None), &[], known),
            Err(StatusCode::NOT_IMPLEMENTED)
        );
        assert_eq!(
            check_request(&request(Method::Nickname, None, None), &[], known),
            Err(StatusCode::NOT_IMPLEMENTED)
        );
        assert_eq!(
            check_request(&request(Method::Auth, None, None), &[], known),
            Err(StatusCode::NOT_IMPLEMENTED)
        );
        assert_eq!(
            check_request(
                &request(Method::Nickname, None, None),
                &[Method::Nickname],
                known
            ),
            Ok(())
        );
        assert_eq!(
            check_request(
                &request(Method::Other(s("FOO")), None, None),
                &[Method::Other(s("FOO"))],
                known
            ),
            Ok(())
        );
        // 4975-063: a To-Path that maps to no session gets 481 (checked before the method).
        let unknown = |_: &MsrpUri| false;
        assert_eq!(
            check_request(&request(Method::Send, None, None), &[], unknown),
            Err(StatusCode::NO_SUCH_SESSION)
        );
        assert_eq!(
            check_request(&request(Method::Other(s("FOO")), None, None), &[], unknown),
            Err(StatusCode::NO_SUCH_SESSION)
        );
        // ... and so does a To-Path with more than one URI, even if the last one is ours.
        let two = Head::request(
            Method::Send,
            "tid12345".parse().unwrap(),
            crate::path![uri(ALICE), uri(BOB)],
            crate::path![uri(ALICE)],
        );
        let mut asked = false;
        assert_eq!(
            check_request(&two, &[], |_| {
                asked = true;
                true
            }),
            Err(StatusCode::NO_SUCH_SESSION)
        );
        assert!(!asked);
        let none = Head {
            tid: "tid12345".parse().unwrap(),
            start: crate::head::StartLine::Request(Method::Send),
            headers: vec![],
        };
        assert_eq!(
            check_request(&none, &[], |_| true),
            Err(StatusCode::NO_SUCH_SESSION)
        );
        // A response is not a request.
        let resp = response(
            &request(Method::Send, None, None),
            StatusCode::OK,
            None,
            &mine,
        );
        assert_eq!(
            check_request(&resp, &[], |_| true),
            Err(StatusCode::BAD_REQUEST)
        );
        assert_eq!(owed(&resp, StatusCode::BAD_REQUEST).response, None);
    }

    #[test]
    fn errors_from_checks_are_answered_per_the_rules() {
        // 4975-063: "unless Failure-Report is no"; 4975-052: never a response to a REPORT.
        let unknown = |_: &MsrpUri| false;
        for (req, want) in [
            (
                request(Method::Send, None, None),
                Some(StatusCode::NO_SUCH_SESSION),
            ),
            (
                request(Method::Send, None, Some(FailureReport::Partial)),
                Some(StatusCode::NO_SUCH_SESSION),
            ),
            (request(Method::Send, None, Some(FailureReport::No)), None),
            (request(Method::Report, None, None), None),
            (
                request(Method::Auth, None, None),
                Some(StatusCode::NO_SUCH_SESSION),
            ),
        ] {
            let outcome = check_request(&req, &[], unknown).unwrap_err();
            assert_eq!(owed(&req, outcome).response, want, "{:?}", req.method());
        }
        // 4975-017: an unknown method is answered 501.
        let foo = request(Method::Other(s("FOO")), None, None);
        let outcome = check_request(&foo, &[], |_| true).unwrap_err();
        let r = response(&foo, outcome, None, &uri(BOB));
        assert_eq!(
            wire(&r),
            format!(
                "MSRP tid12345 501 Unknown Method\r\nTo-Path: {ALICE}\r\nFrom-Path: {BOB}\r\n-------tid12345$\r\n"
            )
        );
    }

    #[test]
    fn media_type_415() {
        // 4975-069
        let mut send = request(Method::Send, None, None);
        send.push(Header::ContentType(s("text/html")));
        let plain_only = |ct: &str| ct.starts_with("text/plain");
        assert_eq!(
            check_media_type(&send, plain_only),
            Err(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
        assert_eq!(
            owed(&send, StatusCode::UNSUPPORTED_MEDIA_TYPE).response,
            Some(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
        let mut no = request(Method::Send, None, Some(FailureReport::No));
        no.push(Header::ContentType(s("text/html")));
        assert_eq!(
            owed(&no, check_media_type(&no, plain_only).unwrap_err()).response,
            None,
            "FR no: silent"
        );
        let mut ok = request(Method::Send, None, None);
        ok.push(Header::ContentType(s("text/plain; charset=utf-8")));
        assert_eq!(check_media_type(&ok, plain_only), Ok(()));
        // A bodiless SEND has no Content-Type; other methods are not checked.
        assert_eq!(
            check_media_type(&request(Method::Send, None, None), |_| false),
            Ok(())
        );
        let mut nick = request(Method::Nickname, None, None);
        nick.push(Header::ContentType(s("text/html")));
        assert_eq!(check_media_type(&nick, |_| false), Ok(()));
    }

    #[test]
    fn unknown_reports_are_ignored() {
        // 4975-054
        let rep = request(Method::Report, None, None);
        assert!(ignore_report(&rep, |m| m == "other"));
        assert!(!ignore_report(&rep, |m| m == "msgid123"));
        let bare = Head::request(
            Method::Report,
            "tid12345".parse().unwrap(),
            crate::path![uri(BOB)],
            crate::path![uri(ALICE)],
        );
        assert!(
            ignore_report(&bare, |_| true),
            "a REPORT without Message-ID is unknown"
        );
        assert!(
            !ignore_report(&request(Method::Send, None, None), |_| false),
            "only REPORTs"
        );
    }

    #[test]
    fn timeouts_408() {
        // 4975-067
        assert!(is_local_timeout(StatusCode::TIMEOUT));
        assert!(!is_local_timeout(StatusCode::OK));
        assert!(!is_local_timeout(StatusCode::NO_SUCH_SESSION));
        assert!(!endpoint_may_send(StatusCode::TIMEOUT));
        assert!(endpoint_may_send(StatusCode::NO_SUCH_SESSION));
        assert!(endpoint_may_send(StatusCode::OK));
    }
}
