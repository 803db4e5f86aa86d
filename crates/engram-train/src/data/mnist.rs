//! The MNIST directory layout, shared by Fashion-MNIST: four IDX files
//! `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and
//! `t10k-labels-idx1-ubyte`, each raw or with a `.gz` suffix (the raw name is tried first).
//!
//! Loading checks what training relies on before any of it starts: images are 3-dimensional
//! `[count, rows, cols]`, labels 1-dimensional `[count]`, the two counts agree, the train and
//! test images have the same size, and every label is below [`NUM_CLASSES`].
//! `scripts/fetch_data.sh` writes both datasets in this layout under `data/`.

use std::path::{Path, PathBuf};

use super::DataError;
use super::idx::read_idx;

/// Number of classes in MNIST and Fashion-MNIST; every label must be below it.
pub const NUM_CLASSES: u8 = 10;

/// One split: `count` images of `rows x cols` bytes stored one after another (`[count, rows,
/// cols]`, row-major), and one label per image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Split {
    /// The pixels of image `index` (`rows * cols` bytes), or `None` past the end.
    pub fn image(&self, index: usize) -> Option<&[u8]> {
        let size = self.rows * self.cols;
        let start = index.checked_mul(size)?;
        self.images.get(start..start.checked_add(size)?)
    }
}

/// A dataset in the MNIST layout: the training split and the test (`t10k`) split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    pub train: Split,
    pub test: Split,
}

impl Dataset {
    /// Loads and checks the four IDX files in `dir`.
    pub fn load(dir: &Path) -> Result<Self, DataError> {
        let train = load_split(dir, "train")?;
        let test = load_split(dir, "t10k")?;
        if (train.rows, train.cols) != (test.rows, test.cols) {
            return Err(DataError::Invalid {
                path: dir.to_path_buf(),
                expected: format!(
                    "test images of the training size {}x{}",
                    train.rows, train.cols
                ),
                found: format!("{}x{}", test.rows, test.cols),
            });
        }
        Ok(Self { train, test })
    }
}

/// `dir/base`, else `dir/base.gz`, else an error naming both.
fn find(dir: &Path, base: &str) -> Result<PathBuf, DataError> {
    let raw = dir.join(base);
    let gz = dir.join(format!("{base}.gz"));
    if raw.is_file() {
        Ok(raw)
    } else if gz.is_file() {
        Ok(gz)
    } else {
        Err(DataError::MissingFile {
            dir: dir.to_path_buf(),
            expected: format!("{base} or {base}.gz"),
        })
    }
}

