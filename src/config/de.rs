//! The merged configuration tree read through serde, so the settings types' derives are the
//! one description of what each table accepts. [`Node`] is a `Deserializer` over the
//! `config` crate's values that
//! - reads a value the environment set (always a string) as the type asks: a number, `true`
//!   or `false`, or a list split at commas; a string in the file stays a string;
//! - reads an enum from a table by its `kind` key, the rest of the table being that variant's
//!   settings (`[sources.NAME] kind = "feed"`), or from a plain name (`visibility = "unlisted"`);
//! - refuses a table's unknown keys before reading any of its values, naming the nearest
//!   accepted key, then reads the values in the order the type declares them;
//! - reads a secret's three keys (`NAME_file`, `NAME_env`, `NAME`) as one field `NAME`, the
//!   [`SecretSource`](super::SecretSource) variant named by the key given, refusing two;
//! - puts the key path (`routes.r.targets[1]`) and the variable that set the value into every
//!   error, and records which keys the environment set, for the checks after reading.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use config::{Value, ValueKind};
use serde::de::{self, DeserializeSeed, IntoDeserializer, Unexpected, Visitor};
use serde::forward_to_deserialize_any;

use super::error::{nearest, unknown_name};
use super::{ConfigError, ENV_PREFIX, ENV_SEPARATOR};

/// The origin the `config` crate gives every value read from the environment; values from
/// the file (read from a string) have none.
const ENV_ORIGIN: &str = "the environment";

/// The key that names a table's variant (`kind = "feed"`).
const TAG: &str = "kind";

/// The forms of a secret `NAME`: the key's suffix and the [`super::SecretSource`] variant
/// it is read as, in the order a conflict between two of them names them.
const SECRET_FORMS: [(&str, &str); 3] = [("_file", "file"), ("_env", "env"), ("", "inline")];

/// The variables that set values, by key, filled in while reading.
pub(super) type FromEnv = RefCell<BTreeMap<String, String>>;

/// One value of the tree, with its key path.
#[derive(Debug)]
pub(super) struct Node<'a> {
    value: Value,
    key: String,
    /// The variable that set the value, when the environment did.
    env: Option<String>,
    /// A named entry of a map (`[sources.NAME]`), which an enum can only be as a table; a
    /// table's key holds an enum as a plain name.
    named: bool,
    /// For one of a secret's keys: the form it names (see [`SECRET_FORMS`]).
    form: Option<&'static str>,
    from_env: &'a FromEnv,
}

impl<'a> Node<'a> {
    /// The whole tree.
    pub(super) fn root(value: Value, from_env: &'a FromEnv) -> Self {
        Self::new(value, String::new(), None, from_env)
    }

    fn new(value: Value, key: String, env: Option<String>, from_env: &'a FromEnv) -> Self {
        let env = env.or_else(|| (value.origin() == Some(ENV_ORIGIN)).then(|| env_var_name(&key)));
        if let Some(var) = &env {
            from_env.borrow_mut().insert(key.clone(), var.clone());
        }
        Self {
            value,
            key,
            env,
            named: false,
            form: None,
            from_env,
        }
    }

