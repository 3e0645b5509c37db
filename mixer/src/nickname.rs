//! Nicknames (RFC 7701 §7): the `Use-Nickname` value of a NICKNAME request, prepared and
//! compared with the PRECIS Nickname profile, and a room's table of who holds which nickname.
//!
//! # Preparation (7701-029)
//!
//! [`prepare`] turns the unquoted `Use-Nickname` value (as `msrp` parses it into
//! `Header::UseNickname`) into a [`UseNickname`]:
//!
//! * the empty string is [`UseNickname::Release`] (RFC 7701 §7.3, 7701-032: "MUST be set to an
//!   empty quoted string", although the §7.1 ABNF says `1*1023`);
//! * anything else must be at most [`MAX_OCTETS`] octets (RFC 7701 §7.1: "MUST NOT be more than
//!   1023 octets") and must pass the PRECIS Nickname profile's *enforcement*; the result is a
//!   [`Nickname`] holding the enforced form (what the room shows) and the *comparison* form (what
//!   the room compares), so that `"Alice"`, `"alice "` and `"Ａｌｉｃｅ"` are one nickname.
//!
//! The profile is the `precis-profiles` crate's, which implements RFC 8266, the revision that
//! obsoletes RFC 7700 (cited by RFC 7701). They differ in case mapping: RFC 8266 lowercases
//! (Unicode `toLowerCase`) where RFC 7700 applied Default Case Folding, so `"ς"` and `"σ"`, or
//! `"Straße"` and `"STRASSE"`, are different nicknames here (both are equal under RFC 7700).
//!
//! Failures answer 424 (RFC 7701 §7.1, 7701-028): [`NickError::TooLong`],
//! [`NickError::Disallowed`] (control characters including HTAB, format characters such as
//! U+200B or U+FEFF, private-use and unassigned code points, ...), [`NickError::Empty`] (a
//! value of spaces only) and [`NickError::Invalid`].
//!
//! # The table (7701-028, 7701-030, 7701-031)
//!
//! [`NicknameTable`] is generic over the participant key `P` (a user: the URI the focus knows the
//! participant by, e.g. the SIP AoR) and the session key `S` (one MSRP session; a participant
//! joined from several devices has several). The semantics, chosen here:
//!
//! * **A nickname belongs to a participant, not to a session.** RFC 7701 §7: "A nickname is
//!   associated with a URI"; §7.1: the switch reserves a nickname and binds "it to a URI". A
//!   NICKNAME from any session of the participant sets the participant's one nickname (and a
//!   second NICKNAME from another session replaces it). This is also the shape of the roster
//!   (RFC 6501's `nickname` attribute is on the `<user>` element, RFC 7701 §7.4).
//! * **Unique per room** (RFC 7701 §7, 7701-030): a nickname, by comparison form, is held by at
//!   most one participant; another participant asking for it gets 425
//!   ([`NickError::InUse`]). The holder asking again (from any session, in any case or width
//!   variant) gets 200 and the shown form is updated (RFC 7701 §7.1: the switch "SHOULD only
//!   allow the reservation of an already-used nickname if the same user ... is making this
//!   subsequent request").
//! * **Never automatic** (7701-030): the table never invents or assigns a nickname: [`join`]
//!   registers a session with none, and only an explicit NICKNAME request sets one. Since the
//!   nickname names the user and not a session, no session is ever bound to a nickname on its
//!   own.
//! * **Changes are atomic** (RFC 7701 §7.2, 7701-031): a failed request (403/424/425) leaves the
//!   current nickname in place; a successful one releases the old nickname in the same step.
//! * **Release** with `""` (RFC 7701 §7.3), or when the participant leaves: with
//!   [`leave_participant`], or when its last registered session goes with [`leave_session`]
//!   (RFC 7701 §7.1: the nickname is reserved "for as long as the participant is logged into the
//!   chat room").
//! * **Reserved words** (RFC 7701 §7.1: "a reserved word (not to be used as a nickname by any
//!   user)") are given at construction ([`NicknameTable::with_reserved`]) and compared by the
//!   same profile: reserving `"admin"` also refuses `"ADMIN "` and `"ａｄｍｉｎ"` with 425.
//!
//! The checks run in the order RFC 7701 §7.1 describes them: policy (403) first, then the value
//! (424), then reserved words and other users (425).
//!
//! [`join`]: NicknameTable::join
//! [`leave_participant`]: NicknameTable::leave_participant
//! [`leave_session`]: NicknameTable::leave_session

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{Hash, Hasher};

