//! Who a participant is: the user URI (a `sip:`/`sips:`/`tel:`/`im:` URI from SIP or the control
//! API) a room knows it by, compared as RFC 3261 §19.1.4 compares SIP URIs for the purposes the
//! switch has: matching a CPIM `From` to the sender (7701-012) and a CPIM `To` to a participant
//! or to the room (7701-010, 7701-020).

use std::fmt;
use std::sync::Arc;

/// A participant's (or a room's) URI in comparable form: scheme and host lower-cased, user part
/// kept (it is case-sensitive, RFC 3261 §19.1.4), URI parameters and headers dropped (the room
/// URI of RFC 7701 §9.3 is written `sip:chatroom22@chat.example.com;transport=tcp` in CPIM `To`).
/// Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserUri(Arc<str>);

impl UserUri {
    /// The comparable form of `uri` (angle brackets around it are removed); `None` when it has
    /// no scheme.
    pub fn new(uri: &str) -> Option<UserUri> {
        let (scheme, user, host) = parts(uri)?;
        let mut s = String::with_capacity(uri.len());
        s.push_str(&scheme.to_ascii_lowercase());
        s.push(':');
        if let Some(u) = user {
            // `user;params` of a tel-like user part stays as written.
            s.push_str(u);
            s.push('@');
        }
        s.push_str(&host.to_ascii_lowercase());
        Some(UserUri(s.into()))
    }

    /// Whether `uri` names this user (the comparison of [`UserUri::new`], without building
    /// one): what the switch asks of every message's CPIM `From` and `To`.
    pub fn is(&self, uri: &str) -> bool {
        // Most clients write the URI in the comparable form already (angle brackets aside):
        // then it is this user without taking either apart. Octets equal as they are (CPIM
        // URIs come without brackets) need no trimming either.
        if uri == &*self.0 || strip_brackets(uri) == &*self.0 {
            return true;
        }
        match (parts(uri), parts(&self.0)) {
            (Some((s1, u1, h1)), Some((s2, u2, h2))) => {
                s1.eq_ignore_ascii_case(s2) && u1 == u2 && h1.eq_ignore_ascii_case(h2)
            }
            _ => false,
        }
    }

    /// The comparable form as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Which shared value `self` is, as a number (its address): equal for two values exactly
    /// when they are the same shared value, not just equal ones, while it lives. A room gives
    /// every session of one participant the same value ([`crate::room::Room::join`]), so that
    /// its fan-out tells participants apart without comparing their texts.
    pub(crate) fn id(&self) -> usize {
        Arc::as_ptr(&self.0).cast::<u8>() as usize
    }
}

/// A URI's scheme, user part and host\[:port\], without angle brackets, parameters or headers;
/// `None` when it has no scheme or no host.
fn parts(uri: &str) -> Option<(&str, Option<&str>, &str)> {
    let uri = strip_brackets(uri);
    let (scheme, rest) = uri.split_once(':')?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return None;
    }
    // Headers (`?`) and parameters (`;` after the host part) are not part of the identity.
    let rest = rest.split('?').next().unwrap_or_default();
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let host = hostport.split(';').next().unwrap_or_default();
    if host.is_empty() {
        return None;
    }
    Some((scheme, user, host))
}

/// `uri` without surrounding white space and angle brackets.
fn strip_brackets(uri: &str) -> &str {
    let uri = uri.trim();
    uri.strip_prefix('<')
        .and_then(|u| u.strip_suffix('>'))
        .unwrap_or(uri)
}

impl fmt::Display for UserUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UserUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserUri({})", &self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> String {
        UserUri::new(s).expect(s).as_str().to_owned()
    }

    #[test]
    fn compares_as_the_switch_needs() {
        // RFC 7701 §9.3: the room URI with a transport parameter is the room.
        assert_eq!(
            k("<sip:chatroom22@chat.example.com;transport=tcp>"),
            k("sip:chatroom22@chat.example.com")
        );
        // Scheme and host are case-insensitive, the user part is not.
        assert_eq!(
            k("SIP:alice@Atlanta.Example.COM"),
            "sip:alice@atlanta.example.com"
        );
        assert_ne!(
            k("sip:Alice@atlanta.example.com"),
            k("sip:alice@atlanta.example.com")
        );
        assert_eq!(
            k("sip:bob@example.com:5061?subject=x"),
            "sip:bob@example.com:5061"
        );
        assert_eq!(k("im:bob@example.com"), "im:bob@example.com");
        assert!(UserUri::new("bob@example.com").is_none());
        assert!(UserUri::new("sip:").is_none());
        assert!(UserUri::new("<>").is_none());
    }

    #[test]
    fn is_compares_as_new_does() {
        let room = UserUri::new("sip:chatroom22@chat.example.com").expect("room");
        for (uri, same) in [
            ("<sip:chatroom22@chat.example.com;transport=tcp>", true),
            // The comparable form itself, bare and bracketed (the fast path).
            ("sip:chatroom22@chat.example.com", true),
            (" <sip:chatroom22@chat.example.com> ", true),
            ("<sip:chatroom22@chat.example.com", false),
            ("SIP:chatroom22@Chat.Example.COM", true),
            ("sip:Chatroom22@chat.example.com", false),
            ("sip:chatroom22@chat.example.org", false),
            ("sips:chatroom22@chat.example.com", false),
            ("chatroom22@chat.example.com", false),
            ("", false),
        ] {
            assert_eq!(room.is(uri), same, "{uri}");
            assert_eq!(UserUri::new(uri).as_ref() == Some(&room), same, "{uri}");
        }
    }
}
