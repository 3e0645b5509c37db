//! HTTP Digest authentication as RFC 4976 §9.1 profiles RFC 2617 §3.2: MD5 only, `qop=auth`
//! only, `cnonce` and `nc` always, and the digest URI is the rightmost To-Path URI of the AUTH.
//!
//! This module is pure: hashes, typed views of the three headers
//! ([`Challenge`] for WWW-Authenticate, [`Credentials`] for Authorization, [`AuthInfo`] for
//! Authentication-Info) and builders of their [`AuthParams`]. Nonce bookkeeping and the decision
//! what to answer live in [`crate::auth`].
//!
//! The math (RFC 2617 §3.2.2.1, §3.2.3, with `qop=auth`):
//!
//! ```text
//! HA1      = MD5(username ":" realm ":" password)
//! response = MD5(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" MD5(method ":" uri))
//! rspauth  = MD5(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" MD5(":" uri))
//! ```
//!
//! every hash written as 32 lower-case hex digits (4976-009).

use bytestring::ByteString;
use md5::{Digest, Md5};
use msrp::{AuthParam, AuthParams};

/// The only Digest algorithm RFC 4976 §9.1 allows (4976-007: no `MD5-sess`).
pub const ALGORITHM: &str = "MD5";
/// The only quality of protection RFC 4976 §9.1 allows (4976-007: no `auth-int`).
pub const QOP: &str = "auth";
/// The method that goes into H(A2): Digest is used with AUTH requests only (RFC 4976 §9.1).
pub const METHOD: &str = "AUTH";

/// Why a Digest header was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The scheme is not `Digest` (e.g. `Basic`, which relays must not accept, 4976-006), or the
    /// header has no scheme.
    #[error("authentication scheme {0:?} is not Digest")]
    NotDigest(String),
    /// A required parameter is absent (4976-008/009: `qop`, `cnonce` and `nc` are required).
    #[error("Digest parameter {0} is missing")]
    Missing(&'static str),
    /// A parameter appears more than once.
    #[error("Digest parameter {0} appears more than once")]
    Duplicate(&'static str),
    /// A parameter's value does not follow its grammar (`nc` = 8 hex digits, `response` = 32 hex
    /// digits, `stale` = true/false, 4976-009).
    #[error("Digest parameter {0} is malformed")]
    Malformed(&'static str),
    /// `algorithm` is not MD5 (4976-007: `MD5-sess` is refused, as is anything else).
    #[error("Digest algorithm {0:?} is not supported (only MD5)")]
    UnsupportedAlgorithm(String),
    /// `qop` is not `auth` (4976-007: no `auth-int`); for a challenge, its list lacks `auth`.
    #[error("Digest qop {0:?} is not supported (only auth)")]
    UnsupportedQop(String),
}

/// MD5 of `parts` joined with `:`, as 32 lower-case hex digits.
fn md5_hex(parts: &[&str]) -> String {
    let mut h = Md5::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update(b":");
        }
        h.update(p.as_bytes());
    }
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// `n` random octets from the operating system's CSPRNG, as lower-case hex: nonces and opaque
/// values (16 octets = 128 bits).
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    // getrandom fails only where the platform has no entropy source at all; a relay cannot
    // issue unguessable nonces without one.
    getrandom::fill(&mut buf).expect("the OS random source failed");
    hex(&buf)
}

/// RFC 2617 §3.2.2.2: `H(A1) = MD5(username ":" realm ":" password)` (algorithm MD5), lower-case
/// hex. This is what a user database may store instead of the password
/// ([`crate::auth::Secret::Ha1`]).
pub fn ha1_hex(user: &str, realm: &str, password: &str) -> String {
    md5_hex(&[user, realm, password])
}

/// RFC 2617 §3.2.2.1 with `qop=auth` (RFC 4976 §9.1): the `response` value,
/// `MD5(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" MD5(method ":" uri))`, in lower-case hex
/// (4976-009). `ha1_hex` is [`ha1_hex`]'s output; `nc` and `qop` are the text the client sent.
pub fn response_hex(
    ha1_hex: &str,
    nonce: &str,
    nc: &str,
    cnonce: &str,
    qop: &str,
    method: &str,
    uri: &str,
) -> String {
    let ha2 = md5_hex(&[method, uri]);
    md5_hex(&[ha1_hex, nonce, nc, cnonce, qop, &ha2])
}