use bytestring::ByteString;
use msrp::header::HeaderError;
use msrp::{DecodeError, ErrorKind, Head, Header, Method, StatusCode};
use precis_core::profile::{Profile, Rules, stabilize};
use precis_core::{Error as PrecisError, UnexpectedError};
use precis_profiles::Nickname as NicknameProfile;

/// The longest nickname, in octets of UTF-8 (RFC 7701 §7.1: the nickname string "MUST NOT be
/// more than 1023 octets in length"; the ABNF's `1*1023(qdtext / qd-esc)` admits no more either).
///
/// Checked on the received (unquoted) value and again on the enforced form, which NFKC can make
/// longer (U+FDFA becomes 18 characters).
pub const MAX_OCTETS: usize = 1023;

/// Why a NICKNAME request fails; [`NickError::status`] gives the response code
/// (RFC 7701 §7.1, 7701-028).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NickError {
    /// The room's policy does not allow nicknames: 403 (RFC 7701 §7.1).
    #[error("nicknames are not allowed in this room")]
    Forbidden,
    /// The NICKNAME request has no `Use-Nickname` header (7701-027): 400 (RFC 4975 §10).
    #[error("NICKNAME request without Use-Nickname")]
    Missing,
    /// The value is longer than [`MAX_OCTETS`] octets, as received or once enforced: 424.
    #[error("nickname is {octets} octets long, more than 1023")]
    TooLong {
        /// The length found, in octets.
        octets: usize,
    },
    /// The PRECIS Nickname profile does not allow this code point (FreeformClass, RFC 8264 §4.3;
    /// context rules of RFC 5892 Appendix A): 424.
    #[error("code point U+{code_point:04X} (character {position}) is not allowed in a nickname")]
    Disallowed {
        /// The code point.
        code_point: u32,
        /// Its index in characters, as the profile reports it (in the received value, unless the
        /// code point only appeared after a mapping step).
        position: usize,
    },
    /// A non-empty value of spaces only: nothing is left after the profile's additional
    /// mapping rule, and an enforced nickname must not be empty (RFC 7700 §2.3): 424.
    #[error("nickname is empty once spaces are removed")]
    Empty,
    /// Any other failure of the profile (e.g. a string that does not stabilise, or U+200C
    /// where its context rule cannot apply): 424.
    #[error("not a valid nickname under the PRECIS Nickname profile")]
    Invalid,
    /// The nickname is a reserved word: 425 (RFC 7701 §7.1).
    #[error("nickname is reserved")]
    Reserved,
    /// Another participant holds the nickname: 425 (RFC 7701 §7.1).
    #[error("nickname is in use by another participant")]
    InUse,
}

impl NickError {
    /// The status to answer the NICKNAME request with (RFC 7701 §7.1, 7701-028): 403, 424, 425,
    /// or 400 for a request without `Use-Nickname`.
    pub fn status(&self) -> StatusCode {
        match self {
            NickError::Forbidden => StatusCode::FORBIDDEN,
            NickError::Missing => StatusCode::BAD_REQUEST,
            NickError::TooLong { .. }
            | NickError::Disallowed { .. }
            | NickError::Empty
            | NickError::Invalid => StatusCode::BAD_NICKNAME,
            NickError::Reserved | NickError::InUse => StatusCode::NICKNAME_IN_USE,
        }
    }

    /// `true` for the 424 cases: the value itself is not a nickname.
    pub fn is_malformed(&self) -> bool {
        self.status() == StatusCode::BAD_NICKNAME
    }
}

/// The status for a NICKNAME request the decoder could not parse because its `Use-Nickname`
/// value is not a quoted string (e.g. `Use-Nickname: Alice`): 424, which RFC 7701 §7.1 requires
/// when "the value of the Use-Nickname header field does not conform to the syntax", where the
/// decoder's own [`DecodeError::status`] would say 400. `None` for any other error.
pub fn decode_error_status(err: &DecodeError) -> Option<StatusCode> {
    (err.method == Some(Method::Nickname)
        && err.kind == ErrorKind::Header(HeaderError::Value("Use-Nickname")))
    .then_some(StatusCode::BAD_NICKNAME)
}

/// The (unquoted) `Use-Nickname` value of a request head, if it has one.
pub fn use_nickname(head: &Head) -> Option<&ByteString> {
    head.find(|h| match h {
        Header::UseNickname(n) => Some(n),
        _ => None,
    })
}

