//! The SHD reader against files written by h5py (fixtures made by
//! `scripts/make_shd_fixtures.py`) and by the test writer in `h5write.rs`, the raster binning,
//! and bad input. Every test sits in `mod shd` so `cargo test -p engram-train shd` runs them.

mod h5write;

mod shd {
    use std::path::{Path, PathBuf};

    use engram_train::data::DataError;
    use engram_train::data::shd::{SHD_CHANNELS, ShdSample, read_shd};

    use super::h5write::{Data, Node, write};

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    /// The content `scripts/make_shd_fixtures.py` writes: sample i has COUNTS[i] spikes, spike j
    /// at (j + 1) / 64 + i / 256 s on unit (37 j + 101 i) mod 700, label 3 i mod 20.
    fn expected_samples() -> Vec<ShdSample> {
        const COUNTS: [usize; 5] = [3, 0, 7, 1, 12];
        COUNTS
            .iter()
            .enumerate()
            .map(|(i, &n)| ShdSample {
                times: (0..n)
                    .map(|j| (j + 1) as f32 / 64.0 + i as f32 / 256.0)
                    .collect(),
                units: (0..n).map(|j| ((37 * j + 101 * i) % 700) as u16).collect(),
                label: (3 * i % 20) as u16,
            })
            .collect()
    }

    /// An SHD-layout file: `spikes/times`, `spikes/units`, `labels` and an `extra` group.
    fn shd_file(times: &[Vec<f32>], units: &[Vec<u16>], labels: Option<Data>) -> Vec<u8> {
        let spikes = vec![
            ("times".to_string(), Node::Dataset(Data::f32_seqs(times))),
            ("units".to_string(), Node::Dataset(Data::u16_seqs(units))),
        ];
        let extra = vec![(
            "speaker".to_string(),
            Node::Dataset(Data::u16s(&vec![7; times.len()])),
        )];
        let mut root = vec![
            ("spikes".to_string(), Node::Group(spikes)),
            ("extra".to_string(), Node::Group(extra)),
        ];
        if let Some(labels) = labels {
            root.push(("labels".to_string(), Node::Dataset(labels)));
        }
        write(&root)
    }

    fn samples_file(samples: &[ShdSample]) -> Vec<u8> {
        let times: Vec<_> = samples.iter().map(|s| s.times.clone()).collect();
        let units: Vec<_> = samples.iter().map(|s| s.units.clone()).collect();
        let labels: Vec<_> = samples.iter().map(|s| s.label).collect();
        shd_file(&times, &units, Some(Data::u16s(&labels)))
    }

    /// Writes `bytes` to a temporary file and reads it with `channels` channels.
    fn read_bytes(bytes: &[u8], channels: usize) -> (PathBuf, Result<Vec<ShdSample>, DataError>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shd_test.h5");
        std::fs::write(&path, bytes).unwrap();
        let result = read_shd(&path, channels);
        (path, result)
    }

    /// The `Invalid` error's expected and found texts, after checking it names `path`.
    fn invalid(path: &Path, result: Result<Vec<ShdSample>, DataError>) -> (String, String) {
        match result {
            Err(DataError::Invalid {
                path: p,
                expected,
                found,
            }) => {
                assert_eq!(p, path);
                (expected, found)
            }
            other => panic!("expected DataError::Invalid, got {other:?}"),
        }
    }

    #[test]
    fn h5py_float32_contiguous_fixture_reads_as_written() {
        let samples = read_shd(&fixture("shd_h5py_f32.h5"), SHD_CHANNELS).unwrap();
        assert_eq!(samples, expected_samples());
    }

    #[test]
    fn h5py_float16_chunked_gzip_fixture_reads_as_written() {
        let samples = read_shd(&fixture("shd_h5py_f16_gzip.h5"), SHD_CHANNELS).unwrap();
        assert_eq!(samples, expected_samples());
    }

    #[test]
    fn rust_written_file_round_trips() {
        let mut samples = expected_samples();
        samples[3].times = vec![0.0, 1.5e-3, 0.9];
        samples[3].units = vec![699, 0, 350];
        let bytes = samples_file(&samples);
        let (_, result) = read_bytes(&bytes, SHD_CHANNELS);
        assert_eq!(result.unwrap(), samples);
    }

