//! The fused LSTM layer on the CPU: the forward pass over a whole chunk of time steps for every
//! batch row, and its backward pass (back-propagation through the chunk), on plain slices.
//!
//! Why it exists: built from burn's tensor ops, one time step of one layer is ~16 ops and ~16
//! autodiff nodes on `[batch, 4 * hidden]` tensors, so a 3-layer, 50-step iteration runs ~2,400
//! tiny ops forward and more backward, on one core. Here a layer's chunk is two loops.
//!
//! Layout (all row-major, rows time-major: row `t * batch + b`, as in the model):
//! - `xproj [T*B, 4H]`: the input projection of the whole chunk, bias included (one product
//!   outside, in burn), gates ordered `[i | f | o | g]`;
//! - `w_hh [H, 4H]`; `h0`, `c0` `[B, H]`.
//!
//! Batch rows are independent through time, so the rows are cut into one block per thread and
//! each thread runs the whole time loop for its block: no synchronisation per step. Each step's
//! recurrent product is one `gemm` call over the block; the weight gradient is one product over
//! all `T * B` rows afterwards, on every thread. The elementwise gate code is compiled for the
//! widest vector unit the CPU has (AVX-512, AVX2, or the baseline) and does the same IEEE
//! operations in each (no fused multiply-add), so results do not depend on the CPU.

use gemm::{gemm, Parallelism};

/// A block narrower than this runs on one thread: below it the per-step products are too
/// thin for a second thread to pay for its start.
const MIN_ROWS_PER_THREAD: usize = 8;

/// The sizes of one fused call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    pub steps: usize,
    pub batch: usize,
    pub hidden: usize,
}

impl Dims {
    fn rows(&self) -> usize {
        self.steps * self.batch
    }
}

/// A layer's input.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// `[T*B, 4H]`: the input projection, made outside (the first layer's row lookup of its
    /// one-hot input), without the bias.
    Projected(&'a [f32]),
    /// `x [T*B, width]` and `w_ih [width, 4H]`: the projection is made here, as one product.
    Dense { x: &'a [f32], w_ih: &'a [f32], width: usize },
}

/// What the forward pass computed and the backward pass reads.
#[derive(Clone, Debug)]
pub struct Forward {
    /// `[(T+1)*B, H]`: `h_0` (the initial state) then `h_1 .. h_T`.
    pub hs: Vec<f32>,
    /// `[(T+1)*B, H]`: `c_0 .. c_T`.
    pub cells: Vec<f32>,
    /// `[T*B, 4H]`: the gates after their activations (sigmoid for i, f, o; tanh for g).
    pub gates: Vec<f32>,
    /// `[T*B, H]`: `tanh(c_t)`.
    pub tanh_cells: Vec<f32>,
}

/// The gradients of one fused call's inputs.
#[derive(Clone, Debug)]
pub struct Grads {
    /// Of the input: the projection `[T*B, 4H]` for `Input::Projected`, `x [T*B, width]`
    /// for `Input::Dense`.
    pub input: Vec<f32>,
    /// `[width, 4H]`, for `Input::Dense` only.
    pub w_ih: Option<Vec<f32>>,
    /// `[4H]`.
    pub bias: Vec<f32>,
    /// `[H, 4H]`.
    pub w_hh: Vec<f32>,
    /// `[B, H]` each.
    pub h0: Vec<f32>,
    pub c0: Vec<f32>,
}

fn check_input(d: Dims, input: Input) {
    let (rows, g) = (d.rows(), 4 * d.hidden);
    match input {
        Input::Projected(p) => assert_eq!(p.len(), rows * g, "the projection is [T*B, 4H]"),
        Input::Dense { x, w_ih, width } => {
            assert_eq!(x.len(), rows * width, "x is [T*B, width]");
            assert_eq!(w_ih.len(), width * g, "w_ih is [width, 4H]");
        }
    }
}

