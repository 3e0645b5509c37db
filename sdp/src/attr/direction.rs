//! The direction attributes `a=sendrecv`, `a=sendonly`, `a=recvonly`, `a=inactive`
//! (RFC 8866 §6.7, RFC 3264 §6.1).

use sdp_types::Attribute;

/// The direction of a media stream: one of four property attributes (RFC 8866 §6.7). Absent
/// means `sendrecv`. For MSRP it restricts only SENDs with regular content, not REPORTs,
/// responses or control SENDs (RFC 4975 §8.9, 4975-110). RFC 5547 file transfer uses it for
/// push (offer `sendonly`) and pull (offer `recvonly`) (5547-008).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// `a=sendrecv` (the default).
    #[default]
    SendRecv,
    /// `a=sendonly`.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    /// All four, in declaration order.
    pub const ALL: [Direction; 4] = [
        Direction::SendRecv,
        Direction::SendOnly,
        Direction::RecvOnly,
        Direction::Inactive,
    ];

    /// The attribute name (`sendrecv`, `sendonly`, `recvonly`, `inactive`).
    pub fn name(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction an attribute name stands for, ASCII case-insensitively; `None` for any
    /// other name.
    pub fn from_name(name: &str) -> Option<Direction> {
        Direction::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(name))
    }

    /// The first direction attribute in `attrs`, if any (a value after the name is ignored).
    pub fn find(attrs: &[Attribute]) -> Option<Direction> {
        attrs
            .iter()
            .find_map(|a| Direction::from_name(&a.attribute))
    }

    /// The direction stated by `attrs`, [`Direction::SendRecv`] when none is (RFC 8866 §6.7).
    pub fn of(attrs: &[Attribute]) -> Direction {
        Direction::find(attrs).unwrap_or_default()
    }

    /// The answer's direction for an offered one: the mirror (RFC 3264 §6.1, 3264-005):
    /// `sendonly` → `recvonly`, `recvonly` → `sendonly`, `sendrecv` and `inactive` unchanged.
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    /// As an sdp-types property attribute (`a=sendonly` etc.).
    pub fn to_attribute(self) -> Attribute {
        Attribute::new(self.name())
    }
}