/// A nickname that passed the PRECIS Nickname profile.
///
/// It keeps two forms: [`as_str`](Nickname::as_str), the enforced form (spaces trimmed and
/// collapsed, NFKC; case kept), to show; and [`comparison_key`](Nickname::comparison_key), the
/// comparison form (also lowercased), to compare. Equality and hashing use the comparison form
/// only (RFC 7700 §2.4: equal when the comparison forms match octet for octet), so
/// `Nickname::new("Alice") == Nickname::new("alice ")`.
#[derive(Clone)]
pub struct Nickname {
    text: ByteString,
    key: ByteString,
}

impl Nickname {
    /// Enforces `raw` with the PRECIS Nickname profile and computes its comparison form.
    /// The empty string is an error here ([`NickError::Empty`]); see [`prepare`] for the release
    /// case.
    pub fn new(raw: &str) -> Result<Nickname, NickError> {
        if raw.len() > MAX_OCTETS {
            return Err(NickError::TooLong { octets: raw.len() });
        }
        if raw.is_empty() {
            return Err(NickError::Empty);
        }
        let profile = NicknameProfile::new();
        let text = Profile::enforce(&profile, raw).map_err(|e| malformed(raw, e))?;
        if text.len() > MAX_OCTETS {
            return Err(NickError::TooLong { octets: text.len() });
        }
        let key = comparison_form(raw).map_err(|e| malformed(raw, e))?;
        Ok(Nickname {
            text: ByteString::from(text.into_owned()),
            key: ByteString::from(key.into_owned()),
        })
    }

    /// The enforced form, to show to other participants (RFC 7700 §2.3).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The enforced form, as a cheaply cloned string.
    pub fn to_byte_string(&self) -> ByteString {
        self.text.clone()
    }

    /// The comparison form (RFC 7700 §2.4): two nicknames are the same when these are equal.
    pub fn comparison_key(&self) -> &str {
        &self.key
    }
}

impl PartialEq for Nickname {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Nickname {}

impl Hash for Nickname {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

impl fmt::Debug for Nickname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nickname({:?})", &*self.text)
    }
}

impl fmt::Display for Nickname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl AsRef<str> for Nickname {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

/// What a `Use-Nickname` value asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UseNickname {
    /// Take this nickname (RFC 7701 §7.1, §7.2).
    Set(Nickname),
    /// `Use-Nickname: ""`: drop the current nickname (RFC 7701 §7.3, 7701-032).
    Release,
}

/// Validates and prepares the unquoted value of a `Use-Nickname` header (RFC 7701 §7.1,
/// 7701-029): `""` is [`UseNickname::Release`] (7701-032); anything else goes through
/// [`Nickname::new`], whose errors all answer 424 (7701-028).
pub fn prepare(raw: &str) -> Result<UseNickname, NickError> {
    if raw.is_empty() {
        Ok(UseNickname::Release)
    } else {
        Nickname::new(raw).map(UseNickname::Set)
    }
}

/// The PRECIS Nickname comparison form (RFC 8266 §2.4): prepare, additional mapping, case
/// mapping, NFKC, repeated until stable. This is what the profile's own `compare` computes for
/// each side (it does not expose the string, so the same public rules are applied here; a test
/// checks the two agree).
fn comparison_form(raw: &str) -> Result<Cow<'_, str>, PrecisError> {
    let profile = NicknameProfile::new();
    stabilize(raw, |s| {
        let s = Profile::prepare(&profile, s)?;
        let s = profile.additional_mapping_rule(s)?;
        let s = profile.case_mapping_rule(s)?;
        profile.normalization_rule(s)
    })
}

/// Maps a profile failure on `raw` to the 424 error that describes it.
fn malformed(raw: &str, e: PrecisError) -> NickError {
    match e {
        PrecisError::BadCodepoint(info)
        | PrecisError::Unexpected(
            UnexpectedError::ContextRuleNotApplicable(info)
            | UnexpectedError::MissingContextRule(info),
        ) => NickError::Disallowed {
            code_point: info.cp,
            position: info.position,
        },
        PrecisError::Invalid
            if NicknameProfile::new()
                .additional_mapping_rule(raw)
                .is_ok_and(|s| s.is_empty()) =>
        {
            NickError::Empty
        }
        _ => NickError::Invalid,
    }
}