/// RFC 2617 §3.2.3: the `rspauth` of Authentication-Info, computed as the response digest but
/// with `A2 = ":" uri` (no method), from the request's nonce, nc, cnonce and qop (4976-011).
pub fn rspauth_hex(
    ha1_hex: &str,
    nonce: &str,
    nc: &str,
    cnonce: &str,
    qop: &str,
    uri: &str,
) -> String {
    response_hex(ha1_hex, nonce, nc, cnonce, qop, "", uri)
}

/// Compares two byte strings in time that depends on their lengths only, not on where they first
/// differ: used for the Digest `response` so that a client cannot learn it octet by octet.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// `true` for exactly `n` ASCII hex digits (either case).
fn is_hex(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Collects the named parameters of `p` into `slots`, refusing duplicates; unknown parameters are
/// ignored (RFC 2617 `auth-param`; 4976-012: a client ignores `domain`).
fn collect<'a, const N: usize>(
    p: &'a AuthParams,
    names: [&'static str; N],
) -> Result<[Option<&'a AuthParam>; N], DigestError> {
    let mut slots = [None; N];
    for param in &p.params {
        if let Some(i) = names
            .iter()
            .position(|n| param.name.eq_ignore_ascii_case(n))
        {
            if slots[i].is_some() {
                return Err(DigestError::Duplicate(names[i]));
            }
            slots[i] = Some(param);
        }
    }
    Ok(slots)
}

fn check_scheme(p: &AuthParams) -> Result<(), DigestError> {
    match p.scheme.as_deref() {
        Some(s) if s.eq_ignore_ascii_case("Digest") => Ok(()),
        other => Err(DigestError::NotDigest(other.unwrap_or("").to_owned())),
    }
}

fn check_algorithm(a: Option<&AuthParam>) -> Result<(), DigestError> {
    match a {
        None => Ok(()),
        Some(a) if a.value.eq_ignore_ascii_case(ALGORITHM) => Ok(()),
        Some(a) => Err(DigestError::UnsupportedAlgorithm(a.value.to_string())),
    }
}

fn required(p: Option<&AuthParam>, name: &'static str) -> Result<ByteString, DigestError> {
    p.map(|p| p.value.clone()).ok_or(DigestError::Missing(name))
}

fn param(name: &'static str, value: &str, quoted: bool) -> AuthParam {
    AuthParam {
        name: ByteString::from_static(name),
        value: ByteString::from(value.to_owned()),
        quoted,
    }
}

/// The nc value: 8 hex digits, sent bare (RFC 4976 §7 `nc-value = 8LHEX`); a quoted value and
/// upper-case digits are accepted (some clients send them). The number and the text as sent (the
/// text, not the number, goes into the hashes).
fn parse_nc(p: Option<&AuthParam>) -> Result<(u32, ByteString), DigestError> {
    let p = p.ok_or(DigestError::Missing("nc"))?;
    if !is_hex(&p.value, 8) {
        return Err(DigestError::Malformed("nc"));
    }
    let n = u32::from_str_radix(&p.value, 16).map_err(|_| DigestError::Malformed("nc"))?;
    Ok((n, p.value.clone()))
}

/// The nc as RFC 4976 §7 writes it: 8 lower-case hex digits.
pub fn format_nc(nc: u32) -> String {
    format!("{nc:08x}")
}

/// A Digest challenge: the value of WWW-Authenticate in a 401 (RFC 4976 §5.1, §7, §9.1;
/// 4976-004, 4976-013).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The protection space; a relay typically uses its host name (§5.1).
    pub realm: ByteString,
    /// The server nonce.
    pub nonce: ByteString,
    /// Opaque data the client returns unchanged.
    pub opaque: Option<ByteString>,
    /// `stale=TRUE`: the credentials were right but the nonce was not fresh; the client retries
    /// with the new nonce without asking the user again (RFC 2617 §3.2.1, 4976-013).
    pub stale: bool,
}