    #[test]
    fn labels_of_another_integer_type_are_read() {
        let s = expected_samples();
        let times: Vec<_> = s.iter().map(|s| s.times.clone()).collect();
        let units: Vec<_> = s.iter().map(|s| s.units.clone()).collect();
        let labels: Vec<i64> = s.iter().map(|s| i64::from(s.label)).collect();
        let (_, result) = read_bytes(&shd_file(&times, &units, Some(Data::i64s(&labels))), 700);
        assert_eq!(result.unwrap(), s);

        let bad = [0, 1, -1, 2, 3];
        let (path, result) = read_bytes(&shd_file(&times, &units, Some(Data::i64s(&bad))), 700);
        let (expected, found) = invalid(&path, result);
        assert!(expected.contains("labels in 0..=65535"), "{expected}");
        assert_eq!(found, "-1 at sample 2");
    }

    #[test]
    fn raster_counts_spikes_per_bin_and_drops_late_ones() {
        let sample = ShdSample {
            times: vec![0.0, 0.1, 0.125, 0.3, 0.3, 0.499, 0.5, 7.0],
            units: vec![0, 2, 1, 2, 2, 0, 1, 1],
            label: 0,
        };
        let raster = sample.raster(0.125, 4, 3);
        #[rustfmt::skip]
        let expected = [
            1.0, 0.0, 1.0, // [0, 0.125): unit 0 at 0, unit 2 at 0.1
            0.0, 1.0, 0.0, // [0.125, 0.25): unit 1 at its start
            0.0, 0.0, 2.0, // [0.25, 0.375): unit 2 twice
            1.0, 0.0, 0.0, // [0.375, 0.5): unit 0; 0.5 and 7.0 are past 4 * 0.125
        ];
        assert_eq!(raster, expected);
    }

    #[test]
    fn raster_of_fixture_sample_holds_every_spike_in_the_window() {
        let samples = read_shd(&fixture("shd_h5py_f16_gzip.h5"), SHD_CHANNELS).unwrap();
        let s = &samples[4];
        let raster = s.raster(1e-3, 1000, SHD_CHANNELS);
        assert_eq!(raster.len(), 1000 * SHD_CHANNELS);
        assert_eq!(raster.iter().sum::<f32>(), s.times.len() as f32);
        let (t, u) = (s.times[0], s.units[0] as usize);
        assert_eq!(raster[(t / 1e-3) as usize * SHD_CHANNELS + u], 1.0);
        // 30 steps of 1 ms end before the first spike of sample 4, at 31.25 ms.
        assert!(s.raster(1e-3, 30, SHD_CHANNELS).iter().all(|&v| v == 0.0));
        assert!(
            samples[1]
                .raster(1e-3, 10, SHD_CHANNELS)
                .iter()
                .all(|&v| v == 0.0)
        );
    }

    #[test]
    fn truncated_files_are_errors() {
        for bytes in [
            samples_file(&expected_samples()),
            std::fs::read(fixture("shd_h5py_f32.h5")).unwrap(),
            std::fs::read(fixture("shd_h5py_f16_gzip.h5")).unwrap(),
        ] {
            let mut lengths: Vec<usize> = (0..bytes.len()).step_by(97).collect();
            lengths.extend([1, 8, 95, 96, bytes.len() - 1]);
            for len in lengths {
                let (path, result) = read_bytes(&bytes[..len], SHD_CHANNELS);
                let (expected, found) = invalid(&path, result);
                assert!(!expected.is_empty() && !found.is_empty(), "length {len}");
            }
        }
    }

    #[test]
    fn wrong_signature_is_an_error() {
        let mut bytes = samples_file(&expected_samples());
        bytes[1] = b'X';
        let (path, result) = read_bytes(&bytes, SHD_CHANNELS);
        let (expected, found) = invalid(&path, result);
        assert_eq!(expected, "an HDF5 file");
        assert!(found.to_lowercase().contains("signature"), "{found}");
    }

    #[test]
    fn a_missing_file_is_an_io_error() {
        let path = Path::new("/nonexistent/shd_train.h5");
        assert!(matches!(
            read_shd(path, SHD_CHANNELS),
            Err(DataError::Io { .. })
        ));
    }

