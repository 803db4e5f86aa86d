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

/// A string and where it was written.
pub type SpannedName = (String, Range<usize>);

/// A numeric value as written: a quantity string, or a number.
pub type Value<'i> = Spanned<DeValue<'i>>;

/// Reads one TOML table; `finish` rejects the keys nobody asked for.
pub struct TableReader<'s, 'i> {
    pub src: &'s Source<'s>,
    table: &'s DeTable<'i>,
    span: Range<usize>,
    path: String,
    asked: RefCell<Vec<String>>,
    /// When set, a missing required field is recorded instead of failing (see `deferring_missing`).
    deferred: Option<RefCell<Vec<String>>>,
}

impl<'s, 'i> TableReader<'s, 'i> {
    pub fn new(src: &'s Source<'s>, table: &'s DeTable<'i>, span: Range<usize>, path: String) -> Self {
        TableReader { src, table, span, path, asked: RefCell::new(Vec::new()), deferred: None }
    }

    /// A reader whose required quantities, when absent, read as a placeholder (1.0) and are
    /// reported later by `finish`, after unknown keys. Used for the model-dependent `params`
    /// table, whose reader would otherwise stop at the first missing field before it has asked
    /// for the others, so that a misspelt required field (`tau_mm`) is reported as the unknown
    /// field it is rather than as a missing `tau_m`.
    pub fn deferring_missing(mut self) -> Self {
        self.deferred = Some(RefCell::new(Vec::new()));
        self
    }

    /// Rejects keys outside `known` now, before any field is read, so that a misspelt field is
    /// reported as such rather than as the required field it was meant to be. `finish` still
    /// rejects keys that are known to the table but not used by its variant (e.g. `k` with
    /// `rule = "fixed_probability"`).
    pub fn audit(&self, known: &[&str]) -> Result<()> {
        for (key, _) in self.table.iter() {
            let k = key.get_ref().as_ref();
            if !known.contains(&k) {
                return Err(self.unknown_field(k, key.span(), known.iter().copied()));
            }
        }
        Ok(())
    }