/// Runs the layer over the chunk.
pub fn forward(
    d: Dims,
    input: Input,
    bias: &[f32],
    w_hh: &[f32],
    h0: &[f32],
    c0: &[f32],
) -> Forward {
    let (b, h, rows) = (d.batch, d.hidden, d.rows());
    check_input(d, input);
    assert_eq!(bias.len(), 4 * h, "bias is [4H]");
    assert_eq!(w_hh.len(), h * 4 * h, "w_hh is [H, 4H]");
    assert_eq!((h0.len(), c0.len()), (b * h, b * h), "h0 and c0 are [B, H]");
    // The gates start as the input projection; each step adds its recurrent product and the
    // bias, then activates them in place.
    let gates = match input {
        Input::Projected(p) => p.to_vec(),
        Input::Dense { x, w_ih, width } => {
            let mut g = vec![0.0; rows * 4 * h];
            par_matmul_rows(&mut g, Mat::new(x, rows, width), Mat::new(w_ih, width, 4 * h));
            g
        }
    };
    let mut out = Forward {
        hs: vec![0.0; rows * h + b * h],
        cells: vec![0.0; rows * h + b * h],
        gates,
        tanh_cells: vec![0.0; rows * h],
    };
    out.hs[..b * h].copy_from_slice(h0);
    out.cells[..b * h].copy_from_slice(c0);
    {
        let hs = SharedRows::new(&mut out.hs, h);
        let cells = SharedRows::new(&mut out.cells, h);
        let gates = SharedRows::new(&mut out.gates, 4 * h);
        let tanh_cells = SharedRows::new(&mut out.tanh_cells, h);
        for_each_block(b, MIN_ROWS_PER_THREAD, |first, n| {
            // SAFETY: each block touches only rows `t * B + first .. + n`, and blocks are
            // disjoint (see `for_each_block`).
            unsafe { forward_block(d, first, n, bias, w_hh, &hs, &cells, &gates, &tanh_cells) }
        });
    }
    out
}

/// Back-propagates `grad_h [T*B, H]` (of `h_1 .. h_T`) and `grad_c_last [B, H]` (of `c_T`)
/// through the chunk that `fwd` ran on `input`.
pub fn backward(
    d: Dims,
    fwd: &Forward,
    input: Input,
    w_hh: &[f32],
    grad_h: &[f32],
    grad_c_last: &[f32],
) -> Grads {
    let (b, h, rows) = (d.batch, d.hidden, d.rows());
    check_input(d, input);
    assert_eq!(grad_h.len(), rows * h, "grad_h is [T*B, H]");
    assert_eq!(grad_c_last.len(), b * h, "grad_c_last is [B, H]");
    // Products read their right-hand side row-major: with a transposed view instead, gemm
    // repacks it on every call (31 against 184 GFLOP/s for one step's product here).
    let w_hh_t = transposed(w_hh, h, 4 * h);
    let mut dgates = vec![0.0; rows * 4 * h];
    let mut h0 = vec![0.0; b * h];
    let mut c0 = grad_c_last.to_vec();
    {
        let dgates = SharedRows::new(&mut dgates, 4 * h);
        let dh0 = SharedRows::new(&mut h0, h);
        let dc0 = SharedRows::new(&mut c0, h);
        for_each_block(b, MIN_ROWS_PER_THREAD, |first, n| {
            // SAFETY: as in `forward`.
            unsafe { backward_block(d, first, n, fwd, &w_hh_t, grad_h, &dgates, &dh0, &dc0) }
        });
    }
    let dg = Mat::new(&dgates, rows, 4 * h);
    // dW_hh = H_prev^T dG over all T * B rows; H_prev is h_0 .. h_{T-1}, rows 0..T*B of `hs`.
    let mut w_hh = vec![0.0; h * 4 * h];
    par_matmul_cols(&mut w_hh, Mat::new(&fwd.hs[..rows * h], rows, h).t(), dg);
    let mut bias = vec![0.0; 4 * h];
    for row in dgates.chunks_exact(4 * h) {
        for (sum, g) in bias.iter_mut().zip(row) {
            *sum += g;
        }
    }
    let (input, w_ih) = match input {
        Input::Projected(_) => (dgates, None),
        Input::Dense { x, w_ih, width } => {
            let mut dx = vec![0.0; rows * width];
            par_matmul_rows(&mut dx, dg, Mat::new(&transposed(w_ih, width, 4 * h), 4 * h, width));
            let mut dw = vec![0.0; width * 4 * h];
            par_matmul_cols(&mut dw, Mat::new(x, rows, width).t(), dg);
            (dx, Some(dw))
        }
    };
    Grads { input, w_ih, bias, w_hh, h0, c0 }
}

fn transposed(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; m.len()];
    for (r, row) in m.chunks_exact(cols).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            t[c * rows + r] = v;
        }
    }
    t
}

