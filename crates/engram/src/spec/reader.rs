//! A reader over a spanned TOML document that knows the path of every field, so that any
//! problem is reported with the file, line, column and dotted field name.
//!
//! serde-derived deserialisation loses spans inside model-dependent tables and cannot name
//! the field of a semantic error (a negative delay, an unknown population), hence this thin
//! layer over `toml::de::DeTable`.

use std::cell::RefCell;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::error::{EngramError, Location, Result};
use crate::units::{self, Dim};

/// The text of a model file and its path, for turning byte offsets into lines.
pub struct Source<'a> {
    pub file: &'a Path,
    pub text: &'a str,
}

impl Source<'_> {
    pub fn location(&self, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Location { file: self.file.to_path_buf(), line, column }
    }

    pub fn error(&self, span: Range<usize>, field: &str, message: impl Into<String>) -> EngramError {
        EngramError::Spec { location: self.location(span.start), field: field.to_string(), message: message.into() }
    }
}

/// A numeric value as written: a quantity string, or a number.
pub type Value<'i> = Spanned<DeValue<'i>>;

/// Reads one TOML table; `finish` rejects the keys nobody asked for.
pub struct TableReader<'s, 'i> {
    pub src: &'s Source<'s>,
    table: &'s DeTable<'i>,
    span: Range<usize>,
    path: String,
    asked: RefCell<Vec<String>>,
}

impl<'s, 'i> TableReader<'s, 'i> {
    pub fn new(src: &'s Source<'s>, table: &'s DeTable<'i>, span: Range<usize>, path: String) -> Self {
        TableReader { src, table, span, path, asked: RefCell::new(Vec::new()) }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn field_path(&self, key: &str) -> String {
        if self.path.is_empty() { key.to_string() } else { format!("{}.{}", self.path, key) }
    }

    pub fn table_error(&self, message: impl Into<String>) -> EngramError {
        self.src.error(self.span.clone(), &self.path, message)
    }

    pub fn error_at(&self, key: &str, span: Range<usize>, message: impl Into<String>) -> EngramError {
        self.src.error(span, &self.field_path(key), message)
    }

    pub fn get(&self, key: &str) -> Option<&'s Value<'i>> {
        self.asked.borrow_mut().push(key.to_string());
        self.table.get(key)
    }

    fn missing(&self, key: &str) -> EngramError {
        self.table_error(format!("missing required field `{key}`"))
    }

    /// All keys of the table, in file order.
    pub fn keys(&self) -> Vec<String> {
        self.table.iter().map(|(k, _)| k.get_ref().to_string()).collect()
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<(&'s str, Range<usize>)>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.get_ref().as_str() {
                Some(s) => Ok(Some((s, v.span()))),
                None => Err(self.error_at(key, v.span(), format!("expected a string, got a {}", v.get_ref().type_str()))),
            },
        }
    }

