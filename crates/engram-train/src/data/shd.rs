//! The Spiking Heidelberg Digits (SHD) HDF5 layout (Cramer et al. 2020, "The Heidelberg
//! spiking data sets for the systematic evaluation of spiking neural networks", IEEE TNNLS),
//! as in `shd_train.h5` and `shd_test.h5`:
//!
//! - `spikes/times`: one variable-length array per sample of spike times in seconds
//!   (float16, float32 or float64 in the file; handed out as `f32`);
//! - `spikes/units`: one variable-length array per sample of input channels (any integer type;
//!   handed out as `u16`), as long as the sample's times;
//! - `labels`: one integer class per sample;
//! - `extra/` (speaker, keys, meta_info): not read.
//!
//! [`read_shd`] checks everything training relies on before handing samples on: the three
//! datasets are 1-D with one entry per sample, every sample's times and units have equal
//! length, every unit is below the channel count (700 for SHD, [`SHD_CHANNELS`]), every time is
//! finite and non-negative, every label fits `u16`. A problem is a [`DataError`] naming the file,
//! the dataset and sample, what was expected and what was found.
//!
//! The HDF5 container (superblock, groups, object headers, contiguous or chunked storage,
//! gzip/shuffle filters) is read by the pure-Rust `hdf5-pure` crate, so no system HDF5 library
//! is needed. That crate has no public reader for variable-length *sequences* (only for
//! variable-length strings), so the last step is done here: [`Dataset::read_raw`] gives each
//! element's reference (sequence length, global heap collection address, object index), and
//! `GlobalHeap` here reads the object from the file's global heap collection (HDF5 file format
//! spec, section III.E), checking every offset and length against the collection and the file.
//!
//! [`ShdSample::raster`] bins a sample into the dense `[T][channels]` spike-count input that
//! training uses.

use std::collections::HashMap;
use std::path::Path;

use hdf5_pure::{Dataset, Datatype, DatatypeByteOrder, File};

use super::DataError;

/// Number of input channels (cochlea model output fibres) in SHD; every unit is below it.
pub const SHD_CHANNELS: usize = 700;

/// One sample: spike `k` is on channel `units[k]` at `times[k]` seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct ShdSample {
    pub times: Vec<f32>,
    pub units: Vec<u16>,
    pub label: u16,
}

impl ShdSample {
    /// The sample as a dense spike raster `[steps][channels]`, row-major: entry
    /// `[t * channels + c]` counts the spikes of channel `c` with `t * dt <= time < (t + 1) * dt`
    /// (the bin is `floor(time / dt)`, computed in `f64`). Spikes at or after `steps * dt` are
    /// dropped, not clipped into the last bin. Two spikes of one channel in one bin give 2.
    ///
    /// # Panics
    /// If `dt` is not positive and finite, a unit is not below `channels` (a sample read by
    /// [`read_shd`] with the same `channels` never has one), or `steps * channels` overflows.
    pub fn raster(&self, dt: f32, steps: usize, channels: usize) -> Vec<f32> {
        assert!(
            dt.is_finite() && dt > 0.0,
            "raster: dt must be positive and finite, got {dt}"
        );
        if let Some(&max) = self.units.iter().max() {
            assert!(
                usize::from(max) < channels,
                "raster: unit {max} is not below channels = {channels}"
            );
        }
        let len = steps
            .checked_mul(channels)
            .expect("raster: steps * channels overflows");
        let mut out = vec![0.0f32; len];
        let dt = f64::from(dt);
        for (&time, &unit) in self.times.iter().zip(&self.units) {
            let bin = (f64::from(time) / dt).floor();
            // `bin >= 0` for the finite non-negative times `read_shd` admits; the comparison
            // also drops a negative or NaN time in a hand-made sample.
            if bin >= 0.0 && bin < steps as f64 {
                out[bin as usize * channels + usize::from(unit)] += 1.0;
            }
        }
        out
    }
}

