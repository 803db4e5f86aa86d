//! Reader for IDX files, the format of MNIST and Fashion-MNIST (LeCun et al.,
//! <http://yann.lecun.com/exdb/mnist/>), raw or gzip-compressed.
//!
//! Layout: a 4-byte magic number `0x00 0x00 TYPE NDIM`, then NDIM big-endian `u32` dimensions,
//! then the payload in row-major (C) order. Only `TYPE = 0x08` (unsigned byte), the type of
//! every MNIST-family file, is accepted, with 1 to 4 dimensions. A gzip file is recognised by
//! its magic bytes `1f 8b`, not by its name, so `foo.gz` and `foo` both work whatever they hold.
//!
//! The payload is read as a stream and checked against the product of the dimensions: a short
//! file and a file with trailing bytes are both errors. Nothing is allocated from the header's
//! claim alone, so a corrupt header cannot make the reader reserve gigabytes up front.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use super::DataError;

/// The IDX type byte for unsigned bytes.
const TYPE_U8: u8 = 0x08;
/// The most dimensions accepted (images are 3, labels 1).
const MAX_DIMS: u8 = 4;

/// One IDX array: its dimensions and its bytes in row-major order
/// (`data.len()` is the product of `shape`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads the IDX file at `path`, decompressing it first if it starts with the gzip magic.
pub fn read_idx(path: &Path) -> Result<IdxArray, DataError> {
    let io_err = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = BufReader::new(File::open(path).map_err(io_err)?);
    let is_gzip = reader
        .fill_buf()
        .map_err(io_err)?
        .starts_with(&[0x1f, 0x8b]);
    if is_gzip {
        parse(BufReader::new(MultiGzDecoder::new(reader)), path)
    } else {
        parse(reader, path)
    }
}

fn invalid(path: &Path, expected: impl Into<String>, found: impl Into<String>) -> DataError {
    DataError::Invalid {
        path: path.to_path_buf(),
        expected: expected.into(),
        found: found.into(),
    }
}

/// Reads exactly `buf.len()` header bytes; a short read is a truncated header.
fn read_header(
    reader: &mut impl Read,
    buf: &mut [u8],
    what: &str,
    path: &Path,
) -> Result<(), DataError> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => {
                return Err(invalid(
                    path,
                    format!("{} header bytes ({what})", buf.len()),
                    format!("end of file after {filled}"),
                ));
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(DataError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
    }
    Ok(())
}

