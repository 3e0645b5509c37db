//! `a=chatroom` (RFC 7701 §8).

use super::{MsrpAttribute, is_token, is_ws, optional};
use crate::error::AttrError;

/// `a=chatroom[:<chat-token> *(SP <chat-token>)]` (RFC 7701 §8, 7701-005..008): the endpoint
/// supports the multi-party chat extensions, and which optional ones.
///
/// A declaration, not negotiated: its absence in a later offer/answer disables chat-room
/// support (7701-007). Tokens: `nickname` (the RFC prose says `nicknames`: both are accepted,
/// `nickname` is written, 7701-008), `private-messages`, and extension tokens (e.g. reversed DNS
/// `com.example.chat.foo`), kept in [`Chatroom::extensions`] and written back. Known tokens are
/// matched ASCII case-insensitively. A repeated token is an error (7701-006).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chatroom {
    /// `nickname`: the NICKNAME request is supported (7701-026).
    pub nickname: bool,
    /// `private-messages`: private messages are supported.
    pub private_messages: bool,
    /// Other tokens (`ext-token`), as received, in order.
    pub extensions: Vec<String>,
}

impl MsrpAttribute for Chatroom {
    const NAME: &'static str = "chatroom";

    fn parse_value(value: Option<&str>) -> Result<Self, AttrError> {
        let mut c = Chatroom::default();
        let Some(v) = optional(value) else {
            return Ok(c);
        };
        for t in v.split(is_ws).filter(|t| !t.is_empty()) {
            let repeated =
                if t.eq_ignore_ascii_case("nickname") || t.eq_ignore_ascii_case("nicknames") {
                    std::mem::replace(&mut c.nickname, true)
                } else if t.eq_ignore_ascii_case("private-messages") {
                    std::mem::replace(&mut c.private_messages, true)
                } else if !is_token(t) {
                    return Err(AttrError::invalid(
                        Self::NAME,
                        format!("{t:?} is not a chat-token (RFC 7701 §8)"),
                    ));
                } else if c.extensions.iter().any(|e| e.eq_ignore_ascii_case(t)) {
                    true
                } else {
                    c.extensions.push(t.to_owned());
                    false
                };
            if repeated {
                return Err(AttrError::invalid(
                    Self::NAME,
                    format!("chat-token {t:?} is repeated (RFC 7701 §8)"),
                ));
            }
        }
        Ok(c)
    }

    fn to_value(&self) -> Option<String> {
        let mut tokens: Vec<&str> = Vec::new();
        if self.nickname {
            tokens.push("nickname");
        }
        if self.private_messages {
            tokens.push("private-messages");
        }
        tokens.extend(self.extensions.iter().map(String::as_str));
        (!tokens.is_empty()).then(|| tokens.join(" "))
    }
}