impl Challenge {
    /// The WWW-Authenticate value: `Digest realm="..", nonce="..", qop="auth"` (qop quoted in a
    /// challenge, 4976-008), then `opaque=".."` if any, `stale=TRUE` when stale, and
    /// `algorithm=MD5` (never MD5-sess or auth-int, 4976-007). No `domain` (4976-012).
    pub fn to_params(&self) -> AuthParams {
        let mut params = vec![
            param("realm", &self.realm, true),
            param("nonce", &self.nonce, true),
            param("qop", QOP, true),
        ];
        if let Some(o) = &self.opaque {
            params.push(param("opaque", o, true));
        }
        if self.stale {
            params.push(param("stale", "TRUE", false));
        }
        params.push(param("algorithm", ALGORITHM, false));
        AuthParams {
            scheme: Some(ByteString::from_static("Digest")),
            params,
        }
    }

    /// Reads a WWW-Authenticate value (the client side, and tests): scheme `Digest`, `realm` and
    /// `nonce` required, `qop` required and listing `auth` (4976-008), `algorithm` absent or MD5,
    /// `stale` true/false (case-insensitive, quoted or not). `domain` and unknown parameters are
    /// ignored (4976-012).
    pub fn parse(p: &AuthParams) -> Result<Challenge, DigestError> {
        check_scheme(p)?;
        let [realm, nonce, qop, opaque, stale, algorithm] =
            collect(p, ["realm", "nonce", "qop", "opaque", "stale", "algorithm"])?;
        check_algorithm(algorithm)?;
        let qop = qop.ok_or(DigestError::Missing("qop"))?;
        if !qop
            .value
            .split(',')
            .any(|q| q.trim().eq_ignore_ascii_case(QOP))
        {
            return Err(DigestError::UnsupportedQop(qop.value.to_string()));
        }
        let stale = match stale {
            None => false,
            Some(s) if s.value.eq_ignore_ascii_case("true") => true,
            Some(s) if s.value.eq_ignore_ascii_case("false") => false,
            Some(_) => return Err(DigestError::Malformed("stale")),
        };
        Ok(Challenge {
            realm: required(realm, "realm")?,
            nonce: required(nonce, "nonce")?,
            opaque: opaque.map(|o| o.value.clone()),
            stale,
        })
    }

    /// The client's answer to this challenge (RFC 2617 §3.2.2 as RFC 4976 §9.1 profiles it):
    /// `Digest username, realm, nonce, uri, qop=auth, nc, cnonce, response` (+ `opaque` when the
    /// challenge had one, `algorithm=MD5`). `ha1_hex` is the user's [`ha1_hex`] for this realm;
    /// `uri` is the rightmost To-Path URI of the AUTH (4976-010); `nc` counts the requests made
    /// with this nonce, from 1.
    pub fn answer(
        &self,
        username: &str,
        ha1_hex: &str,
        uri: &str,
        cnonce: &str,
        nc: u32,
    ) -> AuthParams {
        let nc = format_nc(nc);
        let response = response_hex(ha1_hex, &self.nonce, &nc, cnonce, QOP, METHOD, uri);
        let mut params = vec![
            param("username", username, true),
            param("realm", &self.realm, true),
            param("nonce", &self.nonce, true),
            param("uri", uri, true),
            param("qop", QOP, false),
            param("nc", &nc, false),
            param("cnonce", cnonce, true),
            param("response", &response, true),
        ];
        if let Some(o) = &self.opaque {
            params.push(param("opaque", o, true));
        }
        params.push(param("algorithm", ALGORITHM, false));
        AuthParams {
            scheme: Some(ByteString::from_static("Digest")),
            params,
        }
    }
}

/// Digest credentials: the value of Authorization in an AUTH (RFC 4976 §7, §9.1).
///
/// Parsing checks the grammar and the profile (Digest, MD5, `qop=auth`, `cnonce` and `nc`
/// present); [`Credentials::verify`] checks the response. Whether the nonce is fresh and the user
/// known is for [`crate::auth`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `username`.
    pub username: ByteString,
    /// `realm`.
    pub realm: ByteString,
    /// `nonce`, as the server issued it.
    pub nonce: ByteString,
    /// `uri`. `None` when the client left it out, which RFC 4976 §9.1 does not allow but some
    /// clients do: the relay then uses the rightmost To-Path URI of the AUTH, which is what the
    /// value must be anyway (4976-010); see [`Credentials::digest_uri`].
    pub uri: Option<ByteString>,
    /// `response`: 32 hex digits (upper case is accepted and compared in lower case).
    pub response: ByteString,
    /// `cnonce` (required, 4976-009).
    pub cnonce: ByteString,
    /// `nc` as a number (required, 4976-009).
    pub nc: u32,
    /// `nc` as sent (8 hex digits, quotes removed): this text goes into the hashes.
    pub nc_text: ByteString,
    /// `qop` as sent (`auth` in any case, quoted or not; quotes removed).
    pub qop: ByteString,
    /// `opaque`, returned from the challenge.
    pub opaque: Option<ByteString>,
}