/// A successful NICKNAME request: answer 200 (RFC 7701 §7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The participant now holds `nickname`. `previous` is what it held before, now released
    /// unless it compares equal to `nickname` (the same nickname asked for again, perhaps in
    /// another case or width; the shown form is then updated).
    Set {
        /// The nickname now held.
        nickname: Nickname,
        /// The nickname held before, if any.
        previous: Option<Nickname>,
    },
    /// `Use-Nickname: ""`: the participant has no nickname now; `previous` was released (200
    /// also when there was none).
    Released {
        /// The nickname released, if any.
        previous: Option<Nickname>,
    },
}

impl Outcome {
    /// 200 (RFC 7701 §7.1: "MUST answer the NICKNAME request with a 200 response").
    pub fn status(&self) -> StatusCode {
        StatusCode::OK
    }

    /// The nickname held after the request.
    pub fn nickname(&self) -> Option<&Nickname> {
        match self {
            Outcome::Set { nickname, .. } => Some(nickname),
            Outcome::Released { .. } => None,
        }
    }
}

/// A reserved word given to [`NicknameTable::with_reserved`] is not itself a valid nickname.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("reserved nickname {word:?}: {error}")]
pub struct ReservedWordError {
    /// The word as given.
    pub word: String,
    /// Why the profile refuses it.
    pub error: NickError,
}

#[derive(Debug, Clone)]
struct Member<S> {
    nickname: Option<Nickname>,
    sessions: Vec<S>,
}

/// One room's nicknames: which participant holds which nickname, the sessions of each
/// participant, and the reserved words. See the [module documentation](self) for the
/// semantics (RFC 7701 §7).
///
/// `P` identifies a participant (a user URI); `S` identifies one of its MSRP sessions.
#[derive(Debug, Clone)]
pub struct NicknameTable<P, S> {
    /// Comparison forms of the reserved words.
    reserved: HashSet<ByteString>,
    /// Comparison form of each nickname in use → its holder.
    holders: HashMap<ByteString, P>,
    members: HashMap<P, Member<S>>,
    sessions: HashMap<S, P>,
}

impl<P: Eq + Hash + Clone, S: Eq + Hash + Clone> Default for NicknameTable<P, S> {
    fn default() -> Self {
        NicknameTable {
            reserved: HashSet::new(),
            holders: HashMap::new(),
            members: HashMap::new(),
            sessions: HashMap::new(),
        }
    }
}

impl<P: Eq + Hash + Clone, S: Eq + Hash + Clone> NicknameTable<P, S> {
    /// An empty table with no reserved words.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty table refusing `words` (and everything that compares equal to one of them) with
    /// 425 (RFC 7701 §7.1). Fails on the first word the profile does not accept.
    pub fn with_reserved<I, W>(words: I) -> Result<Self, ReservedWordError>
    where
        I: IntoIterator<Item = W>,
        W: AsRef<str>,
    {
        let mut t = Self::default();
        for w in words {
            let w = w.as_ref();
            let n = Nickname::new(w).map_err(|error| ReservedWordError {
                word: w.to_owned(),
                error,
            })?;
            t.reserved.insert(n.key);
        }
        Ok(t)
    }

    /// `true` when `nickname` compares equal to a reserved word.
    pub fn is_reserved(&self, nickname: &str) -> bool {
        Nickname::new(nickname).is_ok_and(|n| self.reserved.contains(&n.key))
    }

    /// Registers `session` as one of `participant`'s, with no nickname assigned (7701-030). A
    /// participant keeps its nickname while it has a registered session. A session registered
    /// to another participant moves (that participant loses its nickname if it was its last
    /// session).
    pub fn join(&mut self, participant: &P, session: &S) {
        match self.sessions.get(session) {
            Some(p) if p == participant => return,
            Some(_) => {
                self.leave_session(session);
            }
            None => {}
        }
        self.sessions.insert(session.clone(), participant.clone());
        self.members
            .entry(participant.clone())
            .or_insert_with(|| Member {
                nickname: None,
                sessions: Vec::new(),
            })
            .sessions
            .push(session.clone());
    }

