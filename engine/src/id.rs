//! Prefixed, time-sortable identifiers.
//!
//! Every entity has its own id newtype over a [`Ulid`], shown with a short
//! prefix (`agt_…`, `run_…`, `esc_…`, `ws_…`, `cur_…`, `evt_…`, `key_…`).
//! Ids come from one process-wide monotonic generator, so ids made later in
//! a process sort after ids made earlier, even within one millisecond; the
//! storage backends page lists in this order.
//!
//! ```
//! use nexwatt_engine::id::RunId;
//!
//! let a = RunId::generate();
//! let b = RunId::generate();
//! assert!(a < b);
//! assert!(a.to_string().starts_with("run_"));
//! let parsed: RunId = a.to_string().parse().unwrap();
//! assert_eq!(parsed, a);
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use ulid::{Generator, Ulid};

/// Why a string is not a valid id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {expected} id {value:?}: {reason}")]
pub struct ParseIdError {
    /// The prefix the id should have had (for example `run_`).
    pub expected: &'static str,
    /// The rejected input, cut to 64 characters.
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

static GENERATOR: Mutex<Option<Generator>> = Mutex::new(None);

/// A new ULID, strictly greater than every ULID this process made before.
///
/// Falls back to a fresh random ULID in the astronomically unlikely case
/// that the monotonic generator overflows within one millisecond, or if the
/// lock was poisoned by a panicking thread.
pub fn next_ulid() -> Ulid {
    match GENERATOR.lock() {
        Ok(mut guard) => {
            let generator = guard.get_or_insert_with(Generator::new);
            generator.generate().unwrap_or_else(|_| Ulid::new())
        }
        Err(_) => Ulid::new(),
    }
}

fn parse_prefixed(expected: &'static str, s: &str) -> Result<Ulid, ParseIdError> {
    let err = |reason| ParseIdError {
        expected,
        value: s.chars().take(64).collect(),
        reason,
    };
    let rest = s
        .strip_prefix(expected)
        .ok_or_else(|| err("wrong or missing prefix"))?;
    if rest.len() != ulid::ULID_LEN {
        return Err(err(
            "expected 26 Crockford base32 characters after the prefix",
        ));
    }
    Ulid::from_string(rest).map_err(|_| err("not a valid ULID"))
}

macro_rules! prefixed_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Ulid);

        impl $name {
            /// The prefix this id is shown with.
            pub const PREFIX: &'static str = $prefix;

            /// A new id, greater than every id this process generated before.
            pub fn generate() -> Self {
                Self(next_ulid())
            }

            /// Wraps an existing ULID.
            pub const fn from_ulid(ulid: Ulid) -> Self {
                Self(ulid)
            }

            /// The ULID inside.
            pub const fn ulid(self) -> Ulid {
                self.0
            }

            /// The 16 big-endian bytes of the ULID: sorts like the id.
            pub fn to_bytes(self) -> [u8; 16] {
                self.0 .0.to_be_bytes()
            }

            /// The id whose [`to_bytes`](Self::to_bytes) is `bytes`.
            pub fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(Ulid(u128::from_be_bytes(bytes)))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", $prefix, self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_prefixed($prefix, s).map(Self)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

prefixed_id!(
    /// Identifies an [`Agent`](crate::model::Agent): `agt_…`.
    AgentId,
    "agt_"
);
prefixed_id!(
    /// Identifies a [`Run`](crate::model::Run): `run_…`.
    RunId,
    "run_"
);
prefixed_id!(
    /// Identifies an [`Escalation`](crate::model::Escalation): `esc_…`.
    EscalationId,
    "esc_"
);
prefixed_id!(
    /// Identifies a [`Workspace`](crate::model::Workspace): `ws_…`.
    WorkspaceId,
    "ws_"
);
prefixed_id!(
    /// Identifies an audit [`Event`](crate::model::Event): `evt_…`.
    EventId,
    "evt_"
);
prefixed_id!(
    /// Identifies an [`ApiKeyRecord`](crate::model::ApiKeyRecord): `key_…`.
    ApiKeyId,
    "key_"
);
prefixed_id!(
    /// An opaque pagination cursor: `cur_…`. Only storage backends look inside.
    Cursor,
    "cur_"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids_sort_by_creation_within_one_millisecond() {
        let ids: Vec<RunId> = (0..1000).map(|_| RunId::generate()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        let strings: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let mut sorted_strings = strings.clone();
        sorted_strings.sort();
        assert_eq!(strings, sorted_strings, "string form sorts like the id");
    }

    #[test]
    fn wrong_prefix_is_rejected() {
        let agent = AgentId::generate().to_string();
        let err = agent.parse::<RunId>().unwrap_err();
        assert_eq!(err.expected, "run_");
        assert!("run_".parse::<RunId>().is_err());
        assert!("run_01J8K3N0P1Q2R3S4T5U6V7W8X".parse::<RunId>().is_err());
        assert!("run_0!J8K3N0P1Q2R3S4T5U6V7W8".parse::<RunId>().is_err());
    }

    #[test]
    fn shape_of_seed_ids_parses() {
        let id: AgentId = "agt_01J8K2M9P3Q4R5S6T7V8V9W0XY".parse().unwrap();
        assert_eq!(id.to_string(), "agt_01J8K2M9P3Q4R5S6T7V8V9W0XY");
        // The seed's illustrative ids are 24 characters (a real ULID has 26)
        // and contain `U`, which Crockford base32 excludes: they are
        // rejected with a reason, not mangled.
        let err = "agt_01J8K2M9P3Q4R5S6T7U8V9W0"
            .parse::<AgentId>()
            .unwrap_err();
        assert_eq!(err.expected, "agt_");
    }

    #[test]
    fn serde_uses_the_prefixed_form() {
        let id = EscalationId::generate();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        let back: EscalationId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<EscalationId>("\"run_01J8K3N0P1Q2R3S4T5U6V7W8\"").is_err());
    }

    proptest! {
        #[test]
        fn parsing_never_panics(s in ".{0,80}") {
            let _ = s.parse::<RunId>();
            let _ = s.parse::<Cursor>();
        }

        #[test]
        fn bytes_round_trip(n in any::<u128>()) {
            let id = RunId::from_ulid(Ulid(n));
            prop_assert_eq!(RunId::from_bytes(id.to_bytes()), id);
            prop_assert_eq!(id.to_string().parse::<RunId>().unwrap(), id);
        }
    }
}