impl Credentials {
    /// Reads an Authorization value. Errors: not `Digest` (e.g. Basic, 4976-006), a required
    /// parameter missing (`username`, `realm`, `nonce`, `response`, `cnonce`, `nc`, `qop`;
    /// 4976-008/009), a duplicate, `nc` not 8 hex digits, `response` not 32 hex digits, `qop`
    /// other than `auth` or `algorithm` other than MD5 (4976-007).
    ///
    /// Lenient where clients differ: `uri` may be absent (4976-010), `qop` and `nc` may be quoted.
    pub fn parse(p: &AuthParams) -> Result<Credentials, DigestError> {
        check_scheme(p)?;
        let [
            username,
            realm,
            nonce,
            uri,
            response,
            cnonce,
            nc,
            qop,
            opaque,
            algorithm,
        ] = collect(
            p,
            [
                "username",
                "realm",
                "nonce",
                "uri",
                "response",
                "cnonce",
                "nc",
                "qop",
                "opaque",
                "algorithm",
            ],
        )?;
        check_algorithm(algorithm)?;
        let qop = required(qop, "qop")?;
        if !qop.eq_ignore_ascii_case(QOP) {
            return Err(DigestError::UnsupportedQop(qop.to_string()));
        }
        let response = required(response, "response")?;
        if !is_hex(&response, 32) {
            return Err(DigestError::Malformed("response"));
        }
        let (nc, nc_text) = parse_nc(nc)?;
        Ok(Credentials {
            username: required(username, "username")?,
            realm: required(realm, "realm")?,
            nonce: required(nonce, "nonce")?,
            uri: uri.map(|u| u.value.clone()),
            response,
            cnonce: required(cnonce, "cnonce")?,
            nc,
            nc_text,
            qop,
            opaque: opaque.map(|o| o.value.clone()),
        })
    }

    /// The URI that goes into H(A2): the `uri` parameter, or `to_path_uri` (the rightmost To-Path
    /// URI of the AUTH, RFC 4976 §9.1) when the client left it out (4976-010).
    pub fn digest_uri<'a>(&'a self, to_path_uri: &'a str) -> &'a str {
        self.uri.as_deref().unwrap_or(to_path_uri)
    }

    /// The response these credentials should carry for a user whose H(A1) is `ha1_hex`, with
    /// method AUTH and digest URI `uri`.
    pub fn expected_response(&self, ha1_hex: &str, uri: &str) -> String {
        response_hex(
            ha1_hex,
            &self.nonce,
            &self.nc_text,
            &self.cnonce,
            &self.qop,
            METHOD,
            uri,
        )
    }

    /// Whether the `response` is right for `ha1_hex` and `uri`, compared in constant time
    /// ([`ct_eq`]).
    pub fn verify(&self, ha1_hex: &str, uri: &str) -> bool {
        let expected = self.expected_response(ha1_hex, uri);
        let mut got = [0u8; 32];
        // `parse` checked 32 hex digits; lower-case them without branching on their values.
        for (g, b) in got.iter_mut().zip(self.response.bytes()) {
            *g = b.to_ascii_lowercase();
        }
        ct_eq(expected.as_bytes(), &got)
    }

    /// The Authentication-Info of the 200 answering these credentials (RFC 2617 §3.2.3,
    /// 4976-011): `rspauth` over `ha1_hex` and `uri`, and the request's `cnonce`, `nc` and `qop`.
    pub fn authentication_info(&self, ha1_hex: &str, uri: &str) -> AuthInfo {
        AuthInfo {
            rspauth: ByteString::from(rspauth_hex(
                ha1_hex,
                &self.nonce,
                &self.nc_text,
                &self.cnonce,
                &self.qop,
                uri,
            )),
            cnonce: self.cnonce.clone(),
            nc: self.nc_text.clone(),
            qop: self.qop.clone(),
            nextnonce: None,
        }
    }
}