/// Reads every sample of the SHD-layout HDF5 file at `path`, checking it against `channels`
/// input channels (pass [`SHD_CHANNELS`] for SHD itself).
pub fn read_shd(path: &Path, channels: usize) -> Result<Vec<ShdSample>, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let len = bytes.len() as u64;
    let file = File::from_bytes(bytes).map_err(|e| invalid(path, "an HDF5 file", e))?;
    // The superblock's end-of-file address, as libhdf5 checks it: a shorter file was cut off.
    let sb = file.superblock();
    let eof = sb.base_address.get().saturating_add(sb.eof_address);
    if len < eof {
        return Err(invalid(
            path,
            format!("{eof} bytes (the end of file the superblock records)"),
            format!("{len} bytes: the file is truncated"),
        ));
    }
    let reader = Reader::new(path, &file);

    let (time_type, times) = reader.vlen("spikes/times")?;
    let (unit_type, units) = reader.vlen("spikes/units")?;
    let labels = reader.labels("labels")?;
    if !time_type.is_float() {
        return Err(reader.err("spikes/times: floating-point spike times", time_type));
    }
    if unit_type.is_float() {
        return Err(reader.err("spikes/units: integer channel indices", unit_type));
    }
    if times.len() != units.len() || times.len() != labels.len() {
        return Err(reader.err(
            "as many entries in spikes/times, spikes/units and labels",
            format!(
                "{} times, {} units and {} labels",
                times.len(),
                units.len(),
                labels.len()
            ),
        ));
    }

    let mut samples = Vec::with_capacity(labels.len());
    for (i, ((times, units), label)) in times.iter().zip(&units).zip(labels).enumerate() {
        let (n_times, n_units) = (time_type.count(times), unit_type.count(units));
        if n_times != n_units {
            return Err(reader.err(
                format!("sample {i}: as many spike units as spike times"),
                format!("{n_times} times and {n_units} units"),
            ));
        }
        let times: Vec<f32> = time_type.floats(times).collect();
        if let Some((k, t)) = times
            .iter()
            .enumerate()
            .find(|(_, t)| !(t.is_finite() && **t >= 0.0))
        {
            return Err(reader.err(
                format!("sample {i}: finite non-negative spike times (seconds, as float32)"),
                format!("{t} at spike {k}"),
            ));
        }
        let units = unit_type
            .ints(units)
            .enumerate()
            .map(|(k, u)| match u16::try_from(u) {
                Ok(u) if usize::from(u) < channels => Ok(u),
                _ => Err(reader.err(
                    format!("sample {i}: spike units in 0..{channels}"),
                    format!("{u} at spike {k}"),
                )),
            })
            .collect::<Result<Vec<u16>, _>>()?;
        samples.push(ShdSample {
            times,
            units,
            label,
        });
    }
    Ok(samples)
}

fn invalid(path: &Path, expected: impl Into<String>, found: impl ToString) -> DataError {
    DataError::Invalid {
        path: path.to_path_buf(),
        expected: expected.into(),
        found: found.to_string(),
    }
}

/// A numeric element type this reader decodes: IEEE binary16/32/64 or a 1-, 2-, 4- or 8-byte
/// integer, little- or big-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Num {
    Float {
        size: usize,
        big_endian: bool,
    },
    Int {
        size: usize,
        signed: bool,
        big_endian: bool,
    },
}

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, size, big) = match *self {
            Num::Float { size, big_endian } => ("float", size, big_endian),
            Num::Int {
                size,
                signed,
                big_endian,
            } => (if signed { "int" } else { "uint" }, size, big_endian),
        };
        write!(
            f,
            "{kind}{}{}",
            size * 8,
            if big { " (big-endian)" } else { "" }
        )
    }
}

impl Num {
    /// The decoder for `dt`, or `None` for a type other than the ones above.
    fn of(dt: &Datatype) -> Option<Num> {
        let big_endian = |order: &DatatypeByteOrder| match order {
            DatatypeByteOrder::LittleEndian => Some(false),
            DatatypeByteOrder::BigEndian => Some(true),
            DatatypeByteOrder::Vax => None,
        };
        match dt {
            Datatype::FloatingPoint {
                size,
                byte_order,
                layout,
            } => {
                // (exponent location, exponent size, mantissa size, bias) of IEEE 754.
                let ieee = match size {
                    2 => (10, 5, 10, 15),
                    4 => (23, 8, 23, 127),
                    8 => (52, 11, 52, 1023),
                    _ => return None,
                };
                let found = (
                    layout.exponent_location,
                    layout.exponent_size,
                    layout.mantissa_size,
                    layout.exponent_bias,
                );
                let ok = found == ieee && layout.mantissa_location == 0 && layout.bit_offset == 0;
                ok.then_some(Num::Float {
                    size: *size as usize,
                    big_endian: big_endian(byte_order)?,
                })
            }
            Datatype::FixedPoint {
                size,
                byte_order,
                layout,
            } if matches!(size, 1 | 2 | 4 | 8)
                && layout.bit_offset == 0
                && u32::from(layout.bit_precision) == size * 8 =>
            {
                Some(Num::Int {
                    size: *size as usize,
                    signed: layout.signed,
                    big_endian: big_endian(byte_order)?,
                })
            }
            _ => None,
        }
    }

