//! Named arrays from NumPy `.npy` files and `.npz` archives (stored or deflate-compressed, as
//! written by `np.savez` and `np.savez_compressed`), in the dtype the file stores:
//! float32, float64, uint8 or int64, little- or big-endian, C or Fortran order.
//!
//! The header is parsed by `ndarray-npy`'s parser; the payload is read here as a stream and
//! checked against the size the header declares, so a truncated or padded array is an error
//! and a corrupt header claiming a huge shape allocates nothing up front. Data always comes
//! back in row-major (C) order. The caller states what it needs with [`NpArray::check_shape`]
//! and [`NpArray::into_vec`], whose errors name the file, the array, what was expected and what
//! was found.

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, ShapeBuilder};
use ndarray_npy::npy::header::{Header, Layout};
use py_literal::Value as PyValue;

use super::DataError;

/// The element types read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    F64,
    U8,
    I64,
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::U8 => "uint8",
            DType::I64 => "int64",
        })
    }
}

/// An array's elements in row-major order, in the dtype the file stores.
#[derive(Debug, Clone, PartialEq)]
pub enum NpData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    U8(Vec<u8>),
    I64(Vec<i64>),
}

impl NpData {
    /// The dtype of the elements.
    pub fn dtype(&self) -> DType {
        match self {
            NpData::F32(_) => DType::F32,
            NpData::F64(_) => DType::F64,
            NpData::U8(_) => DType::U8,
            NpData::I64(_) => DType::I64,
        }
    }
}

/// An element type that [`NpArray::into_vec`] can hand out.
pub trait NpElement: Sized {
    /// The dtype a file must store for this element type.
    const DTYPE: DType;
    /// The elements if `data` holds this type, else `data` back.
    fn from_data(data: NpData) -> Result<Vec<Self>, NpData>;
}

macro_rules! np_element {
    ($t:ty, $variant:ident) => {
        impl NpElement for $t {
            const DTYPE: DType = DType::$variant;
            fn from_data(data: NpData) -> Result<Vec<Self>, NpData> {
                match data {
                    NpData::$variant(v) => Ok(v),
                    other => Err(other),
                }
            }
        }
    };
}
np_element!(f32, F32);
np_element!(f64, F64);
np_element!(u8, U8);
np_element!(i64, I64);

/// One array read from a file, remembering where it came from for error messages.
#[derive(Debug, Clone, PartialEq)]
pub struct NpArray {
    /// The file it was read from.
    pub path: PathBuf,
    /// Its name in the `.npz` archive, or the file name for a `.npy` file.
    pub name: String,
    pub shape: Vec<usize>,
    pub data: NpData,
}

impl NpArray {
    /// Checks the shape: same rank, and each `Some(n)` axis has length `n` (`None`: any length).
    pub fn check_shape(&self, expected: &[Option<usize>]) -> Result<(), DataError> {
        let fits = self.shape.len() == expected.len()
            && self
                .shape
                .iter()
                .zip(expected)
                .all(|(&n, e)| e.is_none_or(|e| e == n));
        if fits {
            return Ok(());
        }
        let axes: Vec<String> = expected
            .iter()
            .map(|e| e.map_or("any".to_string(), |n| n.to_string()))
            .collect();
        Err(DataError::Invalid {
            path: self.path.clone(),
            expected: format!("array {:?} of shape [{}]", self.name, axes.join(", ")),
            found: format!("shape {:?}", self.shape),
        })
    }

    /// The elements as `T`, if the file stores that dtype (no conversion is made).
    pub fn into_vec<T: NpElement>(self) -> Result<Vec<T>, DataError> {
        T::from_data(self.data).map_err(|data| DataError::Invalid {
            path: self.path,
            expected: format!("array {:?} of dtype {}", self.name, T::DTYPE),
            found: format!("dtype {}", data.dtype()),
        })
    }
}

