//! What the fused kernels need from candle's CPU storage: borrowed contiguous slices of the
//! inputs, and a way for parallel tasks to write disjoint parts of one output.
//!
//! Kernels read tensors in place (no copy to a `Vec`) and build their outputs as `Vec`s that
//! become tensors without a copy (`Tensor::from_vec`).

use std::any::Any;
use std::mem::MaybeUninit;
use std::sync::Mutex;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, Layout, Result, Storage, Tensor, WithDType, bail};
use num_traits::Float;

/// The float types the fused kernels are compiled for.
pub trait Real: Float + std::ops::AddAssign + WithDType + Send + Sync + 'static {}

impl Real for f32 {}
impl Real for f64 {}

/// The contiguous elements of a CPU tensor's storage under `layout`.
pub(crate) fn storage_slice<'a, F: WithDType>(
    storage: &'a CpuStorage,
    layout: &Layout,
    what: &str,
) -> Result<&'a [F]> {
    let Some((start, end)) = layout.contiguous_offsets() else {
        bail!("{what} must be contiguous (call .contiguous() first)")
    };
    Ok(&storage.as_slice::<F>()?[start..end])
}

/// Checks that a custom op's three inputs share one dtype; `inputs` names them in the error.
pub(crate) fn same_dtype(op: &str, inputs: &str, storages: [&CpuStorage; 3]) -> Result<()> {
    let [a, b, c] = storages.map(CpuStorage::dtype);
    if b != a || c != a {
        bail!("{op}: {inputs} must share one dtype, got {a:?}, {b:?}, {c:?}")
    }
    Ok(())
}

/// Runs `body` on the contiguous elements of `tensor`, which must live on the CPU.
pub(crate) fn with_slice<F: WithDType, R>(
    tensor: &Tensor,
    what: &str,
    body: impl FnOnce(&[F]) -> Result<R>,
) -> Result<R> {
    let (storage, layout) = tensor.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => body(storage_slice(cpu, layout, what)?),
        _ => bail!("{what}: the fused kernels run on the CPU only"),
    }
}

/// A mutable output shared by parallel tasks that each write a disjoint set of indices.
///
/// Written by hand because the tasks' index sets are strided (one batch row of a `[T, B, N]`
/// tensor is `T` separate runs), which `chunks_mut` cannot express.
pub(crate) struct DisjointWriter<F> {
    base: *mut F,
    len: usize,
}

// SAFETY: the writer only hands out slices through `run`, whose contract is that concurrent
// callers use disjoint ranges; `F: Send` values may then be written from any thread.
unsafe impl<F: Send> Send for DisjointWriter<F> {}
unsafe impl<F: Send> Sync for DisjointWriter<F> {}

impl<F> DisjointWriter<F> {
    pub(crate) fn new(buffer: &mut [F]) -> Self {
        DisjointWriter {
            base: buffer.as_mut_ptr(),
            len: buffer.len(),
        }
    }

    /// The elements `start..start + len`.
    ///
    /// # Safety
    /// No other task may access any element of this range while the returned slice lives.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn run(&self, start: usize, len: usize) -> &mut [F] {
        assert!(
            start + len <= self.len,
            "range {start}..{} outside an output of {}",
            start + len,
            self.len
        );
        // SAFETY: in bounds (checked above); exclusivity is the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.base.add(start), len) }
    }
}

/// A vector of `len` elements that `fill` writes, without zeroing them first: the `[T, B, N]`
/// outputs of the kernels are written whole, and zeroing them beforehand would be one more pass
/// over tens of megabytes per training step. Tasks that write strided parts of it in parallel
/// wrap the slice in a [`DisjointWriter`].
///
/// # Safety
/// `fill` must write every element before it returns.
pub(crate) unsafe fn filled<F>(len: usize, fill: impl FnOnce(&mut [MaybeUninit<F>])) -> Vec<F> {
    let mut out = Vec::with_capacity(len);
    fill(&mut out.spare_capacity_mut()[..len]);
    // SAFETY: the first `len` elements were allocated above and, by the caller's contract,
    // written by `fill`.
    unsafe { out.set_len(len) };
    out
}

/// `dst = src`, element by element, into memory that may not have been written yet.
pub(crate) fn write_all<F: Copy>(dst: &mut [MaybeUninit<F>], src: &[F]) {
    assert_eq!(dst.len(), src.len(), "write_all: lengths differ");
    dst.iter_mut().zip(src).for_each(|(d, &s)| {
        d.write(s);
    });
}

/// What a custom op's forward pass leaves for its backward pass (an op's inputs cannot change
/// in between): one value, taken once.
#[derive(Default)]
pub(crate) struct ForBackward(Mutex<Option<Box<dyn Any + Send>>>);

impl ForBackward {
    pub(crate) fn keep<T: Any + Send>(&self, value: T) {
        *self.0.lock().expect("no panic while holding the lock") = Some(Box::new(value));
    }

    /// The kept value, if one of type `T` is there (none when the forward pass ran in another
    /// dtype, or its value was taken already).
    pub(crate) fn take<T: Any + Send>(&self) -> Option<T> {
        let kept = self
            .0
            .lock()
            .expect("no panic while holding the lock")
            .take();
        kept.and_then(|k| k.downcast::<T>().ok()).map(|k| *k)
    }
}