    /// Reads this node with `seed`, naming this node's key in an error that names none yet:
    /// the innermost value an error passes is where it happened.
    fn read<'de, T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        let (key, env) = (self.key.clone(), self.env.clone());
        seed.deserialize(self).map_err(|err| err.at(&key, env))
    }

    /// A string the environment set, which may stand for a number, a boolean or a list.
    fn env_text(&self) -> Option<&str> {
        match &self.value.kind {
            ValueKind::String(text) if self.env.is_some() => Some(text.trim()),
            _ => None,
        }
    }

    fn mismatch(&self, expected: &str) -> Error {
        let found = found(unexpected(&self.value.kind));
        Error::invalid(format!("expected {expected}, found {found}"))
    }

    fn unsigned<'de, V: Visitor<'de>>(self, max: u64, visitor: V) -> Result<V::Value, Error> {
        let n = match (&self.value.kind, self.env_text()) {
            (ValueKind::I64(n), _) => u64::try_from(*n).ok(),
            (ValueKind::U64(n), _) => Some(*n),
            (_, Some(text)) => text.parse().ok(),
            _ => None,
        };
        match n {
            Some(n) if n <= max => visitor.visit_u64(n),
            Some(_) => Err(self.mismatch(&format!("a non-negative integer up to {max}"))),
            None => Err(self.mismatch("a non-negative integer")),
        }
    }

    /// A table's entries in name order, so messages are stable. An entry the environment
    /// made next to a table of the same name in other capitals is a failed override (the
    /// `config` crate lower-cases variable names), not a new table.
    fn entries(self, named: bool) -> Result<Vec<(String, Node<'a>)>, Error> {
        let ValueKind::Table(table) = self.value.kind else {
            return Err(self.mismatch("a table"));
        };
        let table: BTreeMap<String, Value> = table.into_iter().collect();
        let clash = table.iter().find_map(|(name, value)| {
            let spelled = table
                .keys()
                .find(|other| *other != name && other.eq_ignore_ascii_case(name))?;
            all_from_env(value).then_some((name, spelled))
        });
        if let Some((name, spelled)) = clash {
            return Err(Error {
                key: Some(join_key(&self.key, name)),
                env: None,
                problem: Problem::Invalid(format!(
                    "environment variables address table names in lower case, so they cannot \
                     override `{spelled}`; rename that table in lower case"
                )),
            });
        }
        let (key, from_env) = (self.key, self.from_env);
        Ok(table
            .into_iter()
            .map(|(name, value)| {
                let node = Node::new(value, join_key(&key, &name), None, from_env);
                (name, Node { named, ..node })
            })
            .collect())
    }
}