/// Reads the single array of a `.npy` file.
pub fn read_npy(path: &Path) -> Result<NpArray, DataError> {
    let file = File::open(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    parse(BufReader::new(file), path, name)
}

/// Reads the array `name` of a `.npz` archive (`name` as given to `np.savez`, without `.npy`).
pub fn read_npz(path: &Path, name: &str) -> Result<NpArray, DataError> {
    let file = File::open(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| DataError::Invalid {
        path: path.to_path_buf(),
        expected: "a .npz (zip) archive".into(),
        found: e.to_string(),
    })?;
    let entry = format!("{name}.npy");
    if zip.index_for_name(&entry).is_none() {
        let available = zip
            .file_names()
            .map(|n| n.strip_suffix(".npy").unwrap_or(n).to_string())
            .collect();
        return Err(DataError::MissingArray {
            path: path.to_path_buf(),
            name: name.to_string(),
            available,
        });
    }
    let reader = zip.by_name(&entry).map_err(|e| DataError::Invalid {
        path: path.to_path_buf(),
        expected: format!("a readable entry {entry}"),
        found: e.to_string(),
    })?;
    parse(reader, path, name.to_string())
}

/// Element type and byte order from a descriptor such as `<f4`, `>f8`, `|u1`.
fn dtype_of(descriptor: &PyValue) -> Option<(DType, bool)> {
    let PyValue::String(s) = descriptor else {
        return None;
    };
    let (order, kind) = s.split_at_checked(1)?;
    let big = match order {
        "<" | "=" => false,
        ">" => true,
        "|" => false,
        _ => return None,
    };
    match kind {
        "f4" => Some((DType::F32, big)),
        "f8" => Some((DType::F64, big)),
        "u1" => Some((DType::U8, big)),
        "i8" => Some((DType::I64, big)),
        _ => None,
    }
}

/// Decodes `N`-byte elements (`bytes.len()` is a multiple of `N`, checked by the caller).
fn decode<T, const N: usize>(
    bytes: &[u8],
    big: bool,
    le: fn([u8; N]) -> T,
    be: fn([u8; N]) -> T,
) -> Vec<T> {
    bytes
        .chunks_exact(N)
        .map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            if big { be(a) } else { le(a) }
        })
        .collect()
}

/// Puts Fortran-ordered elements in row-major order.
fn to_c_order<T: Clone>(shape: &[usize], data: Vec<T>) -> Option<Vec<T>> {
    let array = ArrayD::from_shape_vec(shape.f(), data).ok()?;
    Some(array.iter().cloned().collect())
}