/// Authentication-Info of a 200 to AUTH (RFC 4976 §7, §9.1; 4976-011).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthInfo {
    /// `rspauth`: proves that the relay knows the user's secret (RFC 2617 §3.2.3).
    pub rspauth: ByteString,
    /// `cnonce`, echoed from the request.
    pub cnonce: ByteString,
    /// `nc`, echoed from the request (8 hex digits).
    pub nc: ByteString,
    /// `qop`, echoed from the request.
    pub qop: ByteString,
    /// `nextnonce`: a nonce for the next AUTH (optional, RFC 2617 §3.2.3).
    pub nextnonce: Option<ByteString>,
}

impl AuthInfo {
    /// The header value: `rspauth=".."`, `cnonce=".."`, `nc=..`, `qop=..` (nc and qop bare,
    /// RFC 4976 §7 and §9.1), preceded by `nextnonce=".."` when set.
    pub fn to_params(&self) -> AuthParams {
        let mut params = Vec::with_capacity(5);
        if let Some(n) = &self.nextnonce {
            params.push(param("nextnonce", n, true));
        }
        params.extend([
            param("rspauth", &self.rspauth, true),
            param("cnonce", &self.cnonce, true),
            param("nc", &self.nc, false),
            param("qop", &self.qop, false),
        ]);
        AuthParams {
            scheme: None,
            params,
        }
    }