impl<'de> de::Deserializer<'de> for Node<'_> {
    type Error = Error;

    /// The settings types say what each value is read as, through the methods below; the
    /// types they do not use (signed integers, characters, bytes...) are refused here.
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let expected = (&visitor as &dyn de::Expected).to_string();
        Err(self.mismatch(&expected))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match (&self.value.kind, self.env_text()) {
            (ValueKind::Boolean(b), _) => visitor.visit_bool(*b),
            (_, Some("true")) => visitor.visit_bool(true),
            (_, Some("false")) => visitor.visit_bool(false),
            _ => Err(self.mismatch("true or false")),
        }
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.unsigned(u32::MAX.into(), visitor)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.unsigned(u64::MAX, visitor)
    }

    /// What a fractional number must be is said by its reader's visitor (a price, a share).
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let expected = (&visitor as &dyn de::Expected).to_string();
        match (&self.value.kind, self.env_text().map(str::parse)) {
            (ValueKind::Float(n), _) => visitor.visit_f64(*n),
            (ValueKind::I64(n), _) => visitor.visit_i64(*n),
            // A refusal names what the variable says, not the number read from it.
            (_, Some(Ok(n))) => visitor
                .visit_f64::<Error>(n)
                .map_err(|_| self.mismatch(&expected)),
            _ => Err(self.mismatch(&expected)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value.kind {
            ValueKind::String(text) => visitor.visit_string(text),
            _ => Err(self.mismatch("a string")),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let values = match self.value.kind {
            ValueKind::Array(values) => values,
            ValueKind::String(ref text) if self.env.is_some() => text
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| Value::new(None, item))
                .collect(),
            ref other => {
                let found = found(unexpected(other));
                let items = match visitor.visit_seq(Probe) {
                    Err(Error {
                        problem: Problem::Items(items),
                        ..
                    }) => items,
                    _ => "values",
                };
                return Err(Error::invalid(format!(
                    "expected a list of {items}, found {found}"
                )));
            }
        };
        let items: Vec<Node<'_>> = values
            .into_iter()
            .enumerate()
            .map(|(index, value)| {
                let key = format!("{}[{index}]", self.key);
                Node::new(value, key, self.env.clone(), self.from_env)
            })
            .collect();
        visitor.visit_seq(Items(items.into_iter()))
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_map(Entries {
            entries: self.entries(true)?.into_iter(),
            next: None,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let mut entries = self.entries(false)?;
        if let Some((name, node)) = entries.iter().find(|(name, _)| !fields.contains(&&**name)) {
            return Err(Error {
                key: Some(node.key.clone()),
                env: node.env.clone(),
                problem: Problem::Unknown(nearest(name, fields.iter().copied())),
            });
        }
        let secrets = secrets(fields);
        for secret in &secrets {
            gather_secret(secret, &mut entries)?;
        }
        entries.sort_by_key(|(name, _)| fields.iter().position(|field| field == name));
        visitor
            .visit_map(Entries {
                entries: entries.into_iter(),
                next: None,
            })
            .map_err(|err| err.or_missing_secret(&secrets))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        if let Some(form) = self.form {
            let tag = Node::new(
                Value::new(None, form),
                self.key.clone(),
                None,
                self.from_env,
            );
            let settings = Node { form: None, ..self };
            return visitor.visit_enum(Tagged {
                tag,
                settings: Ok(settings),
            });
        }
        match self.value.kind {
            ValueKind::String(ref text) if !self.named => {
                let found = format!("string {text:?}");
                visitor.visit_enum(Tagged {
                    tag: self,
                    settings: Err(found),
                })
            }
            ValueKind::Table(mut table) => {
                let Some(tag) = table.remove(TAG) else {
                    return Err(Error::new(Problem::Missing(TAG)));
                };
                let table_key = self.key.clone();
                let tag = Node::new(tag, join_key(&table_key, TAG), None, self.from_env);
                let settings = Node {
                    value: Value::new(None, ValueKind::Table(table)),
                    ..self
                };
                visitor
                    .visit_enum(Tagged {
                        tag,
                        settings: Ok(settings),
                    })
                    .map_err(|err| err.or_tag_hint(&table_key))
            }
            _ if self.named => Err(self.mismatch("a table")),
            _ => Err(self.mismatch("a string")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u128 f32 char bytes byte_buf unit unit_struct tuple tuple_struct
    }
}

/// The secrets among a table's `fields`: each `NAME` that has its `NAME_file` and `NAME_env`
/// next to it (written as the aliases of one field).
fn secrets(fields: &'static [&'static str]) -> Vec<&'static str> {
    let has = |name: String| fields.contains(&name.as_str());
    fields
        .iter()
        .copied()
        .filter(|name| {
            SECRET_FORMS
                .iter()
                .all(|(suffix, _)| has(format!("{name}{suffix}")))
        })
        .collect()
}

/// Makes the one key given for `secret` the entry `secret`, marked with its form; two given
/// are a conflict.
fn gather_secret(secret: &str, entries: &mut [(String, Node<'_>)]) -> Result<(), Error> {
    let mut given: Vec<(usize, &mut (String, Node<'_>))> = entries
        .iter_mut()
        .filter_map(|entry| {
            let suffix = entry.0.strip_prefix(secret)?;
            let order = SECRET_FORMS.iter().position(|(s, _)| *s == suffix)?;
            Some((order, entry))
        })
        .collect();
    given.sort_by_key(|(order, _)| *order);
    match &mut given[..] {
        [] => Ok(()),
        [(order, (name, node))] => {
            secret.clone_into(name);
            node.form = Some(SECRET_FORMS[*order].1);
            Ok(())
        }
        [(_, (_, first)), (_, (_, second)), ..] => Err(Error {
            key: Some(first.key.clone()),
            env: None,
            problem: Problem::Conflict(second.key.clone()),
        }),
    }
}

/// The items of a list.
struct Items<'a>(std::vec::IntoIter<Node<'a>>);

impl<'de> de::SeqAccess<'de> for Items<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0.next().map(|node| node.read(seed)).transpose()
    }
}

/// The entries of a table, and the value whose key was read last.
struct Entries<'a> {
    entries: std::vec::IntoIter<(String, Node<'a>)>,
    next: Option<Node<'a>>,
}

impl<'de> de::MapAccess<'de> for Entries<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((name, node)) = self.entries.next() else {
            return Ok(None);
        };
        let (key, env) = (node.key.clone(), node.env.clone());
        self.next = Some(node);
        seed.deserialize(name.into_deserializer())
            .map(Some)
            .map_err(|err: Error| err.at(&key, env))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.next.take() {
            Some(node) => node.read(seed),
            None => Err(Error::invalid("a value was read before its key".to_owned())),
        }
    }
}

/// An enum's name (its `kind`, or the plain name) and, from a table, that variant's
/// settings; else what stood there, for the message.
struct Tagged<'a> {
    tag: Node<'a>,
    settings: Result<Node<'a>, String>,
}

