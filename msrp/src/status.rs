//! MSRP status codes (RFC 4975 §10, RFC 4976 §10, RFC 7701 §11; IANA "MSRP Parameters").

use std::fmt;

/// A three-digit MSRP status code (RFC 4975 §9 `status-code = 3DIGIT`).
///
/// Any value 100..=999 can be carried (unknown codes are kept, 4975-002); the registered ones
/// have constants and reason phrases (4975-074).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusCode(u16);

impl StatusCode {
    /// 200: the request succeeded (RFC 4975 §10).
    pub const OK: StatusCode = StatusCode(200);
    /// 400: the request was unintelligible (RFC 4975 §10).
    pub const BAD_REQUEST: StatusCode = StatusCode(400);
    /// 401: authentication needed (RFC 4976 §10.3).
    pub const UNAUTHORIZED: StatusCode = StatusCode(401);
    /// 403: the action is not allowed (RFC 4975 §10).
    pub const FORBIDDEN: StatusCode = StatusCode(403);
    /// 404: the recipient does not exist (RFC 7701 §11).
    pub const NOT_FOUND: StatusCode = StatusCode(404);
    /// 408: a downstream transaction timed out; sent by relays only (RFC 4975 §10).
    pub const TIMEOUT: StatusCode = StatusCode(408);
    /// 413: stop sending this message, it is too large (RFC 4975 §10).
    pub const TOO_LARGE: StatusCode = StatusCode(413);
    /// 415: the media type is not understood (RFC 4975 §10).
    pub const UNSUPPORTED_MEDIA_TYPE: StatusCode = StatusCode(415);
    /// 423: a parameter is out of bounds (RFC 4975 §10, RFC 4976 §4.6).
    pub const OUT_OF_BOUNDS: StatusCode = StatusCode(423);
    /// 424: the nickname is not valid (RFC 7701 §11).
    pub const BAD_NICKNAME: StatusCode = StatusCode(424);
    /// 425: the nickname is already taken (RFC 7701 §11).
    pub const NICKNAME_IN_USE: StatusCode = StatusCode(425);
    /// 428: the recipient does not accept private messages (RFC 7701 §11).
    pub const NO_PRIVATE_MESSAGES: StatusCode = StatusCode(428);
    /// 481: the session does not exist (RFC 4975 §10).
    pub const NO_SUCH_SESSION: StatusCode = StatusCode(481);
    /// 501: the method is not understood (RFC 4975 §10).
    pub const NOT_IMPLEMENTED: StatusCode = StatusCode(501);
    /// 506: the session is already bound to another connection (RFC 4975 §10).
    pub const SESSION_IN_USE: StatusCode = StatusCode(506);

    /// A status code from its number; `None` outside 100..=999 (three digits, no leading zero).
    pub const fn new(code: u16) -> Option<StatusCode> {
        if code >= 100 && code <= 999 {
            Some(StatusCode(code))
        } else {
            None
        }
    }

    /// The numeric value.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// `true` for 2xx.
    pub const fn is_success(self) -> bool {
        self.0 >= 200 && self.0 < 300
    }

    /// The registered reason phrase, used as the comment of responses we originate.
    pub const fn reason(self) -> Option<&'static str> {
        Some(match self.0 {
            200 => "OK",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            408 => "Request Timeout",
            413 => "Message Too Large",
            415 => "Unsupported Media Type",
            423 => "Interval Out-of-Bounds",
            424 => "Nickname Not Valid",
            425 => "Nickname Already In Use",
            428 => "Private Messages Not Supported",
            481 => "Session Does Not Exist",
            501 => "Unknown Method",
            506 => "Session Already Bound",
            _ => return None,
        })
    }

    /// The three ASCII digits.
    pub fn digits(self) -> [u8; 3] {
        let n = self.0;
        [
            b'0' + (n / 100) as u8,
            b'0' + (n / 10 % 10) as u8,
            b'0' + (n % 10) as u8,
        ]
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_codes_have_reasons() {
        // 4975-074: the IANA registry.
        for c in [
            200, 400, 401, 403, 404, 408, 413, 415, 423, 424, 425, 428, 481, 501, 506,
        ] {
            assert!(StatusCode::new(c).unwrap().reason().is_some(), "{c}");
        }
        assert_eq!(StatusCode::new(299).unwrap().reason(), None);
        assert_eq!(StatusCode::new(99), None);
        assert_eq!(StatusCode::new(1000), None);
        assert_eq!(&StatusCode::FORBIDDEN.digits(), b"403");
    }
}
