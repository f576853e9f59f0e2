//! Where a value sits in a RON config, by RON's own parser: the text is deserialized again with
//! a visitor that follows a path (`cameras[2].name`) and stops with an error at the value; the
//! error's span is the position. No text search, so a field name in a comment or another camera
//! cannot mislead it.

/// One step of the path to a value in the config: a field or a list position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathSeg {
    Key(&'static str),
    Index(usize),
}

/// 1-based line and column of the value at `path` in `text`, as RON's parser sees it: the
/// text is deserialized again with a visitor that follows the path and stops with an error
/// at the value, and the error's span is the answer. A value the text does not contain
/// (a default) is located at the nearest enclosing one that it does.
pub(super) fn locate(text: &str, path: &[PathSeg]) -> Option<(usize, usize)> {
    (0..=path.len()).rev().find_map(|len| {
        let mut de = ron::Deserializer::from_str(text).ok()?;
        let err = serde::de::DeserializeSeed::deserialize(locator::Locate(&path[..len]), &mut de)
            .err()?;
        let spanned = de.span_error(err);
        let (line, col) = (spanned.span.start.line, spanned.span.start.col);
        // RON's span of a string starts inside its opening quote: point at the quote.
        let quoted = text
            .lines()
            .nth(line.checked_sub(1)?)
            .and_then(|l| l.chars().nth(col.checked_sub(2)?))
            == Some('"');
        (spanned.code.to_string().contains(locator::FOUND))
            .then_some((line, if quoted { col - 1 } else { col }))
    })
}

/// The path-following visitor behind [`locate`].
mod locator {
    use std::fmt;

    use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess};

    use super::PathSeg;

    /// The error text that means "the value is here" (no config can contain a NUL).
    pub const FOUND: &str = "\u{0}found";

    pub struct Locate<'p>(pub &'p [PathSeg]);

    fn found<E: de::Error>() -> E {
        E::custom(FOUND)
    }

    impl<'de> DeserializeSeed<'de> for Locate<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> de::Visitor<'de> for Locate<'_> {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any value")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let Some((first, rest)) = self.0.split_first() else {
                return Err(found());
            };
            while let Some(key) = map.next_key::<String>()? {
                match first {
                    PathSeg::Key(want) if *want == key => map.next_value_seed(Locate(rest))?,
                    _ => map.next_value::<IgnoredAny>().map(drop)?,
                }
            }
            Ok(())
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let Some((first, rest)) = self.0.split_first() else {
                return Err(found());
            };
            let mut i = 0;
            loop {
                let more = match first {
                    PathSeg::Index(want) if *want == i => {
                        seq.next_element_seed(Locate(rest))?.is_some()
                    }
                    _ => seq.next_element::<IgnoredAny>()?.is_some(),
                };
                if !more {
                    return Ok(());
                }
                i += 1;
            }
        }

        // `Some(x)` is looked through: the value is `x`.
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }

        fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }

        fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
            Err(found())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
            Err(found())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
            Err(found())
        }
        fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
            Err(found())
        }
        fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
            Err(found())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
            Err(found())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
            Err(found())
        }
        fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<(), E> {
            Err(found())
        }
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            Err(found())
        }
        fn visit_none<E: de::Error>(self) -> Result<(), E> {
            Err(found())
        }
        fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<(), A::Error> {
            Err(found())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_is_located_at_its_enclosing_value() {
        assert_eq!(
            locate(
                "(\n  servers: (),\n)",
                &[PathSeg::Key("servers"), PathSeg::Key("bind")]
            ),
            Some((2, 12))
        );
        assert_eq!(locate("()", &[PathSeg::Key("grace_secs")]), Some((1, 1)));
    }
}