    fn is_float(self) -> bool {
        matches!(self, Num::Float { .. })
    }

    fn size(self) -> usize {
        match self {
            Num::Float { size, .. } | Num::Int { size, .. } => size,
        }
    }

    /// Number of elements in `bytes` (a whole number: checked when the bytes were read).
    fn count(self, bytes: &[u8]) -> usize {
        bytes.len() / self.size()
    }

    /// The `size` bytes of one element as a little-endian `u64`.
    fn word(self, chunk: &[u8]) -> u64 {
        let big_endian = match self {
            Num::Float { big_endian, .. } | Num::Int { big_endian, .. } => big_endian,
        };
        let mut le = [0u8; 8];
        le[..chunk.len()].copy_from_slice(chunk);
        if big_endian {
            le[..chunk.len()].reverse();
        }
        u64::from_le_bytes(le)
    }

    /// The elements of `bytes`, a float type's, as `f32` (float64 values out of `f32` range
    /// become infinite, which [`read_shd`] then reports).
    fn floats(self, bytes: &[u8]) -> impl Iterator<Item = f32> + '_ {
        bytes.chunks_exact(self.size()).map(move |c| {
            let w = self.word(c);
            match self.size() {
                2 => f16_to_f32(w as u16),
                4 => f32::from_bits(w as u32),
                _ => f64::from_bits(w) as f32,
            }
        })
    }

    /// The elements of `bytes`, an integer type's, as `i128` (wide enough for every one).
    fn ints(self, bytes: &[u8]) -> impl Iterator<Item = i128> + '_ {
        let (size, signed) = match self {
            Num::Int { size, signed, .. } => (size, signed),
            Num::Float { size, .. } => (size, false),
        };
        bytes.chunks_exact(size).map(move |c| {
            let w = self.word(c);
            let shift = 64 - 8 * size as u32;
            if signed {
                i128::from(((w << shift) as i64) >> shift)
            } else {
                i128::from(w)
            }
        })
    }
}

/// IEEE binary16 bits as the `f32` of the same value (exact: every binary16 value is one).
fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let mant = f32::from(h & 0x3ff);
    sign * match exp {
        0 => mant * 2f32.powi(-24),
        0x1f if mant == 0.0 => f32::INFINITY,
        0x1f => f32::NAN,
        _ => (1.0 + mant / 1024.0) * 2f32.powi(exp - 15),
    }
}

/// Reads datasets of one open file; errors name the file.
struct Reader<'a> {
    path: &'a Path,
    file: &'a File,
}

impl<'a> Reader<'a> {
    fn new(path: &'a Path, file: &'a File) -> Self {
        Reader { path, file }
    }

    fn err(&self, expected: impl Into<String>, found: impl ToString) -> DataError {
        invalid(self.path, expected, found)
    }

    /// The 1-D dataset `name`, its length and its datatype.
    fn dataset_1d(&self, name: &str) -> Result<(Dataset, usize, Datatype), DataError> {
        let ds = self.file.dataset(name).map_err(|e| {
            let mut held = Vec::new();
            collect_datasets(&self.file.root(), "", 0, &mut held);
            self.err(
                format!("a dataset {name:?}"),
                format!("{e}; the file holds {held:?}"),
            )
        })?;
        let shape = ds
            .shape()
            .map_err(|e| self.err(format!("{name}: a dataspace"), e))?;
        let dt = ds
            .datatype()
            .map_err(|e| self.err(format!("{name}: a datatype"), e))?;
        match shape[..] {
            [n] => match usize::try_from(n) {
                Ok(n) => Ok((ds, n, dt)),
                Err(_) => Err(self.err(format!("{name}: an addressable length"), n)),
            },
            _ => Err(self.err(format!("{name}: one dimension"), format!("shape {shape:?}"))),
        }
    }