/// Runs `work(first, n)` for disjoint blocks `first .. first + n` of `0 .. total`, one per
/// thread, each at least `min` long (a single block when `total < 2 * min`).
fn for_each_block(total: usize, min: usize, work: impl Fn(usize, usize) + Sync) {
    let threads = rayon::current_num_threads().min(total / min.max(1)).max(1);
    if threads == 1 {
        return work(0, total);
    }
    let per = total.div_ceil(threads);
    rayon::scope(|s| {
        for first in (0..total).step_by(per) {
            let work = &work;
            s.spawn(move |_| work(first, per.min(total - first)));
        }
    });
}

/// A read-only matrix view for `gemm`: `rows x cols` with strides, so that a transpose is a
/// view.
#[derive(Clone, Copy, Debug)]
struct Mat {
    ptr: *const f32,
    rows: usize,
    cols: usize,
    row_stride: isize,
    col_stride: isize,
}

// SAFETY: a Mat only reads, and lives no longer than the slice it was made from.
unsafe impl Send for Mat {}
unsafe impl Sync for Mat {}

impl Mat {
    /// A row-major `rows x cols` matrix.
    fn new(values: &[f32], rows: usize, cols: usize) -> Mat {
        assert_eq!(values.len(), rows * cols);
        Mat { ptr: values.as_ptr(), rows, cols, row_stride: cols as isize, col_stride: 1 }
    }

    fn t(self) -> Mat {
        Mat {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    fn rows(self, first: usize, n: usize) -> Mat {
        assert!(first + n <= self.rows);
        // SAFETY: within the matrix, checked above.
        Mat { ptr: unsafe { self.ptr.offset(first as isize * self.row_stride) }, rows: n, ..self }
    }

    fn cols(self, first: usize, n: usize) -> Mat {
        assert!(first + n <= self.cols);
        // SAFETY: within the matrix, checked above.
        Mat { ptr: unsafe { self.ptr.offset(first as isize * self.col_stride) }, cols: n, ..self }
    }
}

/// `dst = a b` (or `dst += a b`), `dst` row-major with row stride `ld`, on this thread.
///
/// SAFETY: `dst` holds `a.rows` rows of `b.cols` values at stride `ld`, and no one else
/// touches them meanwhile.
unsafe fn matmul(dst: *mut f32, ld: usize, a: Mat, b: Mat, accumulate: bool) {
    assert_eq!(a.cols, b.rows);
    gemm(
        a.rows,
        b.cols,
        a.cols,
        dst,
        1,
        ld as isize,
        accumulate,
        a.ptr,
        a.col_stride,
        a.row_stride,
        b.ptr,
        b.col_stride,
        b.row_stride,
        1.0,
        1.0,
        false,
        false,
        false,
        Parallelism::None,
    );
}

/// The output pointer of a product that threads write in disjoint parts.
#[derive(Clone, Copy)]
struct Out(*mut f32);
// SAFETY: each thread writes only its own block (see the callers).
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

impl Out {
    /// The pointer `offset` values on (a method, so closures capture the whole `Out`).
    unsafe fn at(&self, offset: usize) -> *mut f32 {
        self.0.add(offset)
    }
}

/// `dst = a b` with `a`'s rows cut into one block per thread. gemm's own threading does not
/// scale on this shape (218 against 388 GFLOP/s for two blocks on two cores here).
fn par_matmul_rows(dst: &mut [f32], a: Mat, b: Mat) {
    assert_eq!(dst.len(), a.rows * b.cols);
    let out = Out(dst.as_mut_ptr());
    for_each_block(a.rows, MIN_ROWS_PER_THREAD, |first, n| {
        // SAFETY: block `first .. first + n` of the rows is this thread's alone.
        unsafe { matmul(out.at(first * b.cols), b.cols, a.rows(first, n), b, false) }
    });
}

/// `dst = a b` with `b`'s columns cut into one block per thread (for products whose long
/// dimension is the inner one, like a weight gradient over all rows of a chunk).
fn par_matmul_cols(dst: &mut [f32], a: Mat, b: Mat) {
    assert_eq!(dst.len(), a.rows * b.cols);
    let out = Out(dst.as_mut_ptr());
    for_each_block(b.cols, MIN_ROWS_PER_THREAD, |first, n| {
        // SAFETY: block `first .. first + n` of the columns is this thread's alone.
        unsafe { matmul(out.at(first), b.cols, a, b.cols(first, n), false) }
    });
}

/// A row-major matrix that several threads write at once, each only its own rows.
struct SharedRows {
    ptr: *mut f32,
    width: usize,
    rows: usize,
}

// SAFETY: access goes through `rows_mut`/`rows`, whose callers promise disjoint rows.
unsafe impl Sync for SharedRows {}

impl SharedRows {
    fn new(values: &mut [f32], width: usize) -> Self {
        SharedRows { ptr: values.as_mut_ptr(), width, rows: values.len() / width }
    }

    /// Rows `first .. first + n`, which no one else reads or writes meanwhile.
    #[allow(clippy::mut_from_ref)]
    unsafe fn rows_mut(&self, first: usize, n: usize) -> &mut [f32] {
        assert!(first + n <= self.rows);
        std::slice::from_raw_parts_mut(self.ptr.add(first * self.width), n * self.width)
    }

    /// Rows `first .. first + n`, which no one writes meanwhile.
    unsafe fn rows(&self, first: usize, n: usize) -> &[f32] {
        assert!(first + n <= self.rows);
        std::slice::from_raw_parts(self.ptr.add(first * self.width), n * self.width)
    }
}

/// Defines `$name`, which calls the `#[inline(always)]` body `$generic` compiled for the widest
/// vector unit this CPU has (AVX-512, AVX2, else the baseline). The bodies take the block's
/// views one by one (as the generic body does) so that each stays a plain slice the compiler
/// can vectorise over.
macro_rules! widest_simd {
    ($name:ident calls $generic:ident ($($arg:ident: $ty:ty),*)) => {
        #[allow(clippy::too_many_arguments)]
        unsafe fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512($($arg: $ty),*) {
                    $generic($($arg),*)
                }

                #[target_feature(enable = "avx2")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($arg: $ty),*) {
                    $generic($($arg),*)
                }

                if std::arch::is_x86_feature_detected!("avx512f") {
                    return avx512($($arg),*);
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    return avx2($($arg),*);
                }
            }
            $generic($($arg),*)
        }
    };
}