    /// Reads an Authentication-Info value (the client side, and tests): `rspauth`, `cnonce`,
    /// `nc` and `qop` are required (4976-011), `nextnonce` optional.
    pub fn parse(p: &AuthParams) -> Result<AuthInfo, DigestError> {
        let [rspauth, cnonce, nc, qop, nextnonce] =
            collect(p, ["rspauth", "cnonce", "nc", "qop", "nextnonce"])?;
        let rspauth = required(rspauth, "rspauth")?;
        if !rspauth.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DigestError::Malformed("rspauth"));
        }
        let (_, nc) = parse_nc(nc)?;
        Ok(AuthInfo {
            rspauth,
            cnonce: required(cnonce, "cnonce")?,
            nc,
            qop: required(qop, "qop")?,
            nextnonce: nextnonce.map(|n| n.value.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(scheme: Option<&str>, list: &[(&str, &str, bool)]) -> AuthParams {
        AuthParams {
            scheme: scheme.map(|s| ByteString::from(s.to_owned())),
            params: list
                .iter()
                .map(|&(n, v, q)| AuthParam {
                    name: ByteString::from(n.to_owned()),
                    value: ByteString::from(v.to_owned()),
                    quoted: q,
                })
                .collect(),
        }
    }

    type Params = Vec<(&'static str, &'static str, bool)>;

    fn good() -> Params {
        vec![
            ("username", "Mufasa", true),
            ("realm", "testrealm@host.com", true),
            ("nonce", "dcd98b7102dd2f0e8b11d0f600bfb0c093", true),
            ("uri", "/dir/index.html", true),
            ("qop", "auth", false),
            ("nc", "00000001", false),
            ("cnonce", "0a4f113b", true),
            ("response", "6629fae49393a05397450978507c4ef1", true),
            ("opaque", "5ccc069c403ebaf9f0171e9517f40e41", true),
        ]
    }

    /// RFC 2617 §3.5: the known answer, computed independently of the relay's own code paths.
    #[test]
    fn rfc2617_example() {
        let ha1 = ha1_hex("Mufasa", "testrealm@host.com", "Circle Of Life");
        assert_eq!(ha1, "939e7578ed9e3c518a452acee763bce9");
        assert_eq!(
            response_hex(
                &ha1,
                "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                "00000001",
                "0a4f113b",
                "auth",
                "GET",
                "/dir/index.html"
            ),
            "6629fae49393a05397450978507c4ef1"
        );
        let c = Credentials::parse(&params(Some("Digest"), &good())).unwrap();
        // The method of Credentials is AUTH, so the GET example does not verify with it...
        assert!(!c.verify(&ha1, "/dir/index.html"));
        // ...but the same inputs with AUTH give a different, well-formed digest.
        let auth = c.expected_response(&ha1, "/dir/index.html");
        assert_eq!(auth.len(), 32);
        assert!(auth.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    }

    #[test]
    fn md5_empty_and_hex() {
        // RFC 1321 §A.5 test suite.
        assert_eq!(md5_hex(&[""]), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(&["a"]), "0cc175b9c0f1b6a831c399e269772661");
        assert_eq!(md5_hex(&["a", "bc"]), md5_hex(&["a:bc"]));
        assert_eq!(random_hex(16).len(), 32);
        assert_ne!(random_hex(16), random_hex(16));
    }

    #[test]
    fn rspauth_uses_colon_uri() {
        let ha1 = ha1_hex("u", "r", "p");
        let a2 = md5_hex(&["", "msrps://r.example.com:1/x;tcp"]);
        assert_eq!(
            rspauth_hex(
                &ha1,
                "n",
                "00000001",
                "c",
                "auth",
                "msrps://r.example.com:1/x;tcp"
            ),
            md5_hex(&[&ha1, "n", "00000001", "c", "auth", &a2])
        );
        assert_ne!(
            rspauth_hex(&ha1, "n", "00000001", "c", "auth", "u"),
            response_hex(&ha1, "n", "00000001", "c", "auth", METHOD, "u")
        );
    }

    #[test]
    fn constant_time_eq() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(ct_eq(b"", b""));
    }

    #[test]
    fn credentials_parse_and_lenience() {
        let c = Credentials::parse(&params(Some("digest"), &good())).unwrap();
        assert_eq!(&*c.username, "Mufasa");
        assert_eq!(c.nc, 1);
        assert_eq!(c.uri.as_deref(), Some("/dir/index.html"));
        assert_eq!(c.digest_uri("other"), "/dir/index.html");
        assert_eq!(
            c.opaque.as_deref(),
            Some("5ccc069c403ebaf9f0171e9517f40e41")
        );

        // Quoted qop and nc, no uri, upper-case response, algorithm=md5: accepted.
        let mut l = good();
        l.retain(|p| p.0 != "uri");
        l[3] = ("qop", "auth", true);
        l[4] = ("nc", "0000000A", true);
        l[6] = ("response", "6629FAE49393A05397450978507C4EF1", true);
        l.push(("algorithm", "md5", false));
        let c = Credentials::parse(&params(Some("Digest"), &l)).unwrap();
        assert_eq!((c.nc, &*c.nc_text, &*c.qop), (10, "0000000A", "auth"));
        assert_eq!(c.uri, None);
        assert_eq!(
            c.digest_uri("msrps://x.example.com;tcp"),
            "msrps://x.example.com;tcp"
        );
        // Upper-case response digits compare equal to the lower-case computation.
        let ha1 = ha1_hex("Mufasa", "testrealm@host.com", "Circle Of Life");
        let mut l2: Vec<(&str, &str, bool)> = l.clone();
        let right = response_hex(
            &ha1,
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            "0000000A",
            "0a4f113b",
            "auth",
            METHOD,
            "msrps://x.example.com;tcp",
        )
        .to_ascii_uppercase();
        l2[6] = ("response", &right, true);
        let c = Credentials::parse(&params(Some("Digest"), &l2)).unwrap();
        assert!(c.verify(&ha1, "msrps://x.example.com;tcp"));
        assert!(!c.verify(&ha1, "msrps://y.example.com;tcp"));
    }

    #[test]
    fn credentials_errors() {
        let with = |f: &dyn Fn(&mut Params)| {
            let mut l = good();
            f(&mut l);
            Credentials::parse(&params(Some("Digest"), &l))
        };
        assert_eq!(
            Credentials::parse(&params(Some("Basic"), &[])),
            Err(DigestError::NotDigest("Basic".into()))
        );
        assert_eq!(
            Credentials::parse(&params(None, &good())),
            Err(DigestError::NotDigest("".into()))
        );
        for name in [
            "username", "realm", "nonce", "response", "cnonce", "nc", "qop",
        ] {
            assert_eq!(
                with(&|l| l.retain(|p| p.0 != name)),
                Err(DigestError::Missing(name)),
                "{name}"
            );
        }
        assert_eq!(
            with(&|l| l.push(("algorithm", "MD5-sess", false))),
            Err(DigestError::UnsupportedAlgorithm("MD5-sess".into()))
        );
        assert_eq!(
            with(&|l| l.push(("algorithm", "SHA-256", false))),
            Err(DigestError::UnsupportedAlgorithm("SHA-256".into()))
        );
        assert_eq!(
            with(&|l| l[4] = ("qop", "auth-int", false)),
            Err(DigestError::UnsupportedQop("auth-int".into()))
        );
        assert_eq!(
            with(&|l| l[5] = ("nc", "1", false)),
            Err(DigestError::Malformed("nc"))
        );
        assert_eq!(
            with(&|l| l[5] = ("nc", "0000000g", false)),
            Err(DigestError::Malformed("nc"))
        );
        assert_eq!(
            with(&|l| l[7] = ("response", "6629fae4", true)),
            Err(DigestError::Malformed("response"))
        );
        assert_eq!(
            with(&|l| l.push(("NONCE", "x", true))),
            Err(DigestError::Duplicate("nonce"))
        );
    }

    #[test]
    fn challenge_round_trip() {
        let c = Challenge {
            realm: "relay.example.com".into(),
            nonce: "abc".into(),
            opaque: Some("op".into()),
            stale: true,
        };
        let p = c.to_params();
        assert_eq!(p.scheme.as_deref(), Some("Digest"));
        let names: Vec<_> = p.params.iter().map(|p| (&*p.name, p.quoted)).collect();
        assert_eq!(
            names,
            [
                ("realm", true),
                ("nonce", true),
                ("qop", true),
                ("opaque", true),
                ("stale", false),
                ("algorithm", false)
            ]
        );
        assert!(p.get("domain").is_none());
        assert_eq!(Challenge::parse(&p), Ok(c.clone()));
        let fresh = Challenge {
            stale: false,
            opaque: None,
            ..c
        };
        let p = fresh.to_params();
        assert!(p.get("stale").is_none() && p.get("opaque").is_none());
        assert_eq!(Challenge::parse(&p), Ok(fresh));
    }

    #[test]
    fn challenge_errors() {
        let base = [
            ("realm", "r", true),
            ("nonce", "n", true),
            ("qop", "auth-int,auth", true),
            ("domain", "msrps://x", true),
        ];
        assert!(Challenge::parse(&params(Some("Digest"), &base)).is_ok());
        assert_eq!(
            Challenge::parse(&params(Some("Digest"), &base[..2])),
            Err(DigestError::Missing("qop"))
        );
        let mut b = base.to_vec();
        b[2] = ("qop", "auth-int", true);
        assert_eq!(
            Challenge::parse(&params(Some("Digest"), &b)),
            Err(DigestError::UnsupportedQop("auth-int".into()))
        );
        let mut b = base.to_vec();
        b.push(("algorithm", "MD5-sess", false));
        assert!(matches!(
            Challenge::parse(&params(Some("Digest"), &b)),
            Err(DigestError::UnsupportedAlgorithm(_))
        ));
        let mut b = base.to_vec();
        b.push(("stale", "maybe", false));
        assert_eq!(
            Challenge::parse(&params(Some("Digest"), &b)),
            Err(DigestError::Malformed("stale"))
        );
    }

    #[test]
    fn answer_verifies() {
        let ch = Challenge {
            realm: "r".into(),
            nonce: "n".into(),
            opaque: Some("o".into()),
            stale: false,
        };
        let ha1 = ha1_hex("alice", "r", "pw");
        let a = ch.answer("alice", &ha1, "msrps://r.example.com;tcp", "cn", 7);
        assert_eq!(a.get("nc"), Some("00000007"));
        assert_eq!(a.get("opaque"), Some("o"));
        let c = Credentials::parse(&a).unwrap();
        assert!(c.verify(&ha1, c.digest_uri("ignored")));
        assert!(!c.verify(&ha1_hex("alice", "r", "px"), "msrps://r.example.com;tcp"));
        let info = c.authentication_info(&ha1, "msrps://r.example.com;tcp");
        assert_eq!(
            &*info.rspauth,
            rspauth_hex(
                &ha1,
                "n",
                "00000007",
                "cn",
                "auth",
                "msrps://r.example.com;tcp"
            )
        );
        let p = info.to_params();
        let order: Vec<_> = p.params.iter().map(|p| (&*p.name, p.quoted)).collect();
        assert_eq!(
            order,
            [
                ("rspauth", true),
                ("cnonce", true),
                ("nc", false),
                ("qop", false)
            ]
        );
        assert_eq!(AuthInfo::parse(&p), Ok(info));
    }
}