fn parse(mut reader: impl Read, path: &Path, name: String) -> Result<NpArray, DataError> {
    let invalid = |expected: String, found: String| DataError::Invalid {
        path: path.to_path_buf(),
        expected,
        found,
    };
    let header = Header::from_reader(&mut reader)
        .map_err(|e| invalid(format!("a .npy header for array {name:?}"), e.to_string()))?;
    let (dtype, big) = dtype_of(&header.type_descriptor).ok_or_else(|| {
        invalid(
            format!("array {name:?} of dtype float32, float64, uint8 or int64"),
            format!("descriptor {}", header.type_descriptor),
        )
    })?;
    let shape = header.shape;
    let width = match dtype {
        DType::U8 => 1,
        DType::F32 => 4,
        DType::F64 | DType::I64 => 8,
    };
    let expected = shape
        .iter()
        .try_fold(width, |acc: usize, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            invalid(
                "a size that fits in memory".into(),
                format!("shape {shape:?}"),
            )
        })?;
    let limit = u64::try_from(expected)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let mut bytes = Vec::new();
    reader
        .take(limit)
        .read_to_end(&mut bytes)
        .map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() != expected {
        let found = if bytes.len() > expected {
            "more (trailing data)".to_string()
        } else {
            format!("{} (truncated)", bytes.len())
        };
        return Err(invalid(
            format!("{expected} data bytes for array {name:?} of shape {shape:?} {dtype}"),
            found,
        ));
    }
    let fortran = matches!(header.layout, Layout::Fortran);
    let reorder_failed = || {
        invalid(
            format!("array {name:?} with a valid shape"),
            format!("shape {shape:?}"),
        )
    };
    let data = match dtype {
        DType::U8 => NpData::U8(bytes),
        DType::F32 => NpData::F32(decode(&bytes, big, f32::from_le_bytes, f32::from_be_bytes)),
        DType::F64 => NpData::F64(decode(&bytes, big, f64::from_le_bytes, f64::from_be_bytes)),
        DType::I64 => NpData::I64(decode(&bytes, big, i64::from_le_bytes, i64::from_be_bytes)),
    };
    let data = match (fortran && shape.len() > 1, data) {
        (false, data) => data,
        (true, NpData::U8(v)) => NpData::U8(to_c_order(&shape, v).ok_or_else(reorder_failed)?),
        (true, NpData::F32(v)) => NpData::F32(to_c_order(&shape, v).ok_or_else(reorder_failed)?),
        (true, NpData::F64(v)) => NpData::F64(to_c_order(&shape, v).ok_or_else(reorder_failed)?),
        (true, NpData::I64(v)) => NpData::I64(to_c_order(&shape, v).ok_or_else(reorder_failed)?),
    };
    Ok(NpArray {
        path: path.to_path_buf(),
        name,
        shape,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2, arr2};
    use ndarray_npy::{NpzWriter, WriteNpyExt, write_npy};
    use std::io::Write;

    /// A version-1.0 `.npy` file written by hand, so that tests can build what no writer would.
    fn npy_bytes(descr: &str, fortran: bool, shape: &[usize], payload: &[u8]) -> Vec<u8> {
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        let tuple = if shape.len() == 1 {
            format!("({},)", dims[0])
        } else {
            format!("({})", dims.join(", "))
        };
        let order = if fortran { "True" } else { "False" };
        let mut dict =
            format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {tuple}, }}");
        while (10 + dict.len() + 1) % 64 != 0 {
            dict.push(' ');
        }
        dict.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        out.extend_from_slice(dict.as_bytes());
        out.extend_from_slice(payload);
        out
    }

    fn expect_invalid(result: Result<NpArray, DataError>, path: &Path, needle: &str) {
        let msg = result.unwrap_err().to_string();
        assert!(msg.starts_with(&path.display().to_string()), "{msg}");
        assert!(msg.contains(needle), "{msg}");
    }

    #[test]
    fn npz_round_trip_keeps_each_dtype() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arrays.npz");
        let mut npz = NpzWriter::new(File::create(&path).unwrap());
        npz.add_array("pixels", &arr2(&[[1u8, 2, 3], [4, 5, 255]]))
            .unwrap();
        npz.add_array("weights", &Array1::from(vec![0.5f32, -1.25, 3.0, 1e-7]))
            .unwrap();
        npz.add_array("times", &arr2(&[[0.1f64, 0.2], [0.3, 0.4]]))
            .unwrap();
        npz.add_array("units", &Array1::from(vec![-3i64, 0, 1 << 40]))
            .unwrap();
        npz.finish().unwrap();

        let pixels = read_npz(&path, "pixels").unwrap();
        assert_eq!(
            (pixels.shape.clone(), pixels.data.dtype()),
            (vec![2, 3], DType::U8)
        );
        pixels.check_shape(&[None, Some(3)]).unwrap();
        assert_eq!(pixels.into_vec::<u8>().unwrap(), vec![1, 2, 3, 4, 5, 255]);
        let weights = read_npz(&path, "weights").unwrap();
        assert_eq!(weights.name, "weights");
        assert_eq!(
            weights.into_vec::<f32>().unwrap(),
            vec![0.5, -1.25, 3.0, 1e-7]
        );
        let times = read_npz(&path, "times").unwrap();
        assert_eq!(times.into_vec::<f64>().unwrap(), vec![0.1, 0.2, 0.3, 0.4]);
        let units = read_npz(&path, "units").unwrap();
        assert_eq!(units.into_vec::<i64>().unwrap(), vec![-3, 0, 1 << 40]);
    }

    #[test]
    fn npy_in_fortran_order_comes_back_row_major() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.npy");
        let c = arr2(&[[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        let f = Array2::from_shape_vec((2, 3).f(), vec![1.0f32, 4.0, 2.0, 5.0, 3.0, 6.0]).unwrap();
        assert_eq!(c, f);
        write_npy(&path, &f).unwrap();
        let got = read_npy(&path).unwrap();
        assert_eq!(
            (got.name.as_str(), got.shape.clone()),
            ("f.npy", vec![2, 3])
        );
        assert_eq!(got.data, NpData::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    }

    #[test]
    fn big_endian_and_compressed_npz_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let payload: Vec<u8> = [1.5f64, -2.0]
            .iter()
            .flat_map(|x| x.to_be_bytes())
            .collect();
        let big = dir.path().join("big.npy");
        std::fs::write(&big, npy_bytes(">f8", false, &[2], &payload)).unwrap();
        assert_eq!(read_npy(&big).unwrap().data, NpData::F64(vec![1.5, -2.0]));

        let mut npy = Vec::new();
        Array1::from(vec![7i64; 1000]).write_npy(&mut npy).unwrap();
        let path = dir.path().join("packed.npz");
        let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("spikes.npy", options).unwrap();
        zip.write_all(&npy).unwrap();
        zip.finish().unwrap();
        assert!(
            std::fs::metadata(&path).unwrap().len() < 1000,
            "entry was not compressed"
        );
        assert_eq!(
            read_npz(&path, "spikes")
                .unwrap()
                .into_vec::<i64>()
                .unwrap(),
            vec![7; 1000]
        );
    }

    #[test]
    fn missing_array_lists_what_the_file_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npz");
        let mut npz = NpzWriter::new(File::create(&path).unwrap());
        npz.add_array("x", &Array1::from(vec![1u8])).unwrap();
        npz.finish().unwrap();
        let err = read_npz(&path, "y").unwrap_err();
        assert!(matches!(err, DataError::MissingArray { .. }));
        let msg = err.to_string();
        assert!(msg.starts_with(&path.display().to_string()), "{msg}");
        assert!(
            msg.contains(r#"no array named "y"; the file holds ["x"]"#),
            "{msg}"
        );
    }

    #[test]
    fn wrong_dtype_and_shape_are_errors_naming_file_and_array() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npz");
        let mut npz = NpzWriter::new(File::create(&path).unwrap());
        npz.add_array("x", &arr2(&[[1u8, 2], [3, 4]])).unwrap();
        npz.finish().unwrap();
        let x = read_npz(&path, "x").unwrap();
        let msg = x.check_shape(&[Some(2), Some(3)]).unwrap_err().to_string();
        assert!(
            msg.contains(r#"expected array "x" of shape [2, 3], found shape [2, 2]"#),
            "{msg}"
        );
        let msg = x.check_shape(&[None]).unwrap_err().to_string();
        assert!(msg.contains("of shape [any], found shape [2, 2]"), "{msg}");
        let msg = x.into_vec::<f32>().unwrap_err().to_string();
        assert!(msg.starts_with(&path.display().to_string()), "{msg}");
        assert!(
            msg.contains(r#"expected array "x" of dtype float32, found dtype uint8"#),
            "{msg}"
        );
    }

    #[test]
    fn unsupported_truncated_padded_and_garbage_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: Vec<u8>| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let p = write("i4.npy", npy_bytes("<i4", false, &[2], &[0; 8]));
        expect_invalid(
            read_npy(&p),
            &p,
            "float32, float64, uint8 or int64, found descriptor '<i4'",
        );
        let p = write("short.npy", npy_bytes("<f4", false, &[2, 2], &[0; 15]));
        expect_invalid(
            read_npy(&p),
            &p,
            "expected 16 data bytes for array \"short.npy\" of shape [2, 2] float32, found 15 (truncated)",
        );
        let p = write("long.npy", npy_bytes("|u1", true, &[2, 2], &[0; 5]));
        expect_invalid(read_npy(&p), &p, "found more (trailing data)");
        let p = write(
            "huge.npy",
            npy_bytes("<f8", false, &[1 << 40, 1 << 40], &[]),
        );
        expect_invalid(read_npy(&p), &p, "a size that fits in memory");
        let p = write("junk.npy", b"not numpy at all".to_vec());
        expect_invalid(read_npy(&p), &p, "a .npy header");
        let p = write("junk.npz", b"not a zip".to_vec());
        expect_invalid(read_npz(&p, "x"), &p, "a .npz (zip) archive");
        let missing = dir.path().join("absent.npy");
        assert!(matches!(read_npy(&missing), Err(DataError::Io { .. })));
        assert!(matches!(read_npz(&missing, "x"), Err(DataError::Io { .. })));
    }
}