widest_simd!(
    forward_block calls forward_block_generic
    (d: Dims, first: usize, n: usize, bias: &[f32], w_hh: &[f32], hs: &SharedRows,
     cells: &SharedRows, gates: &SharedRows, tanh_cells: &SharedRows)
);

/// The forward time loop for batch rows `first .. first + n`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn forward_block_generic(
    d: Dims,
    first: usize,
    n: usize,
    bias: &[f32],
    w_hh: &[f32],
    hs: &SharedRows,
    cells: &SharedRows,
    gates: &SharedRows,
    tanh_cells: &SharedRows,
) {
    let (b, h) = (d.batch, d.hidden);
    let w_hh = Mat::new(w_hh, h, 4 * h);
    for t in 0..d.steps {
        let row = t * b + first;
        let g = gates.rows_mut(row, n);
        let h_prev = hs.rows(row, n);
        matmul(g.as_mut_ptr(), 4 * h, Mat::new(h_prev, n, h), w_hh, true);
        let c_prev = cells.rows(row, n);
        let c = cells.rows_mut(row + b, n);
        let tc = tanh_cells.rows_mut(row, n);
        let h_new = hs.rows_mut(row + b, n);
        for r in 0..n {
            let s = r * h..(r + 1) * h;
            cell_forward(
                &mut g[r * 4 * h..(r + 1) * 4 * h],
                bias,
                &c_prev[s.clone()],
                &mut c[s.clone()],
                &mut tc[s.clone()],
                &mut h_new[s],
            );
        }
    }
}

/// One row's gates (activated in place) and its new cell and hidden state.
#[inline(always)]
fn cell_forward(
    g: &mut [f32],
    bias: &[f32],
    c_prev: &[f32],
    c: &mut [f32],
    tc: &mut [f32],
    h: &mut [f32],
) {
    let hd = c.len();
    for (x, b) in g.iter_mut().zip(bias) {
        *x += b;
    }
    let (ifo, cand) = g.split_at_mut(3 * hd);
    for x in ifo.iter_mut() {
        *x = sigmoid(*x);
    }
    for x in cand.iter_mut() {
        *x = tanh(*x);
    }
    let (i, fo) = ifo.split_at(hd);
    let (f, o) = fo.split_at(hd);
    for j in 0..hd {
        let cj = f[j] * c_prev[j] + i[j] * cand[j];
        let t = tanh(cj);
        c[j] = cj;
        tc[j] = t;
        h[j] = o[j] * t;
    }
}

