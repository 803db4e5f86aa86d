//! Reading the input of the online HTM pipeline: a CSV file with a header row, one record
//! per row, a numeric value column and an optional timestamp column
//! (`YYYY-MM-DD HH:MM:SS`, strictly increasing), e.g. Numenta's `nyc_taxi.csv`
//! (`timestamp,value`).
//!
//! A bad row (wrong number of fields, a value that is not a finite number, a timestamp that
//! does not parse or does not come after the previous one) is an error naming the file,
//! the line and the column, unless the caller asks to skip such rows: they are then left
//! out, and every skipped line is reported with its reason. Nothing is dropped silently.

use std::path::{Path, PathBuf};

use super::encoders::DateTime;

/// One record of the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Line of the file (1 is the header).
    pub line: u64,
    pub timestamp: Option<DateTime>,
    pub value: f64,
}

/// What to do with a bad row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BadRows {
    Error,
    Skip,
}

/// Which columns to read, and how strictly.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    pub path: PathBuf,
    pub value_column: String,
    pub timestamp_column: Option<String>,
    pub bad_rows: BadRows,
}

/// The records read, and the lines skipped (line, reason) under [`BadRows::Skip`].
#[derive(Debug, Clone)]
pub struct Stream {
    pub records: Vec<Record>,
    pub skipped: Vec<(u64, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: no column `{column}` in the header (columns: {available})", path.display())]
    MissingColumn { path: PathBuf, column: String, available: String },
    #[error("{}:{line}: {message}", path.display())]
    BadRow { path: PathBuf, line: u64, message: String },
    #[error("{}: no records", path.display())]
    Empty { path: PathBuf },
}

/// Reads the stream described by `spec`.
pub fn read(spec: &StreamSpec) -> Result<Stream, StreamError> {
    let path = spec.path.as_path();
    let file = std::fs::File::open(path).map_err(|source| StreamError::Io { path: path.into(), source })?;
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(file);
    let header = reader.headers().map_err(|e| csv_error(path, e))?.clone();
    let column = |name: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| StreamError::MissingColumn {
            path: path.into(),
            column: name.into(),
            available: header.iter().collect::<Vec<_>>().join(", "),
        })
    };
    let value_at = column(&spec.value_column)?;
    let time_at = spec.timestamp_column.as_deref().map(column).transpose()?;
    let mut stream = Stream { records: Vec::new(), skipped: Vec::new() };
    let mut previous: Option<DateTime> = None;
    for row in reader.records() {
        let row = row.map_err(|e| csv_error(path, e))?;
        let line = row.position().map_or(0, |p| p.line());
        match parse_row(&row, header.len(), value_at, time_at, &spec.value_column, previous) {
            Ok(record) => {
                previous = record.timestamp.or(previous);
                stream.records.push(Record { line, ..record });
            }
            Err(message) => match spec.bad_rows {
                BadRows::Error => return Err(StreamError::BadRow { path: path.into(), line, message }),
                BadRows::Skip => stream.skipped.push((line, message)),
            },
        }
    }
    if stream.records.is_empty() {
        return Err(StreamError::Empty { path: path.into() });
    }
    Ok(stream)
}

fn parse_row(
    row: &csv::StringRecord,
    fields: usize,
    value_at: usize,
    time_at: Option<usize>,
    value_name: &str,
    previous: Option<DateTime>,
) -> Result<Record, String> {
    if row.len() != fields {
        return Err(format!("{} fields where the header has {fields}", row.len()));
    }
    let text = &row[value_at];
    let value: f64 = text.parse().map_err(|_| format!("column `{value_name}`: `{text}` is not a number"))?;
    if !value.is_finite() {
        return Err(format!("column `{value_name}`: `{text}` is not a finite number"));
    }
    let timestamp = match time_at {
        None => None,
        Some(at) => {
            let t = DateTime::parse(&row[at]).map_err(|e| e.to_string())?;
            if let Some(p) = previous
                && t.unix_seconds() <= p.unix_seconds()
            {
                return Err(format!("timestamp `{}` does not come after the previous record's", &row[at]));
            }
            Some(t)
        }
    };
    Ok(Record { line: 0, timestamp, value })
}

fn csv_error(path: &Path, e: csv::Error) -> StreamError {
    let line = e.position().map_or(0, |p| p.line());
    StreamError::BadRow { path: path.into(), line, message: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(text: &str, bad_rows: BadRows) -> Result<Stream, StreamError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("data.csv");
        std::fs::write(&path, text).expect("write csv");
        read(&StreamSpec { path, value_column: "value".into(), timestamp_column: Some("timestamp".into()), bad_rows })
    }

    const GOOD: &str = "timestamp,value\n2014-07-01 00:00:00,10844\n2014-07-01 00:30:00,8127\n";

    #[test]
    fn reads_values_timestamps_and_lines() {
        let s = read_text(GOOD, BadRows::Error).expect("reads");
        assert_eq!(s.records.len(), 2);
        assert_eq!((s.records[1].line, s.records[1].value), (3, 8127.0));
        assert_eq!(s.records[1].timestamp.expect("timestamp").minute(), 30);
        assert!(s.skipped.is_empty());
    }

    #[test]
    fn bad_rows_name_the_line_or_are_skipped_and_counted() {
        let cases = [
            ("2014-07-01 01:00:00,abc\n", "is not a number"),
            ("2014-07-01 01:00:00,nan\n", "not a finite number"),
            ("2014-07-01 01:00:00\n", "1 fields where the header has 2"),
            ("2014-07-01 00:15:00,5\n", "does not come after"),
            ("yesterday,5\n", "timestamp `yesterday`"),
        ];
        for (row, reason) in cases {
            let text = format!("{GOOD}{row}2014-07-01 02:00:00,7\n");
            let e = read_text(&text, BadRows::Error).expect_err(row).to_string();
            assert!(e.contains(":4: ") && e.contains(reason), "{row:?} gave {e}");
            let s = read_text(&text, BadRows::Skip).expect("skips");
            assert_eq!(s.records.len(), 3, "{row:?}");
            assert_eq!(s.skipped.len(), 1);
            assert_eq!(s.skipped[0].0, 4);
            assert!(s.skipped[0].1.contains(reason));
        }
    }

    #[test]
    fn a_missing_column_lists_the_header() {
        let e = read_text("time,count\n2014-07-01 00:00:00,1\n", BadRows::Error).expect_err("no value column").to_string();
        assert!(e.contains("no column `value`") && e.contains("time, count"), "{e}");
    }

    #[test]
    fn a_stream_without_records_is_an_error() {
        assert!(matches!(read_text("timestamp,value\n", BadRows::Error), Err(StreamError::Empty { .. })));
    }
}