fn parse(mut reader: impl Read, path: &Path) -> Result<IdxArray, DataError> {
    let mut magic = [0u8; 4];
    read_header(&mut reader, &mut magic, "magic number", path)?;
    let [zero0, zero1, dtype, ndim] = magic;
    if zero0 != 0 || zero1 != 0 || ndim == 0 || ndim > MAX_DIMS {
        return Err(invalid(
            path,
            "IDX magic number 00 00 TT NN with NN = 1..=4 dimensions",
            format!("{zero0:02x} {zero1:02x} {dtype:02x} {ndim:02x}"),
        ));
    }
    if dtype != TYPE_U8 {
        return Err(invalid(
            path,
            "IDX data type 0x08 (unsigned byte)",
            format!("type byte 0x{dtype:02x}"),
        ));
    }
    let mut shape = Vec::with_capacity(usize::from(ndim));
    for axis in 0..ndim {
        let mut dim = [0u8; 4];
        read_header(&mut reader, &mut dim, &format!("dimension {axis}"), path)?;
        let dim = usize::try_from(u32::from_be_bytes(dim))
            .map_err(|_| invalid(path, "a dimension that fits in memory", "one that does not"))?;
        shape.push(dim);
    }
    let expected = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            invalid(
                path,
                "a payload size that fits in memory",
                format!("shape {shape:?}"),
            )
        })?;
    // Read one byte more than needed so that trailing bytes are noticed without reading them all.
    let limit = u64::try_from(expected)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let mut data = Vec::new();
    reader
        .take(limit)
        .read_to_end(&mut data)
        .map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if data.len() != expected {
        let found = if data.len() > expected {
            "more bytes (trailing data after the payload)".to_string()
        } else {
            format!("{} bytes (truncated)", data.len())
        };
        return Err(invalid(
            path,
            format!("{expected} payload bytes for shape {shape:?}"),
            found,
        ));
    }
    Ok(IdxArray { shape, data })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;
    use std::path::PathBuf;

    /// The bytes of a u8 IDX file of `shape` holding `data` (no checks: tests build bad ones too).
    pub(crate) fn idx_bytes(shape: &[u32], data: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, TYPE_U8, shape.len() as u8];
        for d in shape {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(data);
        out
    }

    /// Writes `bytes` to `dir/name`, gzip-compressed when `gzip` is set; returns the path.
    pub(crate) fn write_file(dir: &Path, name: &str, bytes: &[u8], gzip: bool) -> PathBuf {
        let path = dir.join(name);
        let out = if gzip {
            let mut enc = GzEncoder::new(Vec::new(), Compression::default());
            enc.write_all(bytes).unwrap();
            enc.finish().unwrap()
        } else {
            bytes.to_vec()
        };
        std::fs::write(&path, out).unwrap();
        path
    }

    fn expect_invalid(path: &Path, needle: &str) {
        let err = read_idx(path).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DataError::Invalid { .. }), "{msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains(needle), "{msg}");
    }

    #[test]
    fn raw_and_gzip_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..2 * 3 * 4).map(|i| (i * 7) as u8).collect();
        let bytes = idx_bytes(&[2, 3, 4], &data);
        for gzip in [false, true] {
            // The name never decides: a gzip file without `.gz` and a raw one with it both read.
            let name = if gzip { "images" } else { "images.gz" };
            let got = read_idx(&write_file(dir.path(), name, &bytes, gzip)).unwrap();
            assert_eq!(got.shape, vec![2, 3, 4]);
            assert_eq!(got.data, data);
        }
        let labels = read_idx(&write_file(
            dir.path(),
            "l",
            &idx_bytes(&[5], &[1, 2, 3, 4, 9]),
            false,
        ))
        .unwrap();
        assert_eq!((labels.shape, labels.data), (vec![5], vec![1, 2, 3, 4, 9]));
        let empty = read_idx(&write_file(
            dir.path(),
            "e",
            &idx_bytes(&[0, 28, 28], &[]),
            true,
        ))
        .unwrap();
        assert_eq!((empty.shape, empty.data.len()), (vec![0, 28, 28], 0));
    }

    #[test]
    fn bad_magic_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = idx_bytes(&[3], &[1, 2, 3]);
        bytes[0] = 0x12;
        expect_invalid(
            &write_file(dir.path(), "magic", &bytes, false),
            "IDX magic number",
        );
        let mut bytes = idx_bytes(&[3], &[1, 2, 3]);
        bytes[3] = 5;
        expect_invalid(
            &write_file(dir.path(), "ndim.gz", &bytes, true),
            "found 00 00 08 05",
        );
        expect_invalid(
            &write_file(dir.path(), "short", &[0, 0], false),
            "end of file after 2",
        );
        expect_invalid(
            &write_file(dir.path(), "nodims", &[0, 0, 8, 2, 0, 0, 0, 1], false),
            "dimension 1",
        );
    }

    #[test]
    fn non_byte_data_type_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = idx_bytes(&[1], &[0, 0, 0, 0]);
        bytes[2] = 0x0d; // IDX float32
        expect_invalid(
            &write_file(dir.path(), "float", &bytes, false),
            "type byte 0x0d",
        );
    }

    #[test]
    fn truncated_and_oversized_payloads_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let full = idx_bytes(&[2, 2, 2], &[7; 8]);
        for gzip in [false, true] {
            let path = write_file(dir.path(), "trunc", &full[..full.len() - 3], gzip);
            expect_invalid(
                &path,
                "expected 8 payload bytes for shape [2, 2, 2], found 5 bytes (truncated)",
            );
            let mut long = full.clone();
            long.push(0);
            expect_invalid(
                &write_file(dir.path(), "long", &long, gzip),
                "trailing data",
            );
        }
    }

    #[test]
    fn corrupt_gzip_and_missing_file_are_io_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "bad.gz", &[0x1f, 0x8b, 0x08, 0, 1, 2, 3], false);
        let err = read_idx(&path).unwrap_err();
        assert!(
            matches!(err, DataError::Io { .. }) && err.to_string().contains("bad.gz"),
            "{err}"
        );
        let missing = dir.path().join("absent");
        let err = read_idx(&missing).unwrap_err();
        assert!(
            matches!(err, DataError::Io { .. }) && err.to_string().contains("absent"),
            "{err}"
        );
    }
}