    pub fn req_str(&self, key: &str) -> Result<(&'s str, Range<usize>)> {
        self.opt_str(key)?.ok_or_else(|| self.missing(key))
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .get_ref()
                .as_bool()
                .map(Some)
                .ok_or_else(|| self.error_at(key, v.span(), "expected true or false")),
        }
    }

    /// A non-negative integer.
    pub fn opt_uint(&self, key: &str) -> Result<Option<u64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => value_uint(v).map(Some).ok_or_else(|| {
                self.error_at(key, v.span(), "expected a non-negative integer")
            }),
        }
    }

    pub fn req_uint(&self, key: &str) -> Result<u64> {
        self.opt_uint(key)?.ok_or_else(|| self.missing(key))
    }

    /// A quantity of the given dimension, converted to internal units.
    pub fn opt_quantity(&self, key: &str, dim: Dim) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => self.quantity_value(key, v, dim).map(Some),
        }
    }

    pub fn req_quantity(&self, key: &str, dim: Dim) -> Result<f64> {
        self.opt_quantity(key, dim)?.ok_or_else(|| self.missing(key))
    }

    pub fn quantity_or(&self, key: &str, dim: Dim, default: f64) -> Result<f64> {
        Ok(self.opt_quantity(key, dim)?.unwrap_or(default))
    }

    pub fn quantity_value(&self, key: &str, v: &Value<'i>, dim: Dim) -> Result<f64> {
        let parsed = match v.get_ref() {
            DeValue::String(s) => units::parse_expecting(s, dim),
            DeValue::Integer(_) | DeValue::Float(_) => {
                let x = value_f64(v).expect("numeric");
                if dim == Dim::DIMENSIONLESS {
                    Ok(x)
                } else {
                    Err(units::UnitError(format!(
                        "expected {}, got the bare number {x}: write the unit",
                        dim.describe()
                    )))
                }
            }
            other => Err(units::UnitError(format!("expected {}, got a {}", dim.describe(), other.type_str()))),
        };
        let x = parsed.map_err(|e| self.error_at(key, v.span(), e.0))?;
        if !x.is_finite() {
            return Err(self.error_at(key, v.span(), "value is not finite"));
        }
        Ok(x)
    }

    pub fn opt_table(&self, key: &str) -> Result<Option<TableReader<'s, 'i>>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.get_ref().as_table() {
                Some(t) => Ok(Some(TableReader::new(self.src, t, v.span(), self.field_path(key)))),
                None => Err(self.error_at(key, v.span(), "expected a table")),
            },
        }
    }

    pub fn opt_array(&self, key: &str) -> Result<Option<(&'s [Value<'i>], Range<usize>)>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.get_ref().as_array() {
                Some(a) => Ok(Some((a, v.span()))),
                None => Err(self.error_at(key, v.span(), "expected an array")),
            },
        }
    }

    /// `[[key]]` entries (or an inline array of tables).
    pub fn tables(&self, key: &str) -> Result<Vec<TableReader<'s, 'i>>> {
        let Some((items, _)) = self.opt_array(key)? else { return Ok(Vec::new()) };
        items
            .iter()
            .enumerate()
            .map(|(i, v)| match v.get_ref().as_table() {
                Some(t) => Ok(TableReader::new(self.src, t, v.span(), format!("{}[{i}]", self.field_path(key)))),
                None => Err(self.error_at(key, v.span(), "expected a table")),
            })
            .collect()
    }

    /// An array of strings.
    pub fn opt_str_list(&self, key: &str) -> Result<Option<Vec<(String, Range<usize>)>>> {
        let Some((items, _)) = self.opt_array(key)? else { return Ok(None) };
        items
            .iter()
            .map(|v| match v.get_ref().as_str() {
                Some(s) => Ok((s.to_string(), v.span())),
                None => Err(self.error_at(key, v.span(), "expected an array of strings")),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// An array of non-negative integers.
    pub fn opt_uint_list(&self, key: &str) -> Result<Option<Vec<u64>>> {
        let Some((items, _)) = self.opt_array(key)? else { return Ok(None) };
        items
            .iter()
            .map(|v| value_uint(v).ok_or_else(|| self.error_at(key, v.span(), "expected an array of non-negative integers")))
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// Rejects keys that no reader asked for.
    pub fn finish(self) -> Result<()> {
        let asked = self.asked.borrow();
        for (key, _) in self.table.iter() {
            if !asked.iter().any(|a| a == key.get_ref().as_ref()) {
                let mut known: Vec<&str> = asked.iter().map(String::as_str).collect();
                known.sort_unstable();
                known.dedup();
                return Err(self.error_at(
                    key.get_ref(),
                    key.span(),
                    format!("unknown field `{}` (expected one of: {})", key.get_ref(), known.join(", ")),
                ));
            }
        }
        Ok(())
    }
}

fn value_uint(v: &Value<'_>) -> Option<u64> {
    let int = v.get_ref().as_integer()?;
    let digits = int.as_str().replace('_', "");
    let digits = digits.trim_start_matches('+');
    let digits = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0o")).or_else(|| digits.strip_prefix("0b")).unwrap_or(digits);
    u64::from_str_radix(digits, int.radix()).ok()
}

pub fn value_f64(v: &Value<'_>) -> Option<f64> {
    match v.get_ref() {
        DeValue::Integer(i) => i.as_str().replace('_', "").parse::<i64>().ok().map(|x| x as f64),
        DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
        _ => None,
    }
}