    /// Handles a NICKNAME request from `session` of `participant` whose unquoted `Use-Nickname`
    /// value is `raw` (RFC 7701 §7.1–§7.3). `policy_allows` is the room's policy on nicknames.
    ///
    /// Checks, in order: policy (403, [`NickError::Forbidden`]), the value (424, see
    /// [`prepare`]), reserved words and other holders (425). On error nothing changes but the
    /// session's registration (as [`join`](Self::join)): the current nickname stays
    /// (7701-031). On success the new nickname replaces the old one, which is released.
    pub fn request(
        &mut self,
        policy_allows: bool,
        participant: &P,
        session: &S,
        raw: &str,
    ) -> Result<Outcome, NickError> {
        self.join(participant, session);
        if !policy_allows {
            return Err(NickError::Forbidden);
        }
        let wanted = prepare(raw)?;
        let member = self
            .members
            .get_mut(participant)
            .expect("joined just above");
        match wanted {
            UseNickname::Release => {
                let previous = member.nickname.take();
                if let Some(old) = &previous {
                    self.holders.remove(&old.key);
                }
                Ok(Outcome::Released { previous })
            }
            UseNickname::Set(nickname) => {
                if self.reserved.contains(&nickname.key) {
                    return Err(NickError::Reserved);
                }
                if self
                    .holders
                    .get(&nickname.key)
                    .is_some_and(|holder| holder != participant)
                {
                    return Err(NickError::InUse);
                }
                let previous = member.nickname.replace(nickname.clone());
                if let Some(old) = &previous {
                    self.holders.remove(&old.key);
                }
                self.holders
                    .insert(nickname.key.clone(), participant.clone());
                Ok(Outcome::Set { nickname, previous })
            }
        }
    }

    /// [`request`](Self::request) with the value taken from a NICKNAME request's head;
    /// [`NickError::Missing`] (400) when it has no `Use-Nickname` (7701-027).
    pub fn request_head(
        &mut self,
        policy_allows: bool,
        participant: &P,
        session: &S,
        head: &Head,
    ) -> Result<Outcome, NickError> {
        match use_nickname(head) {
            Some(raw) => self.request(policy_allows, participant, session, raw),
            None => {
                self.join(participant, session);
                Err(if policy_allows {
                    NickError::Missing
                } else {
                    NickError::Forbidden
                })
            }
        }
    }

    /// Forgets `session`. When it was its participant's last registered session the
    /// participant leaves: its nickname is released and returned.
    pub fn leave_session(&mut self, session: &S) -> Option<Nickname> {
        let participant = self.sessions.remove(session)?;
        let member = self.members.get_mut(&participant)?;
        member.sessions.retain(|s| s != session);
        if member.sessions.is_empty() {
            self.leave_participant(&participant)
        } else {
            None
        }
    }

    /// Forgets `participant` and all its sessions; its nickname is released and returned.
    pub fn leave_participant(&mut self, participant: &P) -> Option<Nickname> {
        let member = self.members.remove(participant)?;
        for s in &member.sessions {
            self.sessions.remove(s);
        }
        let nickname = member.nickname?;
        self.holders.remove(&nickname.key);
        Some(nickname)
    }

    /// The participant holding `nickname`, compared with the profile (so `"ALICE "` finds the
    /// holder of `"alice"`); `None` when nobody holds it or it is not a valid nickname. For
    /// resolving messages addressed to a nickname.
    pub fn lookup(&self, nickname: &str) -> Option<&P> {
        let n = Nickname::new(nickname).ok()?;
        self.holders.get(&n.key)
    }

    /// The participant holding `nickname`.
    pub fn holder(&self, nickname: &Nickname) -> Option<&P> {
        self.holders.get(&nickname.key)
    }

    /// The nickname `participant` holds.
    pub fn nickname_of(&self, participant: &P) -> Option<&Nickname> {
        self.members.get(participant)?.nickname.as_ref()
    }

    /// The nickname of the participant `session` belongs to.
    pub fn nickname_of_session(&self, session: &S) -> Option<&Nickname> {
        self.nickname_of(self.sessions.get(session)?)
    }

    /// The participant `session` is registered to.
    pub fn participant_of(&self, session: &S) -> Option<&P> {
        self.sessions.get(session)
    }

    /// The registered sessions of `participant` (empty when unknown).
    pub fn sessions_of(&self, participant: &P) -> &[S] {
        self.members
            .get(participant)
            .map_or(&[], |m| m.sessions.as_slice())
    }

    /// The number of nicknames in use.
    pub fn len(&self) -> usize {
        self.holders.len()
    }

    /// `true` when nobody holds a nickname.
    pub fn is_empty(&self) -> bool {
        self.holders.is_empty()
    }