    fn unknown_field<'k>(&self, key: &str, span: Range<usize>, known: impl Iterator<Item = &'k str>) -> EngramError {
        let mut known: Vec<&str> = known.collect();
        known.sort_unstable();
        known.dedup();
        let hint = match closest(key, &known) {
            Some(k) => format!(" (did you mean `{k}`?)"),
            None => String::new(),
        };
        let expected = if known.is_empty() { "this table takes no fields".to_string() } else { format!("expected one of: {}", known.join(", ")) };
        self.error_at(key, span, format!("unknown field `{key}`{hint}; {expected}"))
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

    /// An error about field `key`, located at its value (at the table when it is absent).
    pub fn field_error(&self, key: &str, message: impl Into<String>) -> EngramError {
        let span = self.table.get(key).map_or_else(|| self.span.clone(), |v| v.span());
        self.src.error(span, &self.field_path(key), message)
    }

    pub fn get(&self, key: &str) -> Option<&'s Value<'i>> {
        self.asked.borrow_mut().push(key.to_string());
        self.table.get(key)
    }

    /// The error for a required field that is absent: located at the table, naming the field.
    pub fn missing(&self, key: &str) -> EngramError {
        let what = if self.path.is_empty() { "table" } else { "field" };
        let shown = if self.path.is_empty() { format!("[{key}]") } else { key.to_string() };
        self.src.error(self.span.clone(), &self.field_path(key), format!("missing required {what} `{shown}`"))
    }

    /// `Err(missing)`, or in deferring mode the placeholder, with the key recorded.
    fn absent<T>(&self, key: &str, placeholder: T) -> Result<T> {
        match &self.deferred {
            Some(list) => {
                list.borrow_mut().push(key.to_string());
                Ok(placeholder)
            }
            None => Err(self.missing(key)),
        }
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
        match self.opt_quantity(key, dim)? {
            Some(x) => Ok(x),
            None => self.absent(key, 1.0),
        }
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
    pub fn opt_str_list(&self, key: &str) -> Result<Option<Vec<SpannedName>>> {
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

    /// Rejects keys that no reader asked for, then (in deferring mode) reports the first
    /// required field that was absent.
    pub fn finish(self) -> Result<()> {
        let asked = self.asked.borrow();
        for (key, _) in self.table.iter() {
            if !asked.iter().any(|a| a == key.get_ref().as_ref()) {
                return Err(self.unknown_field(key.get_ref(), key.span(), asked.iter().map(String::as_str)));
            }
        }
        if let Some(first) = self.deferred.as_ref().and_then(|d| d.borrow().first().cloned()) {
            return Err(self.missing(&first));
        }
        Ok(())
    }
}

/// The known name closest to `key` by edit distance, if it is plausibly a misspelling.
fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let limit = if key.chars().count() <= 3 { 1 } else { 2 };
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

/// Levenshtein distance, with an adjacent transposition counted as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// Best-effort dotted path of the field at byte `offset` of a TOML text that failed to parse:
/// the enclosing `[table]` / `[[array]]` header (arrays indexed by count) and the key on the
/// offending line. Empty when nothing can be said.
pub fn field_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let mut counts: Vec<(String, usize)> = Vec::new();
    let mut path = String::new();
    let index_path = |name: &str, counts: &[(String, usize)]| -> String {
        // Insert the index of the latest element after each prefix that names an array.
        let mut out = String::new();
        let mut prefix = String::new();
        for part in name.split('.').map(|p| p.trim().trim_matches('"')) {
            if !prefix.is_empty() {
                prefix.push('.');
                out.push('.');
            }
            prefix.push_str(part);
            out.push_str(part);
            if let Some((_, n)) = counts.iter().find(|(k, _)| *k == prefix) {
                out.push_str(&format!("[{}]", n.saturating_sub(1)));
            }
        }
        out
    };
    for line in text[..line_start].lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("[[") {
            let Some(end) = rest.find("]]") else { continue };
            let name = rest[..end].trim().to_string();
            let normalized: String = name.split('.').map(|p| p.trim().trim_matches('"')).collect::<Vec<_>>().join(".");
            match counts.iter_mut().find(|(k, _)| *k == normalized) {
                Some((_, n)) => *n += 1,
                None => counts.push((normalized, 1)),
            }
            path = index_path(&name, &counts);
        } else if let Some(rest) = t.strip_prefix('[') {
            let Some(end) = rest.find(']') else { continue };
            path = index_path(&rest[..end], &counts);
        }
    }
    let line = text[line_start..line_end].trim();
    if let Some(header) = line.strip_prefix('[') {
        // A broken header: name the table it tried to open.
        let name = header.trim_start_matches('[').split(']').next().unwrap_or("").trim();
        if !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.') {
            return index_path(name, &counts);
        }
    }
    let key = if line.starts_with('[') || line.starts_with('#') {
        None
    } else {
        line.split_once('=').map(|(k, _)| k.trim()).filter(|k| {
            !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.' || c == '"' || c == ' ')
        })
    };
    match key {
        Some(k) => {
            let k: String = k.split('.').map(|p| p.trim().trim_matches('"')).collect::<Vec<_>>().join(".");
            if path.is_empty() { k } else { format!("{path}.{k}") }
        }
        None => path,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of_line(text: &str, line: usize) -> String {
        let offset: usize = text.split_inclusive('\n').take(line - 1).map(str::len).sum();
        field_at(text, offset + 2)
    }

    #[test]
    fn syntax_error_fields_follow_tables_and_arrays() {
        let text = "[run]\ndt = x\n[[populations]]\nname = \"a\"\n[[populations]]\nsize = = 3\n[populations.params]\nc_m = 1 pF\n[monitors]\n[[monitors.state]]\nevery = ?\n";
        assert_eq!(field_of_line(text, 2), "run.dt");
        assert_eq!(field_of_line(text, 4), "populations[0].name");
        assert_eq!(field_of_line(text, 6), "populations[1].size");
        assert_eq!(field_of_line(text, 8), "populations[1].params.c_m");
        assert_eq!(field_of_line(text, 11), "monitors.state[0].every");
        assert_eq!(field_of_line("[[projections]\n", 1), "projections");
        assert_eq!(field_of_line("= 3\n", 1), "");
    }

    #[test]
    fn misspellings_are_matched_to_known_names() {
        assert_eq!(closest("tau_mm", &["c_m", "tau_m", "tau_w"]), Some("tau_m"));
        assert_eq!(closest("wieght", &["weight", "delay"]), Some("weight"));
        assert_eq!(closest("gain", &["c_m", "tau_m"]), None);
        assert_eq!(closest("x", &["a", "bb"]), Some("a"));
        assert_eq!(edit_distance("pre", "post"), 3);
    }
}
