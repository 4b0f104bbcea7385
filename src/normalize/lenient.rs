//! Serde helpers for the loose typing of X's exports: numbers written as strings, ids as
//! strings or numbers, flags as booleans or strings, and `null` where a list is expected.
//!
//! The data archive writes every number as a string (`"indices": ["0", "12"]`) while the
//! classic archive and the API write real numbers; one set of wire types reads both.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A non-negative integer written either as a JSON number or as a decimal string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Num(pub u64);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumVisitor;
        impl Visitor<'_> for NumVisitor {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer, as a number or a string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
                Ok(Num(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
                u64::try_from(v)
                    .map(Num)
                    .map_err(|_| E::custom(format!("negative number {v}")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Num, E> {
                v.trim()
                    .parse()
                    .map(Num)
                    .map_err(|_| E::custom(format!("not a number: {v:?}")))
            }
        }
        deserializer.deserialize_any(NumVisitor)
    }
}

impl Num {
    /// The value as an index; saturates on 32-bit targets, where such an index cannot be
    /// valid anyway and is then rejected as out of range.
    pub fn index(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

/// An id written as a string (`"id_str"`) or as a number (old exports' `"id"`).
///
/// Kept as text: ids exceed `f64` precision, and `serde_json` reads integers exactly.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdText(pub String);

impl<'de> Deserialize<'de> for IdText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = IdText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an id, as a string or a number")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IdText, E> {
                Ok(IdText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IdText, E> {
                Ok(IdText(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IdText, E> {
                Ok(IdText(v.trim().to_owned()))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

/// A flag written as `true`/`false` or as `"true"`/`"false"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FlagVisitor;
        impl Visitor<'_> for FlagVisitor {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a boolean, as a literal or a string")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Flag, E> {
                match v.trim() {
                    "true" | "1" => Ok(Flag(true)),
                    "false" | "0" | "" => Ok(Flag(false)),
                    other => Err(E::custom(format!("not a boolean: {other:?}"))),
                }
            }
        }
        deserializer.deserialize_any(FlagVisitor)
    }
}

/// Reads `null` as the type's default, for lists and objects that exports sometimes null out.
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_strings_or_numbers() {
        let v: Vec<Num> = serde_json::from_str(r#"["0", 12, " 7 "]"#).unwrap();
        assert_eq!(v, vec![Num(0), Num(12), Num(7)]);
        assert!(serde_json::from_str::<Num>(r#""x1""#).is_err());
        assert!(serde_json::from_str::<Num>("-3").is_err());
    }

    #[test]
    fn ids_and_flags() {
        let id: IdText = serde_json::from_str("1577730467436138524").unwrap();
        assert_eq!(id.0, "1577730467436138524");
        let flags: Vec<Flag> = serde_json::from_str(r#"[true, "false", "true"]"#).unwrap();
        assert_eq!(flags, vec![Flag(true), Flag(false), Flag(true)]);
    }
}