    /// Every participant holding a nickname, with it (in no particular order): the roster's
    /// nicknames (RFC 7701 §7.4).
    pub fn iter(&self) -> impl Iterator<Item = (&P, &Nickname)> {
        self.members
            .iter()
            .filter_map(|(p, m)| m.nickname.as_ref().map(|n| (p, n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use precis_core::profile::PrecisFastInvocation;

    fn nick(s: &str) -> Nickname {
        Nickname::new(s).unwrap()
    }

    fn err(s: &str) -> NickError {
        Nickname::new(s).unwrap_err()
    }

    #[test]
    fn enforced_and_comparison_forms() {
        // RFC 7700 §2.1 additional mapping: trim, collapse, non-ASCII spaces to SP.
        let n = nick("  Alice  the\u{3000}\u{3000}great ");
        assert_eq!(n.as_str(), "Alice the great");
        assert_eq!(n.comparison_key(), "alice the great");
        // NFKC in enforcement: full width and compatibility characters.
        assert_eq!(nick("Ａｌｉｃｅ").as_str(), "Alice");
        assert_eq!(nick("Richard \u{2163}").as_str(), "Richard IV");
        assert_eq!(nick("Richard \u{2163}").comparison_key(), "richard iv");
        assert_eq!(nick("a\u{0301}").as_str(), "\u{e1}");
        assert_eq!(nick("\u{ff76}\u{ff9e}").as_str(), "\u{30ac}"); // half-width ｶﾞ → ガ
        // Case is kept for showing (RFC 8266: case mapping only in comparison).
        assert_eq!(nick("BOY").as_str(), "BOY");
        assert_eq!(format!("{}", nick("Bob ")), "Bob");
        assert_eq!(format!("{:?}", nick("Bob ")), "Nickname(\"Bob\")");
    }

    #[test]
    fn equality_uses_the_comparison_form() {
        assert_eq!(nick("Alice"), nick("alice "));
        assert_eq!(nick("Alice"), nick("ＡＬＩＣＥ"));
        assert_eq!(nick("Alice"), nick("\u{a0}ALICE\u{2000}"));
        assert_ne!(nick("BOY"), nick("B0Y"));
        let mut set = HashSet::new();
        set.insert(nick("Alice"));
        assert!(set.contains(&nick(" aLiCe ")));
    }

    /// The comparison form computed here agrees with the profile's own `compare`, and the
    /// enforced form compares like the raw value.
    #[test]
    fn comparison_form_agrees_with_the_profile() {
        let samples = [
            "Alice",
            "alice ",
            "Ａｌｉｃｅ",
            "ALICE",
            "  alice  ",
            "Alice the great",
            "alice  THE\u{2003}great",
            "Richard \u{2163}",
            "richard iv",
            "\u{3a3}",
            "\u{3c3}",
            "\u{3c2}",
            "Stra\u{df}e",
            "STRASSE",
            "STRA\u{1e9e}E",
            "\u{c5}",
            "\u{212b}",
            "A\u{30a}",
            "\u{130}",
            "i",
            "\u{1c5}",
            "\u{1c6}",
            "\u{fdfa}",
            "\u{265a}",
            "B0Y",
            "BOY",
        ];
        for a in samples {
            let na = nick(a);
            assert_eq!(
                comparison_form(na.as_str()).unwrap(),
                na.comparison_key(),
                "{a:?}: enforced form compares like the raw value"
            );
            for b in samples {
                let nb = nick(b);
                assert_eq!(
                    na == nb,
                    <NicknameProfile as PrecisFastInvocation>::compare(a, b).unwrap(),
                    "{a:?} vs {b:?}"
                );
            }
        }
    }

    /// Where the RFC 8266 profile (precis-profiles) differs from RFC 7700's examples.
    #[test]
    fn rfc8266_case_mapping_not_rfc7700_case_folding() {
        // RFC 7700 §3 examples 5 and 6 hold...
        assert_eq!(nick("\u{3a3}"), nick("\u{3c3}"));
        // ... but example 7 (final sigma) does not: toLowerCase keeps ς.
        assert_ne!(nick("\u{3c3}"), nick("\u{3c2}"));
        // Full case folding would map ß to ss; toLowerCase does not.
        assert_ne!(nick("Stra\u{df}e"), nick("STRASSE"));
        assert_eq!(nick("Stra\u{df}e"), nick("STRA\u{1e9e}E"));
        // İ lowercases to i + U+0307.
        assert_ne!(nick("\u{130}"), nick("i"));
        // RFC 7700 §3 examples 1-4, 8, 9.
        assert_eq!(nick("Foo").comparison_key(), "foo");
        assert_eq!(nick("Foo Bar").comparison_key(), "foo bar");
        assert_eq!(nick("\u{265a}").comparison_key(), "\u{265a}");
        assert_eq!(nick("Richard \u{2163}").comparison_key(), "richard iv");
    }

    #[test]
    fn empty_releases_and_spaces_do_not() {
        assert_eq!(prepare(""), Ok(UseNickname::Release));
        assert_eq!(err(""), NickError::Empty);
        for blank in [" ", "   ", "\u{3000}", "\u{a0} \u{2000}"] {
            assert_eq!(prepare(blank), Err(NickError::Empty), "{blank:?}");
        }
        assert_eq!(prepare("x"), Ok(UseNickname::Set(nick("x"))));
    }

    #[test]
    fn disallowed_code_points() {
        for (raw, cp, pos) in [
            ("Alice\tBob", 0x09, 5),  // HTAB: qdtext allows it, FreeformClass does not
            ("Alice\nBob", 0x0a, 5),  // LF
            ("a\0b", 0x00, 1),        // NUL
            ("Alice\u{7f}", 0x7f, 5), // DEL
            ("\u{85}x", 0x85, 0),     // C1 control
            ("Alice\u{200b}", 0x200b, 5), // ZERO WIDTH SPACE
            ("\u{feff}a", 0xfeff, 0), // BOM
            ("a\u{ad}b", 0xad, 1),    // SOFT HYPHEN
            ("a\u{202e}b", 0x202e, 1), // RIGHT-TO-LEFT OVERRIDE
            ("x\u{2028}y", 0x2028, 1), // LINE SEPARATOR (Zl, not mapped like Zs)
            ("\u{e000}", 0xe000, 0),  // private use
            ("\u{378}", 0x378, 0),    // unassigned
            ("a\u{200d}b", 0x200d, 1), // ZWJ outside its context (CONTEXTJ)
            ("\u{1100}\u{1161}", 0x1100, 0), // conjoining Hangul jamo
        ] {
            let e = err(raw);
            assert_eq!(
                e,
                NickError::Disallowed {
                    code_point: cp,
                    position: pos
                },
                "{raw:?}"
            );
            assert_eq!(e.status(), StatusCode::BAD_NICKNAME);
            assert!(e.is_malformed());
        }
        // U+200C alone: the profile fails its context rule with an "unexpected" error.
        assert_eq!(err("\u{200c}"), NickError::Invalid);
    }

    #[test]
    fn surprisingly_accepted() {
        // ZWJ after a virama (RFC 5892 A.2), lone combining marks, U+FFFD, emoji, symbols,
        // quotes and backslashes (unescaped by the header parser).
        for raw in [
            "\u{94d}\u{200d}",
            "\u{3099}",
            "\u{fffd}",
            "\u{1f600}",
            "\u{1f1eb}\u{1f1f7}",
            "\"q\"",
            "\\",
            "\u{627}\u{644}",
        ] {
            assert!(Nickname::new(raw).is_ok(), "{raw:?}");
        }
        // Compatibility characters expand.
        assert_eq!(nick("\u{2460}").as_str(), "1");
        assert_eq!(nick("\u{2122}").as_str(), "TM");
        assert_eq!(nick("\u{fb00}").as_str(), "ff");
    }

    #[test]
    fn length_limit_in_octets() {
        let max = "a".repeat(MAX_OCTETS);
        assert_eq!(nick(&max).as_str().len(), MAX_OCTETS);
        assert_eq!(err(&"a".repeat(1024)), NickError::TooLong { octets: 1024 });
        // 512 two-octet characters: 512 characters but 1024 octets.
        assert_eq!(
            err(&"\u{e9}".repeat(512)),
            NickError::TooLong { octets: 1024 }
        );
        assert!(Nickname::new(&"\u{e9}".repeat(511)).is_ok());
        // Surrounding spaces count as received, even though enforcement removes them.
        assert_eq!(err(&format!(" {max}")), NickError::TooLong { octets: 1024 });
        // The received value counts in octets, before enforcement trims it: 513 characters,
        // 1024 octets, 1022 once trimmed.
        assert_eq!(
            err(&format!("  {}", "\u{e9}".repeat(511))),
            NickError::TooLong { octets: 1024 }
        );
        // 341 × U+FDFA is 1023 octets received, 341 × 33 once NFKC expands it.
        let expands = "\u{fdfa}".repeat(341);
        assert_eq!(expands.len(), 1023);
        assert_eq!(err(&expands), NickError::TooLong { octets: 341 * 33 });
        assert_eq!(
            NickError::TooLong { octets: 1024 }.status(),
            StatusCode::BAD_NICKNAME
        );
    }

    #[test]
    fn statuses() {
        assert_eq!(NickError::Forbidden.status(), StatusCode::FORBIDDEN);
        assert_eq!(NickError::Forbidden.status().as_u16(), 403);
        assert_eq!(NickError::Missing.status().as_u16(), 400);
        assert_eq!(NickError::Empty.status().as_u16(), 424);
        assert_eq!(NickError::Invalid.status().as_u16(), 424);
        assert_eq!(NickError::Reserved.status().as_u16(), 425);
        assert_eq!(NickError::InUse.status().as_u16(), 425);
        assert!(!NickError::InUse.is_malformed());
        let ok = Outcome::Released { previous: None };
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(ok.nickname(), None);
    }

    #[test]
    fn table_change_keeps_old_on_failure() {
        let mut t: NicknameTable<&str, u32> = NicknameTable::with_reserved(["admin"]).unwrap();
        assert_eq!(
            t.request(true, &"alice", &1, "Alice"),
            Ok(Outcome::Set {
                nickname: nick("Alice"),
                previous: None
            })
        );
        t.request(true, &"bob", &2, "Bob").unwrap();
        let long = "x".repeat(1024);
        for bad in ["bob", "BOB ", "ADMIN", " ", "\t", long.as_str()] {
            assert!(t.request(true, &"alice", &1, bad).is_err(), "{bad:?}");
            assert_eq!(t.nickname_of(&"alice").unwrap().as_str(), "Alice");
            assert_eq!(t.lookup("alice"), Some(&"alice"));
        }
        assert!(t.request(false, &"alice", &1, "Carol").is_err());
        assert_eq!(t.nickname_of(&"alice").unwrap().as_str(), "Alice");
        // A successful change releases the old one at once (7701-031).
        let out = t.request(true, &"alice", &1, "Carol").unwrap();
        assert_eq!(out.nickname(), Some(&nick("carol")));
        assert_eq!(
            out,
            Outcome::Set {
                nickname: nick("Carol"),
                previous: Some(nick("Alice"))
            }
        );
        assert_eq!(t.lookup("Alice"), None);
        assert_eq!(t.len(), 2);
        t.request(true, &"bob", &2, "alice").unwrap();
        assert_eq!(t.lookup("ALICE"), Some(&"bob"));
    }

    #[test]
    fn table_session_bookkeeping() {
        let mut t: NicknameTable<&str, u32> = NicknameTable::new();
        t.join(&"alice", &1);
        t.join(&"alice", &1);
        assert_eq!(t.sessions_of(&"alice"), &[1]);
        assert_eq!(t.nickname_of_session(&1), None);
        t.request(true, &"alice", &2, "Alice").unwrap();
        assert_eq!(t.sessions_of(&"alice"), &[1, 2]);
        assert_eq!(t.participant_of(&2), Some(&"alice"));
        // Moving session 2 to another participant keeps alice (she still has session 1).
        t.join(&"mallory", &2);
        assert_eq!(t.participant_of(&2), Some(&"mallory"));
        assert_eq!(t.sessions_of(&"alice"), &[1]);
        assert_eq!(t.nickname_of(&"alice").unwrap().as_str(), "Alice");
        assert_eq!(t.nickname_of_session(&2), None);
        // Moving her last session releases her nickname.
        t.join(&"mallory", &1);
        assert_eq!(t.nickname_of(&"alice"), None);
        assert!(t.is_empty());
        assert_eq!(t.sessions_of(&"alice"), &[] as &[u32]);
        assert_eq!(t.leave_session(&99), None);
        assert_eq!(t.leave_participant(&"nobody"), None);
    }

    #[test]
    fn reserved_words_must_be_nicknames() {
        let e = NicknameTable::<u8, u8>::with_reserved(["ok", "bad\u{7}"]).unwrap_err();
        assert_eq!(e.word, "bad\u{7}");
        assert_eq!(
            e.error,
            NickError::Disallowed {
                code_point: 7,
                position: 3
            }
        );
        let t = NicknameTable::<u8, u8>::with_reserved(["Admin", " moderator"]).unwrap();
        assert!(t.is_reserved("ADMIN"));
        assert!(t.is_reserved("ｍｏｄｅｒａｔｏｒ "));
        assert!(!t.is_reserved("admins"));
        assert!(!t.is_reserved(""));
    }
}