impl<'de, 'a> de::EnumAccess<'de> for Tagged<'a> {
    type Error = Error;
    type Variant = Settings<'a>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Settings<'a>), Error> {
        Ok((self.tag.read(seed)?, Settings(self.settings)))
    }
}

/// A variant's settings: the rest of its table.
struct Settings<'a>(Result<Node<'a>, String>);

impl<'de> de::VariantAccess<'de> for Settings<'_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.0 {
            Ok(_) => Err(Error::invalid("expected a name, found a table".to_owned())),
            Err(_) => Ok(()),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        match self.0 {
            Ok(node) => seed.deserialize(node),
            Err(found) => Err(Error::invalid(format!("expected a table, found {found}"))),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, Error> {
        Err(Error::invalid("tuple variants are not read".to_owned()))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Error> {
        Err(Error::invalid(
            "struct variants are not read: hold a struct instead".to_owned(),
        ))
    }
}

/// Stands for the first item of a "list" that is not one, to learn what the items are read
/// as, for "expected a list of strings".
struct Probe;

impl<'de> de::SeqAccess<'de> for Probe {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        seed.deserialize(Probe).map(Some)
    }
}

impl<'de> de::Deserializer<'de> for Probe {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(Error::new(Problem::Items("values")))
    }

    fn deserialize_string<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(Error::new(Problem::Items("strings")))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Error> {
        Err(Error::new(Problem::Items("tables")))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// An error met while reading; its key is filled in on the way up (see [`Node::read`]).
#[derive(Debug, Clone)]
pub(super) struct Error {
    key: Option<String>,
    env: Option<String>,
    problem: Problem,
}

#[derive(Debug, Clone)]
enum Problem {
    /// The key is not one the table accepts; the nearest that is.
    Unknown(Option<&'static str>),
    /// The table lacks this key.
    Missing(&'static str),
    /// The table lacks every form of this secret.
    MissingSecret(&'static str),
    /// Another key that excludes this one is set too.
    Conflict(String),
    /// The name is not one of these (a kind, a visibility...).
    Name(String, &'static [&'static str]),
    /// What a list's items are read as (see [`Probe`]).
    Items(&'static str),
    Invalid(String),
}

impl Error {
    fn new(problem: Problem) -> Self {
        Self {
            key: None,
            env: None,
            problem,
        }
    }

    fn invalid(problem: String) -> Self {
        Self::new(Problem::Invalid(problem))
    }

    /// The tag as the hint for an unknown key of the variant's table (`kind2`) that has none.
    fn or_tag_hint(mut self, table: &str) -> Self {
        if let (Problem::Unknown(hint @ None), Some(key)) = (&mut self.problem, &self.key) {
            if let Some((parent, name)) = key.rsplit_once('.') {
                *hint = nearest(name, [TAG]).filter(|_| parent == table);
            }
        }
        self
    }

    /// A missing field that is a secret, as the missing secret.
    fn or_missing_secret(mut self, secrets: &[&str]) -> Self {
        if let (Problem::Missing(name), None) = (&self.problem, &self.key) {
            if secrets.contains(name) {
                self.problem = Problem::MissingSecret(name);
            }
        }
        self
    }

    /// Places an error that has no key yet at `key`, or at its missing key inside that table.
    fn at(mut self, key: &str, env: Option<String>) -> Self {
        if self.key.is_none() {
            if let Problem::Missing(name) | Problem::MissingSecret(name) = self.problem {
                self.key = Some(join_key(key, name));
            } else {
                self.key = Some(key.to_owned());
                self.env = env;
            }
        }
        self
    }

    /// The error for the operator, naming `file`.
    pub(super) fn into_config(self, file: &Path) -> ConfigError {
        let (file, key, env) = (file.to_path_buf(), self.key.unwrap_or_default(), self.env);
        let problem = match self.problem {
            Problem::Unknown(hint) => {
                let hint = hint.map(str::to_owned);
                return ConfigError::UnknownKey {
                    file,
                    key,
                    env,
                    hint,
                };
            }
            Problem::Missing(_) => {
                let alternatives = Vec::new();
                return ConfigError::MissingKey {
                    file,
                    key,
                    alternatives,
                };
            }
            Problem::MissingSecret(_) => return ConfigError::missing_secret(file, key),
            Problem::Conflict(other) => return ConfigError::Conflict { file, key, other },
            Problem::Name(name, expected) => {
                unknown_name(key.rsplit('.').next().unwrap_or(TAG), &name, expected)
            }
            Problem::Items(items) => format!("expected a list of {items}"),
            Problem::Invalid(problem) => problem,
        };
        ConfigError::Invalid {
            file,
            key,
            env,
            problem,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.clone().into_config(Path::new("bridge.toml")).fmt(f)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::invalid(msg.to_string())
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Self::invalid(format!("expected {exp}, found {}", found(unexp)))
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Self::invalid_type(unexp, exp)
    }

    fn missing_field(field: &'static str) -> Self {
        Self::new(Problem::Missing(field))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Self::new(Problem::Name(variant.to_owned(), expected))
    }
}

fn unexpected(kind: &ValueKind) -> Unexpected<'_> {
    match kind {
        ValueKind::Nil => Unexpected::Unit,
        ValueKind::Boolean(b) => Unexpected::Bool(*b),
        ValueKind::I64(n) => Unexpected::Signed(*n),
        ValueKind::U64(n) => Unexpected::Unsigned(*n),
        ValueKind::I128(_) | ValueKind::U128(_) => Unexpected::Other("a large integer"),
        ValueKind::Float(n) => Unexpected::Float(*n),
        ValueKind::String(text) => Unexpected::Str(text),
        ValueKind::Table(_) => Unexpected::Map,
        ValueKind::Array(_) => Unexpected::Seq,
    }
}

/// What stood where something else was expected: "integer `5`", "string \"x\"".
fn found(unexp: Unexpected<'_>) -> String {
    match unexp {
        Unexpected::Bool(b) => format!("boolean `{b}`"),
        Unexpected::Signed(n) => format!("integer `{n}`"),
        Unexpected::Unsigned(n) => format!("integer `{n}`"),
        Unexpected::Float(n) => format!("float `{n}`"),
        Unexpected::Str(text) => format!("string {text:?}"),
        Unexpected::Map => "a table".to_owned(),
        Unexpected::Seq => "a list".to_owned(),
        Unexpected::Unit => "nothing".to_owned(),
        other => other.to_string(),
    }
}

fn all_from_env(value: &Value) -> bool {
    match &value.kind {
        ValueKind::Table(entries) => !entries.is_empty() && entries.values().all(all_from_env),
        _ => value.origin() == Some(ENV_ORIGIN),
    }
}

/// `targets.wikis-world.url` -> `BIRDBRIDGE__TARGETS__WIKIS-WORLD__URL`.
fn env_var_name(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{ENV_SEPARATOR}{}",
        key.replace('.', ENV_SEPARATOR).to_ascii_uppercase()
    )
}

/// Appends `name` to a key path, quoting it as TOML would when it is not a bare key.
pub(super) fn join_key(parent: &str, name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let segment = if bare {
        name.to_owned()
    } else {
        format!("{name:?}")
    };
    if parent.is_empty() {
        segment
    } else {
        format!("{parent}.{segment}")
    }
}