    #[test]
    fn units_and_times_of_unequal_length_are_an_error() {
        let s = expected_samples();
        let times: Vec<_> = s.iter().map(|s| s.times.clone()).collect();
        let mut units: Vec<_> = s.iter().map(|s| s.units.clone()).collect();
        units[2].pop();
        let labels: Vec<_> = s.iter().map(|s| s.label).collect();
        let (path, result) = read_bytes(&shd_file(&times, &units, Some(Data::u16s(&labels))), 700);
        let (expected, found) = invalid(&path, result);
        assert_eq!(expected, "sample 2: as many spike units as spike times");
        assert_eq!(found, "7 times and 6 units");
    }

    #[test]
    fn sample_counts_that_disagree_are_an_error() {
        let s = expected_samples();
        let times: Vec<_> = s.iter().map(|s| s.times.clone()).collect();
        let units: Vec<_> = s.iter().map(|s| s.units.clone()).collect();
        let labels = [0u16, 1, 2, 3];
        let (path, result) = read_bytes(&shd_file(&times, &units, Some(Data::u16s(&labels))), 700);
        let (_, found) = invalid(&path, result);
        assert_eq!(found, "5 times, 5 units and 4 labels");
    }

    #[test]
    fn missing_labels_is_an_error_naming_it() {
        let s = expected_samples();
        let times: Vec<_> = s.iter().map(|s| s.times.clone()).collect();
        let units: Vec<_> = s.iter().map(|s| s.units.clone()).collect();
        let (path, result) = read_bytes(&shd_file(&times, &units, None), SHD_CHANNELS);
        let (expected, found) = invalid(&path, result);
        assert_eq!(expected, "a dataset \"labels\"");
        assert!(found.contains("spikes/times"), "{found}");
    }

    #[test]
    fn units_past_the_channel_count_are_an_error() {
        let bytes = samples_file(&expected_samples());
        let (path, result) = read_bytes(&bytes, 650);
        let (expected, found) = invalid(&path, result);
        assert_eq!(expected, "sample 4: spike units in 0..650");
        assert_eq!(found, "663 at spike 7");
    }

    #[test]
    fn negative_or_non_finite_times_are_an_error() {
        for bad in [-0.5, f32::NAN, f32::INFINITY] {
            let mut samples = expected_samples();
            samples[4].times[3] = bad;
            let (path, result) = read_bytes(&samples_file(&samples), SHD_CHANNELS);
            let (expected, found) = invalid(&path, result);
            assert!(
                expected.starts_with("sample 4: finite non-negative"),
                "{expected}"
            );
            assert_eq!(found, format!("{bad} at spike 3"));
        }
    }

    #[test]
    fn a_corrupt_global_heap_is_an_error() {
        let mut bytes = samples_file(&expected_samples());
        let at = bytes.windows(4).position(|w| w == b"GCOL").unwrap();
        bytes[at] = b'X';
        let (path, result) = read_bytes(&bytes, SHD_CHANNELS);
        let (expected, found) = invalid(&path, result);
        assert!(expected.contains("global heap"), "{expected}");
        assert!(found.contains("signature"), "{found}");
    }

    #[test]
    fn corrupted_bytes_never_panic() {
        // Each single-byte change is either read (when it hits padding or a value that stays
        // valid) or answered with an error, never a panic.
        let original = samples_file(&expected_samples());
        for at in (0..original.len()).step_by(5) {
            for value in [0x00, 0xff, original[at] ^ 0x10] {
                let mut bytes = original.clone();
                bytes[at] = value;
                let (_, _result) = read_bytes(&bytes, SHD_CHANNELS);
            }
        }
    }

    #[test]
    fn a_chunked_extent_past_its_chunks_is_an_error_not_an_allocation() {
        // Regression: byte 1867 of this fixture is in the extent of a chunked dataset; set to
        // 0xff it declares about 2^59 entries, which hdf5-pure would allocate before reading.
        let mut bytes = std::fs::read(fixture("shd_h5py_f16_gzip.h5")).unwrap();
        bytes[1867] = 0xff;
        let (path, result) = read_bytes(&bytes, SHD_CHANNELS);
        let (expected, found) = invalid(&path, result);
        assert!(
            expected.contains("stored chunks covering"),
            "{expected} / {found}"
        );
    }
}