widest_simd!(
    backward_block calls backward_block_generic
    (d: Dims, first: usize, n: usize, fwd: &Forward, w_hh_t: &[f32], grad_h: &[f32],
     dgates: &SharedRows, dh0: &SharedRows, dc0: &SharedRows)
);

/// The reverse time loop for batch rows `first .. first + n`. `dc0`'s rows hold the gradient
/// of `c_T` on entry and that of `c_0` on return.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn backward_block_generic<'a>(
    d: Dims,
    first: usize,
    n: usize,
    fwd: &'a Forward,
    w_hh_t: &[f32],
    grad_h: &[f32],
    dgates: &SharedRows,
    dh0: &SharedRows,
    dc0: &SharedRows,
) {
    let (b, h) = (d.batch, d.hidden);
    let w_hh_t = Mat::new(w_hh_t, 4 * h, h);
    // The gradient reaching h_t through the next step's recurrent product.
    let dh_next = dh0.rows_mut(first, n);
    dh_next.fill(0.0);
    let dc = dc0.rows_mut(first, n);
    for t in (0..d.steps).rev() {
        let row = t * b + first;
        let dg = dgates.rows_mut(row, n);
        for r in 0..n {
            let s = r * h..(r + 1) * h;
            let at = |v: &'a [f32], width: usize| &v[(row + r) * width..(row + r + 1) * width];
            cell_backward(
                &grad_h[(row + r) * h..(row + r + 1) * h],
                &dh_next[s.clone()],
                &mut dc[s],
                at(&fwd.gates, 4 * h),
                at(&fwd.tanh_cells, h),
                at(&fwd.cells, h),
                &mut dg[r * 4 * h..(r + 1) * 4 * h],
            );
        }
        // dh_next = dG W_hh^T
        matmul(dh_next.as_mut_ptr(), h, Mat::new(dg, n, 4 * h), w_hh_t, false);
    }
}

/// One row of one step backwards: from the gradients of `h_t` (`dh_out` from above, `dh_next`
/// through the recurrence) and of `c_t` (`dc`, replaced by that of `c_{t-1}`), the gradient of
/// the pre-activation gates `dg`. `c_prev` is `c_{t-1}`.
#[inline(always)]
fn cell_backward(
    dh_out: &[f32],
    dh_next: &[f32],
    dc: &mut [f32],
    g: &[f32],
    tc: &[f32],
    c_prev: &[f32],
    dg: &mut [f32],
) {
    let hd = dc.len();
    let (i, rest) = g.split_at(hd);
    let (f, rest) = rest.split_at(hd);
    let (o, cand) = rest.split_at(hd);
    let (di, rest) = dg.split_at_mut(hd);
    let (df, rest) = rest.split_at_mut(hd);
    let (dout, dcand) = rest.split_at_mut(hd);
    for j in 0..hd {
        let dh = dh_out[j] + dh_next[j];
        let dct = dc[j] + dh * o[j] * (1.0 - tc[j] * tc[j]);
        dout[j] = dh * tc[j] * o[j] * (1.0 - o[j]);
        di[j] = dct * cand[j] * i[j] * (1.0 - i[j]);
        df[j] = dct * c_prev[j] * f[j] * (1.0 - f[j]);
        dcand[j] = dct * i[j] * (1.0 - cand[j] * cand[j]);
        dc[j] = dct * f[j];
    }
}

/// Inputs beyond this are ±1 in f32 precision, and the rational form below would leave [-1, 1].
const TANH_CLAMP: f32 = 7.905_311;

/// tanh as a rational function (the minimax approximation Eigen and XNNPACK use), within
/// 4e-7 relative (~6 ulp); only `+ - * /` and comparisons, so it vectorises and gives the same bits
/// on every CPU. Not the sampler's `infer::math::tanh` (through its `exp`): sampling's golden
/// outputs pin that one's bits, and training only needs it close to burn's (the fused-layer
/// tests hold both layers within 1e-4).
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let x = x.clamp(-TANH_CLAMP, TANH_CLAMP);
    let x2 = x * x;
    let mut p = x2 * -2.760_768_5e-16 + 2.000_188e-13;
    p = x2 * p + -8.604_672e-11;
    p = x2 * p + 5.122_297e-8;
    p = x2 * p + 1.485_722_4e-5;
    p = x2 * p + 6.372_619_3e-4;
    p = x2 * p + 4.893_524_6e-3;
    let mut q = x2 * 1.198_258_4e-6 + 1.185_347e-4;
    q = x2 * q + 2.268_434_7e-3;
    q = x2 * q + 4.893_525e-3;
    x * p / q
}