fn load_split(dir: &Path, prefix: &str) -> Result<Split, DataError> {
    let images_path = find(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let labels_path = find(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let images = read_idx(&images_path)?;
    let labels = read_idx(&labels_path)?;
    let [count, rows, cols] = images.shape[..] else {
        return Err(DataError::Invalid {
            path: images_path,
            expected: "3 dimensions [count, rows, cols]".into(),
            found: format!("shape {:?}", images.shape),
        });
    };
    let [label_count] = labels.shape[..] else {
        return Err(DataError::Invalid {
            path: labels_path,
            expected: "1 dimension [count]".into(),
            found: format!("shape {:?}", labels.shape),
        });
    };
    if count != label_count {
        return Err(DataError::CountMismatch {
            images: images_path,
            labels: labels_path,
            image_count: count,
            label_count,
        });
    }
    if let Some((index, &label)) = labels
        .data
        .iter()
        .enumerate()
        .find(|&(_, &l)| l >= NUM_CLASSES)
    {
        return Err(DataError::Invalid {
            path: labels_path,
            expected: format!("labels below {NUM_CLASSES}"),
            found: format!("label {label} at index {index}"),
        });
    }
    Ok(Split {
        count,
        rows,
        cols,
        images: images.data,
        labels: labels.data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::idx::tests::{idx_bytes, write_file};

    /// Writes a tiny dataset: `n_train`/`n_test` images of 2x3, labels `i % 10`, gzip or raw.
    fn write_dataset(dir: &Path, n_train: u32, n_test: u32, gzip: bool) {
        let suffix = if gzip { ".gz" } else { "" };
        for (prefix, n) in [("train", n_train), ("t10k", n_test)] {
            let pixels: Vec<u8> = (0..n * 6).map(|i| i as u8).collect();
            let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
            write_file(
                dir,
                &format!("{prefix}-images-idx3-ubyte{suffix}"),
                &idx_bytes(&[n, 2, 3], &pixels),
                gzip,
            );
            write_file(
                dir,
                &format!("{prefix}-labels-idx1-ubyte{suffix}"),
                &idx_bytes(&[n], &labels),
                gzip,
            );
        }
    }

    #[test]
    fn loads_raw_and_gzip_layouts() {
        for gzip in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            write_dataset(dir.path(), 12, 4, gzip);
            let ds = Dataset::load(dir.path()).unwrap();
            assert_eq!((ds.train.count, ds.train.rows, ds.train.cols), (12, 2, 3));
            assert_eq!(ds.test.count, 4);
            assert_eq!(ds.train.labels[11], 1);
            assert_eq!(ds.train.image(1), Some(&[6u8, 7, 8, 9, 10, 11][..]));
            assert_eq!(ds.train.image(12), None);
            assert_eq!(ds.train.image(usize::MAX), None);
        }
    }

    #[test]
    fn missing_file_names_the_directory_and_both_names() {
        let dir = tempfile::tempdir().unwrap();
        write_dataset(dir.path(), 3, 3, false);
        std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte")).unwrap();
        let msg = Dataset::load(dir.path()).unwrap_err().to_string();
        assert!(
            msg.contains("t10k-labels-idx1-ubyte or t10k-labels-idx1-ubyte.gz"),
            "{msg}"
        );
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    }

    #[test]
    fn image_and_label_counts_must_agree() {
        let dir = tempfile::tempdir().unwrap();
        write_dataset(dir.path(), 5, 3, true);
        write_file(
            dir.path(),
            "train-labels-idx1-ubyte.gz",
            &idx_bytes(&[4], &[0, 1, 2, 3]),
            true,
        );
        let err = Dataset::load(dir.path()).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::CountMismatch {
                    image_count: 5,
                    label_count: 4,
                    ..
                }
            ),
            "{err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("train-images-idx3-ubyte.gz")
                && msg.contains("train-labels-idx1-ubyte.gz"),
            "{msg}"
        );
    }

    #[test]
    fn label_out_of_range_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write_dataset(dir.path(), 3, 3, false);
        let path = write_file(
            dir.path(),
            "t10k-labels-idx1-ubyte",
            &idx_bytes(&[3], &[0, 10, 2]),
            false,
        );
        let msg = Dataset::load(dir.path()).unwrap_err().to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(
            msg.contains("expected labels below 10, found label 10 at index 1"),
            "{msg}"
        );
    }

    #[test]
    fn wrong_ranks_and_image_sizes_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        write_dataset(dir.path(), 3, 3, false);
        write_file(
            dir.path(),
            "train-images-idx3-ubyte",
            &idx_bytes(&[3, 6], &[0; 18]),
            false,
        );
        let msg = Dataset::load(dir.path()).unwrap_err().to_string();
        assert!(
            msg.contains("train-images-idx3-ubyte: expected 3 dimensions"),
            "{msg}"
        );

        write_dataset(dir.path(), 3, 3, false);
        write_file(
            dir.path(),
            "train-labels-idx1-ubyte",
            &idx_bytes(&[3, 1], &[0; 3]),
            false,
        );
        let msg = Dataset::load(dir.path()).unwrap_err().to_string();
        assert!(
            msg.contains("train-labels-idx1-ubyte: expected 1 dimension"),
            "{msg}"
        );

        write_dataset(dir.path(), 3, 3, false);
        write_file(
            dir.path(),
            "t10k-images-idx3-ubyte",
            &idx_bytes(&[3, 3, 2], &[0; 18]),
            false,
        );
        let msg = Dataset::load(dir.path()).unwrap_err().to_string();
        assert!(
            msg.contains("expected test images of the training size 2x3, found 3x2"),
            "{msg}"
        );
    }
}
