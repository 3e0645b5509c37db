//! The transport protocol of an MSRP `m=message` line (RFC 4975 §8.1, RFC 7977 §5.2.1/§8).

use std::fmt;

/// An MSRP transport protocol, the third field of `m=message <port> <proto> *`.
///
/// RFC 4975 §8.1 (4975-096) defines `TCP/MSRP` and `TCP/TLS/MSRP`; RFC 7977 §5.2.1/§8 adds
/// `TCP/WS/MSRP` and `TCP/WSS/MSRP` for MSRP over WebSocket (7977-006/007).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    /// `TCP/MSRP`: MSRP over plain TCP (RFC 4975 §8.1).
    TcpMsrp,
    /// `TCP/TLS/MSRP`: MSRP over TLS (RFC 4975 §8.1, the `msrps` scheme).
    TcpTlsMsrp,
    /// `TCP/WS/MSRP`: MSRP over WebSocket (RFC 7977 §8).
    TcpWsMsrp,
    /// `TCP/WSS/MSRP`: MSRP over secure WebSocket (RFC 7977 §8).
    TcpWssMsrp,
}

impl Proto {
    /// All protocols, in declaration order.
    pub const ALL: [Proto; 4] = [
        Proto::TcpMsrp,
        Proto::TcpTlsMsrp,
        Proto::TcpWsMsrp,
        Proto::TcpWssMsrp,
    ];

    /// Parses a proto field, ASCII case-insensitively (SDP proto names are case-insensitive,
    /// RFC 8866 §5.14). Surrounding spaces are ignored. `None` if it is not an MSRP proto.
    pub fn parse(s: &str) -> Option<Proto> {
        let s = s.trim_matches([' ', '\t']);
        Proto::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
    }

    /// The canonical (upper-case) form, as written in an m-line.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::TcpMsrp => "TCP/MSRP",
            Proto::TcpTlsMsrp => "TCP/TLS/MSRP",
            Proto::TcpWsMsrp => "TCP/WS/MSRP",
            Proto::TcpWssMsrp => "TCP/WSS/MSRP",
        }
    }

    /// `true` when the hop is protected with TLS (`TCP/TLS/MSRP`, `TCP/WSS/MSRP`): the answer
    /// then carries `a=fingerprint` if the certificate is self-signed (4975-095).
    pub fn is_tls(self) -> bool {
        matches!(self, Proto::TcpTlsMsrp | Proto::TcpWssMsrp)
    }

    /// `true` for the WebSocket protocols of RFC 7977 (`TCP/WS/MSRP`, `TCP/WSS/MSRP`).
    pub fn is_websocket(self) -> bool {
        matches!(self, Proto::TcpWsMsrp | Proto::TcpWssMsrp)
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_write() {
        for p in Proto::ALL {
            assert_eq!(Proto::parse(p.as_str()), Some(p));
            assert_eq!(Proto::parse(&p.as_str().to_ascii_lowercase()), Some(p));
            assert_eq!(p.to_string(), p.as_str());
        }
        assert_eq!(Proto::parse("tcp/tls/msrp"), Some(Proto::TcpTlsMsrp));
        assert_eq!(Proto::parse("RTP/AVP"), None);
        assert_eq!(Proto::parse("TCP/MSRPS"), None);
        assert_eq!(Proto::parse(""), None);
        assert!(Proto::TcpTlsMsrp.is_tls() && Proto::TcpWssMsrp.is_tls());
        assert!(!Proto::TcpMsrp.is_tls() && !Proto::TcpWsMsrp.is_tls());
        assert!(Proto::TcpWsMsrp.is_websocket() && Proto::TcpWssMsrp.is_websocket());
        assert!(!Proto::TcpMsrp.is_websocket() && !Proto::TcpTlsMsrp.is_websocket());
    }
}