/// sigmoid(x) = (1 + tanh(x / 2)) / 2.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    0.5 + 0.5 * tanh(0.5 * x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tanh_is_within_4e_7_relative_and_sigmoid_within_3e_7() {
        let mut x = -12.0f32;
        while x < 12.0 {
            let (ours, exact) = (tanh(x) as f64, (x as f64).tanh());
            assert!((ours - exact).abs() <= 4e-7 * exact.abs(), "tanh({x}) = {ours} vs {exact}");
            let (ours, exact) = (sigmoid(x) as f64, 1.0 / (1.0 + (-x as f64).exp()));
            // Absolute: 1 + tanh cancels for large negative x, where sigmoid is below 1e-5.
            assert!((ours - exact).abs() <= 3e-7, "sigmoid({x}) = {ours} vs {exact}");
            x += 0.000_73;
        }
        assert_eq!(tanh(100.0), tanh(TANH_CLAMP));
        assert!(tanh(TANH_CLAMP) <= 1.0 && tanh(-TANH_CLAMP) >= -1.0);
    }

    /// A plain scalar LSTM, the textbook equations one step at a time.
    fn reference(
        d: Dims,
        xproj: &[f32],
        w: &[f32],
        h0: &[f32],
        c0: &[f32],
    ) -> (Vec<f32>, Vec<f32>) {
        let (b, h) = (d.batch, d.hidden);
        let (mut hs, mut c) = (h0.to_vec(), c0.to_vec());
        let mut out = Vec::new();
        for t in 0..d.steps {
            let mut next_h = vec![0.0; b * h];
            for r in 0..b {
                let mut g: Vec<f64> =
                    (0..4 * h).map(|k| xproj[(t * b + r) * 4 * h + k] as f64).collect();
                for (k, gk) in g.iter_mut().enumerate() {
                    for j in 0..h {
                        *gk += hs[r * h + j] as f64 * w[j * 4 * h + k] as f64;
                    }
                }
                let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
                for j in 0..h {
                    let cj = sig(g[h + j]) * c[r * h + j] as f64 + sig(g[j]) * g[3 * h + j].tanh();
                    c[r * h + j] = cj as f32;
                    next_h[r * h + j] = (sig(g[2 * h + j]) * cj.tanh()) as f32;
                }
            }
            hs = next_h;
            out.extend_from_slice(&hs);
        }
        (out, c)
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32 - 0.5) * 2.0
            })
            .collect()
    }

    #[test]
    fn the_forward_pass_matches_the_textbook_equations_on_every_block_size() {
        for (steps, batch, hidden, width) in
            [(1, 1, 1, 1), (3, 2, 5, 3), (7, 17, 8, 6), (4, 33, 16, 9)]
        {
            let d = Dims { steps, batch, hidden };
            let rows = steps * batch;
            let x = values(rows * width, 1);
            let w_ih = values(width * 4 * hidden, 5);
            let bias = values(4 * hidden, 6);
            let w = values(hidden * 4 * hidden, 2);
            let (h0, c0) = (values(batch * hidden, 3), values(batch * hidden, 4));
            // The projection with its bias, for the reference.
            let xproj: Vec<f32> = (0..rows * 4 * hidden)
                .map(|e| {
                    let (r, k) = (e / (4 * hidden), e % (4 * hidden));
                    bias[k]
                        + (0..width)
                            .map(|j| x[r * width + j] * w_ih[j * 4 * hidden + k])
                            .sum::<f32>()
                })
                .collect();
            let (hs, c_last) = reference(d, &xproj, &w, &h0, &c0);
            let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5);
            let dense = forward(d, Input::Dense { x: &x, w_ih: &w_ih, width }, &bias, &w, &h0, &c0);
            assert!(close(&dense.hs[batch * hidden..], &hs), "h at {d:?}");
            assert!(close(&dense.cells[rows * hidden..], &c_last), "c at {d:?}");
            let zero = vec![0.0; 4 * hidden];
            let projected = forward(d, Input::Projected(&xproj), &zero, &w, &h0, &c0);
            assert!(close(&projected.hs[batch * hidden..], &hs), "h at {d:?}, projected");
        }
    }
}