    /// The labels: integers of any width, each fitting `u16`.
    fn labels(&self, name: &str) -> Result<Vec<u16>, DataError> {
        let (ds, n, dt) = self.dataset_1d(name)?;
        let num = Num::of(&dt)
            .filter(|num| !num.is_float())
            .ok_or_else(|| self.err(format!("{name}: integers"), format!("{dt:?}")))?;
        let raw = self.raw(name, &ds, n, num.size())?;
        num.ints(&raw)
            .enumerate()
            .map(|(i, v)| {
                u16::try_from(v).map_err(|_| {
                    self.err(
                        format!("{name}: labels in 0..=65535"),
                        format!("{v} at sample {i}"),
                    )
                })
            })
            .collect()
    }

    /// The whole storage of `ds`, checked to be `n` elements of `size` bytes.
    fn raw(&self, name: &str, ds: &Dataset, n: usize, size: usize) -> Result<Vec<u8>, DataError> {
        // hdf5-pure allocates a chunked dataset's whole extent before reading its chunks, so a
        // corrupt extent could ask for terabytes; the chunks the file holds must cover it
        // (writers of SHD files write every entry), which bounds it by the file's size.
        if ds.is_chunked() {
            let extent = ds
                .chunk_shape()
                .ok()
                .flatten()
                .and_then(|c| c.first().copied());
            let chunks = ds.chunks().map(|c| c.len() as u64).unwrap_or(0);
            let covered = extent.map_or(0, |e| e.saturating_mul(chunks));
            if covered < n as u64 {
                return Err(self.err(
                    format!("{name}: stored chunks covering its {n} entries"),
                    format!("{chunks} chunks of {extent:?} entries"),
                ));
            }
        }
        let raw = ds
            .read_raw()
            .map_err(|e| self.err(format!("{name}: readable data"), e))?;
        if Some(raw.len()) != n.checked_mul(size) {
            return Err(self.err(
                format!("{name}: {n} elements of {size} bytes"),
                format!("{} bytes", raw.len()),
            ));
        }
        Ok(raw)
    }

    /// The element type and the sequences (as their stored bytes, one slice per entry, each a
    /// whole number of elements) of the 1-D variable-length dataset `name`.
    fn vlen(&self, name: &str) -> Result<(Num, Vec<&'a [u8]>), DataError> {
        let (ds, n, dt) = self.dataset_1d(name)?;
        let expected = || format!("{name}: variable-length sequences of numbers");
        let num = match &dt {
            Datatype::VariableLength {
                is_string: false,
                base_type,
                ..
            } => Num::of(base_type),
            _ => None,
        }
        .ok_or_else(|| self.err(expected(), format!("{dt:?}")))?;

        let sb = self.file.superblock();
        let mut heap = GlobalHeap {
            file: self.file.as_bytes(),
            base: sb.base_address.get(),
            offset_size: usize::from(sb.offset_size),
            length_size: usize::from(sb.length_size),
            objects: HashMap::new(),
        };
        // Each element is a reference: sequence length (u32), collection address, object
        // index (u32).
        let ref_size = 8 + heap.offset_size;
        let raw = self.raw(name, &ds, n, ref_size)?;
        raw.chunks_exact(ref_size)
            .enumerate()
            .map(|(i, r)| {
                let len = le_uint(&r[..4]);
                let addr = le_uint(&r[4..4 + heap.offset_size]);
                let index = le_uint(&r[4 + heap.offset_size..]);
                if len == 0 {
                    return Ok(&[][..]);
                }
                let object = heap.object(addr, index).map_err(|found| {
                    self.err(format!("{name}: sample {i} in the global heap"), found)
                })?;
                if Some(object.len() as u64) != len.checked_mul(num.size() as u64) {
                    return Err(self.err(
                        format!("{name}: sample {i}: {len} elements of {num} in its heap object"),
                        format!("{} bytes", object.len()),
                    ));
                }
                Ok(object)
            })
            .collect::<Result<_, _>>()
            .map(|seqs| (num, seqs))
    }
}

/// Paths of every dataset under `group`, for the message naming a missing one; at most
/// [`LIST_DEPTH`] groups deep, since a corrupt file can make a group its own descendant.
fn collect_datasets(group: &hdf5_pure::Group, prefix: &str, depth: usize, out: &mut Vec<String>) {
    for name in group.datasets().unwrap_or_default() {
        out.push(format!("{prefix}{name}"));
    }
    if depth == LIST_DEPTH {
        return;
    }
    for name in group.groups().unwrap_or_default() {
        if let Ok(child) = group.group(&name) {
            collect_datasets(&child, &format!("{prefix}{name}/"), depth + 1, out);
        }
    }
}

/// How deep [`collect_datasets`] looks (SHD's datasets are at most two groups deep).
const LIST_DEPTH: usize = 4;

/// A little-endian unsigned integer of 1 to 8 bytes.
fn le_uint(bytes: &[u8]) -> u64 {
    let mut le = [0u8; 8];
    le[..bytes.len()].copy_from_slice(bytes);
    u64::from_le_bytes(le)
}

/// The global heap collections of a file (HDF5 file format spec III.E), parsed as they are
/// first referenced: "GCOL", version 1, three reserved bytes, the collection size (a length),
/// then objects, each an index (u16, 0 = free space, which ends the list), a reference count
/// (u16), four reserved bytes, its size (a length) and its data padded to 8 bytes.
struct GlobalHeap<'a> {
    file: &'a [u8],
    base: u64,
    offset_size: usize,
    length_size: usize,
    /// (collection address, object index) -> (start, length) in `file`; the collection's own
    /// entry is recorded under index 0 once parsed.
    objects: HashMap<(u64, u64), (usize, usize)>,
}

impl<'a> GlobalHeap<'a> {
    /// The data of object `index` of the collection at `addr`, or what is wrong.
    fn object(&mut self, addr: u64, index: u64) -> Result<&'a [u8], String> {
        if !self.objects.contains_key(&(addr, 0)) {
            self.parse_collection(addr)?;
        }
        match self.objects.get(&(addr, index)) {
            Some(&(start, len)) if index != 0 => Ok(&self.file[start..start + len]),
            _ => Err(format!("no object {index} in the collection at {addr:#x}")),
        }
    }

    fn parse_collection(&mut self, addr: u64) -> Result<(), String> {
        let l = self.length_size;
        let at = |what: &str| format!("{what} (global heap collection at {addr:#x})");
        let start = addr
            .checked_add(self.base)
            .and_then(|s| usize::try_from(s).ok())
            .filter(|&s| {
                s.checked_add(8 + l)
                    .is_some_and(|end| end <= self.file.len())
            })
            .ok_or_else(|| {
                at(&format!(
                    "a header past the end of the {}-byte file",
                    self.file.len()
                ))
            })?;
        let head = &self.file[start..start + 8 + l];
        if &head[..4] != b"GCOL" || head[4] != 1 {
            return Err(at(&format!(
                "signature {:?} version {}",
                &head[..4],
                head[4]
            )));
        }
        let size = usize::try_from(le_uint(&head[8..])).unwrap_or(usize::MAX);
        let end = start
            .checked_add(size)
            .filter(|&end| size >= 8 + l && end <= self.file.len())
            .ok_or_else(|| {
                at(&format!(
                    "size {size} past the end of the {}-byte file",
                    self.file.len()
                ))
            })?;
        let mut p = start + 8 + l;
        while p + 8 + l <= end {
            let index = le_uint(&self.file[p..p + 2]);
            if index == 0 {
                break;
            }
            let len = usize::try_from(le_uint(&self.file[p + 8..p + 8 + l])).unwrap_or(usize::MAX);
            let data = p + 8 + l;
            if len > end - data {
                return Err(at(&format!(
                    "object {index} of {len} bytes past the collection end"
                )));
            }
            self.objects.insert((addr, index), (data, len));
            p = data + len.div_ceil(8) * 8;
        }
        self.objects.insert((addr, 0), (start, size));
        Ok(())
    }
}
