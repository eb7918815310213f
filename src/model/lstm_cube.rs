//! The fused LSTM layer on a GPU (burn's cubecl backend: wgpu natively, Vulkan, Metal, DX12):
//! the recurrence of a whole chunk as one kernel launch forward and one backward, and the rest
//! as a few large products in burn, as on the CPU (`lstm_cpu`).
//!
//! Why: built from burn's stock ops, one time step of one layer is ~16 small kernels forward and
//! more backward, each a launch on `[batch, 4 * hidden]` tensors: a 3-layer, 50-step iteration
//! is thousands of launches, and a GPU trained no faster than this 2-core CPU (issue 12). Here a
//! layer's chunk is: the input projection (one product, outside or in [`run`]), one launch of
//! [`lstm_forward`], and backward one launch of [`lstm_backward`] and four products.
//!
//! Batch rows are independent through time, so each workgroup runs one batch row's whole time
//! loop, one invocation per hidden unit, the state in workgroup memory: no launch per step.
//! Loop bounds around barriers are compile-time constants (WGSL's uniformity rules), so a
//! kernel is compiled per sequence length (a run has one or two).
//!
//! Layouts as `lstm_cpu`'s (row-major, rows time-major `t * batch + b`, gates `[i | f | o | g]`).

use burn::backend::ops::FloatTensorOps;
use burn::backend::{Cube, DType, TensorMetadata};
use burn::tensor::Shape;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

use super::lstm::{FusedLstm, FusedLstmKernels};
use crate::infer::cube_math::{sigmoid, tanh};

/// One invocation per hidden unit, and WebGPU guarantees 256 invocations per workgroup.
pub const MAX_HIDDEN: usize = 256;

/// The forward pass of one batch row (workgroup `b`, invocation `j` = hidden unit).
///
/// Reads `xproj [T*B, 4H]` (without the bias), `bias [4H]`, `w_hh [H, 4H]`, `h0`, `c0`
/// `[B, H]`. Writes `out [(T+1)*B, H]` (`h_1 .. h_T`, then `c_T`: the operation's output),
/// `hprev [T*B, H]` (`h_0 .. h_{T-1}`: the backward pass's weight gradient reads it), `cells
/// [(T+1)*B, H]` (`c_0 .. c_T`) and `gates [T*B, 4H]` (after their activations).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn lstm_forward(
    xproj: &[f32],
    bias: &[f32],
    w_hh: &[f32],
    h0: &[f32],
    c0: &[f32],
    out: &mut [f32],
    hprev: &mut [f32],
    cells: &mut [f32],
    gates: &mut [f32],
    #[comptime] steps: usize,
    #[comptime] batch: usize,
    #[comptime] hidden: usize,
) {
    let b = CUBE_POS_X as usize;
    let j = UNIT_POS as usize;
    let g4 = comptime!(4 * hidden);
    let mut h_sh = Shared::<[f32]>::new_slice(hidden);
    let mut c = c0[b * hidden + j];
    h_sh[j] = h0[b * hidden + j];
    cells[b * hidden + j] = c;
    sync_cube();
    for t in 0..steps {
        let row = t * batch + b;
        let mut gi = xproj[row * g4 + j] + bias[j];
        let mut gf = xproj[row * g4 + hidden + j] + bias[hidden + j];
        let mut go = xproj[row * g4 + 2 * hidden + j] + bias[2 * hidden + j];
        let mut gc = xproj[row * g4 + 3 * hidden + j] + bias[3 * hidden + j];
        // Four inputs per iteration where the width allows, unrolled: sixteen independent loads
        // in flight hide the memory latency (as the sampler's kernel, `infer::gpu`).
        if comptime!(hidden.is_multiple_of(4)) {
            for q in 0..comptime!(hidden / 4) {
                #[unroll]
                for u in 0..4usize {
                    let k = q * 4 + u;
                    let hk = h_sh[k];
                    let r = k * g4;
                    gi += hk * w_hh[r + j];
                    gf += hk * w_hh[r + hidden + j];
                    go += hk * w_hh[r + 2 * hidden + j];
                    gc += hk * w_hh[r + 3 * hidden + j];
                }
            }
        } else {
            for k in 0..hidden {
                let hk = h_sh[k];
                let r = k * g4;
                gi += hk * w_hh[r + j];
                gf += hk * w_hh[r + hidden + j];
                go += hk * w_hh[r + 2 * hidden + j];
                gc += hk * w_hh[r + 3 * hidden + j];
            }
        }
        let i = sigmoid(gi);
        let f = sigmoid(gf);
        let o = sigmoid(go);
        let g = tanh(gc);
        c = f * c + i * g;
        let h = o * tanh(c);
        gates[row * g4 + j] = i;
        gates[row * g4 + hidden + j] = f;
        gates[row * g4 + 2 * hidden + j] = o;
        gates[row * g4 + 3 * hidden + j] = g;
        hprev[row * hidden + j] = h_sh[j];
        // Every invocation has read the old h before any writes the new one.
        sync_cube();
        h_sh[j] = h;
        out[row * hidden + j] = h;
        cells[(row + batch) * hidden + j] = c;
        sync_cube();
    }
    out[(steps * batch + b) * hidden + j] = c;
}

/// The backward pass of one batch row through its chunk, in reverse time (workgroup `b`,
/// invocation `j`).
///
/// Reads the output's gradient `grad [(T+1)*B, H]` (of `h_1 .. h_T`, then of `c_T`), the
/// forward pass's `cells` and `gates`, and `w_hh_t [4H, H]` (`w_hh` transposed, so that the
/// invocations of a workgroup read adjacent words). Writes the gates' gradient `dgates
/// [T*B, 4H]` (before their activations: the gradient of the projection and the bias) and
/// `dh0`, `dc0` `[B, H]`.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn lstm_backward(
    grad: &[f32],
    cells: &[f32],
    gates: &[f32],
    w_hh_t: &[f32],
    dgates: &mut [f32],
    dh0: &mut [f32],
    dc0: &mut [f32],
    #[comptime] steps: usize,
    #[comptime] batch: usize,
    #[comptime] hidden: usize,
) {
    let b = CUBE_POS_X as usize;
    let j = UNIT_POS as usize;
    let g4 = comptime!(4 * hidden);
    let mut dg_sh = Shared::<[f32]>::new_slice(g4);
    let mut dh_next = 0.0f32.runtime();
    let mut dc = grad[(steps * batch + b) * hidden + j];
    for s in 0..steps {
        let t = steps - 1 - s;
        let row = t * batch + b;
        let dh = grad[row * hidden + j] + dh_next;
        let i = gates[row * g4 + j];
        let f = gates[row * g4 + hidden + j];
        let o = gates[row * g4 + 2 * hidden + j];
        let g = gates[row * g4 + 3 * hidden + j];
        let c_prev = cells[row * hidden + j];
        let tc = tanh(cells[(row + batch) * hidden + j]);
        dc += dh * o * (1.0 - tc * tc);
        let d_o = dh * tc * o * (1.0 - o);
        let d_i = dc * g * i * (1.0 - i);
        let d_f = dc * c_prev * f * (1.0 - f);
        let d_g = dc * i * (1.0 - g * g);
        dc *= f;
        dgates[row * g4 + j] = d_i;
        dgates[row * g4 + hidden + j] = d_f;
        dgates[row * g4 + 2 * hidden + j] = d_o;
        dgates[row * g4 + 3 * hidden + j] = d_g;
        dg_sh[j] = d_i;
        dg_sh[hidden + j] = d_f;
        dg_sh[2 * hidden + j] = d_o;
        dg_sh[3 * hidden + j] = d_g;
        sync_cube();
        // Four independent sums, unrolled (4H is a multiple of 4): loads in flight.
        let mut acc = Array::<f32>::new(4usize);
        #[unroll]
        for u in 0..4usize {
            acc[u] = 0.0;
        }
        for q in 0..hidden {
            #[unroll]
            for u in 0..4usize {
                let k = q * 4 + u;
                acc[u] += dg_sh[k] * w_hh_t[k * hidden + j];
            }
        }
        dh_next = (acc[0] + acc[1]) + (acc[2] + acc[3]);
        // Every invocation has read this step's gate gradients before any writes the next.
        sync_cube();
    }
    dh0[b * hidden + j] = dh_next;
    dc0[b * hidden + j] = dc;
}

/// Whether the kernels run a layer of `hidden` units.
pub fn supports(hidden: usize) -> bool {
    (1..=MAX_HIDDEN).contains(&hidden)
}

fn f32_tensor(t: CubeTensor) -> CubeTensor {
    assert_eq!(t.dtype(), DType::F32, "the fused LSTM runs in f32");
    into_contiguous(t)
}

fn empty(like: &CubeTensor, shape: impl Into<Shape>) -> CubeTensor {
    empty_device_contiguous_dtype(
        like.client.clone(),
        like.device.clone(),
        shape.into(),
        DType::F32,
    )
}

fn arg(t: &CubeTensor) -> BufferArg {
    // SAFETY (of the launches below): contiguous f32 tensors of the shapes the kernels index.
    unsafe { BufferArg::from_raw_parts(t.handle.clone(), t.meta.shape().num_elements()) }
}

/// A layer's input, as the backward pass needs it.
// One per layer call: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum CubeInput {
    /// The projection `[T*B, 4H]` was made outside.
    Projected,
    /// `x [T*B, I]` and `w_ih [I, 4H]`: the projection was made in [`run`].
    Dense { x: CubeTensor, w_ih: CubeTensor },
}

/// What the backward pass reads.
#[derive(Clone, Debug)]
pub struct CubeSaved {
    input: CubeInput,
    w_hh: CubeTensor,
    hprev: CubeTensor,
    cells: CubeTensor,
    gates: CubeTensor,
    steps: usize,
    batch: usize,
    hidden: usize,
}

/// Runs the forward kernel; returns the output `[(T+1)*B, H]` and what the backward pass reads.
fn run(
    input: CubeInput,
    xproj: CubeTensor,
    bias: CubeTensor,
    w_hh: CubeTensor,
    h0: CubeTensor,
    c0: CubeTensor,
) -> (CubeTensor, CubeSaved) {
    let (xproj, bias, w_hh) = (f32_tensor(xproj), f32_tensor(bias), f32_tensor(w_hh));
    let (h0, c0) = (f32_tensor(h0), f32_tensor(c0));
    let [batch, hidden] = h0.shape().dims();
    let rows = xproj.shape().dims::<2>()[0];
    assert!(supports(hidden), "{hidden} hidden units: the GPU layer takes 1 to {MAX_HIDDEN}");
    assert!(batch > 0 && rows % batch == 0, "the input has T*B rows for a state of B rows");
    let steps = rows / batch;
    let out = empty(&h0, [rows + batch, hidden]);
    let hprev = empty(&h0, [rows, hidden]);
    let cells = empty(&h0, [rows + batch, hidden]);
    let gates = empty(&h0, [rows, 4 * hidden]);
    // SAFETY: every buffer has the shape the kernel indexes (checked above and made here).
    unsafe {
        lstm_forward::launch_unchecked(
            &h0.client,
            CubeCount::Static(batch as u32, 1, 1),
            CubeDim::new_1d(hidden as u32),
            arg(&xproj),
            arg(&bias),
            arg(&w_hh),
            arg(&h0),
            arg(&c0),
            arg(&out),
            arg(&hprev),
            arg(&cells),
            arg(&gates),
            steps,
            batch,
            hidden,
        );
    }
    (out, CubeSaved { input, w_hh, hprev, cells, gates, steps, batch, hidden })
}

fn dense_run(
    x: CubeTensor,
    w_ih: CubeTensor,
    bias: CubeTensor,
    w_hh: CubeTensor,
    h0: CubeTensor,
    c0: CubeTensor,
) -> (CubeTensor, CubeSaved) {
    let xproj = Cube::float_matmul(x.clone(), w_ih.clone());
    run(CubeInput::Dense { x, w_ih }, xproj, bias, w_hh, h0, c0)
}

impl FusedLstm for Cube {
    fn lstm_layer(
        x: CubeTensor,
        w_ih: CubeTensor,
        bias: CubeTensor,
        w_hh: CubeTensor,
        h0: CubeTensor,
        c0: CubeTensor,
    ) -> CubeTensor {
        dense_run(x, w_ih, bias, w_hh, h0, c0).0
    }

    fn lstm_layer_projected(
        xproj: CubeTensor,
        bias: CubeTensor,
        w_hh: CubeTensor,
        h0: CubeTensor,
        c0: CubeTensor,
    ) -> CubeTensor {
        run(CubeInput::Projected, xproj, bias, w_hh, h0, c0).0
    }
}

impl FusedLstmKernels for Cube {
    type Saved = CubeSaved;

    fn lstm_layer_saving(
        x: CubeTensor,
        w_ih: CubeTensor,
        bias: CubeTensor,
        w_hh: CubeTensor,
        h0: CubeTensor,
        c0: CubeTensor,
    ) -> (CubeTensor, CubeSaved) {
        dense_run(x, w_ih, bias, w_hh, h0, c0)
    }

    fn lstm_layer_projected_saving(
        xproj: CubeTensor,
        bias: CubeTensor,
        w_hh: CubeTensor,
        h0: CubeTensor,
        c0: CubeTensor,
    ) -> (CubeTensor, CubeSaved) {
        run(CubeInput::Projected, xproj, bias, w_hh, h0, c0)
    }

    fn lstm_layer_backward(saved: CubeSaved, grad: CubeTensor) -> Vec<CubeTensor> {
        let CubeSaved { input, w_hh, hprev, cells, gates, steps, batch, hidden } = saved;
        let grad = f32_tensor(grad);
        let rows = steps * batch;
        let w_hh_t = into_contiguous(Cube::float_transpose(w_hh));
        let dgates = empty(&grad, [rows, 4 * hidden]);
        let dh0 = empty(&grad, [batch, hidden]);
        let dc0 = empty(&grad, [batch, hidden]);
        // SAFETY: every buffer has the shape the kernel indexes (made by `run` or here).
        unsafe {
            lstm_backward::launch_unchecked(
                &grad.client,
                CubeCount::Static(batch as u32, 1, 1),
                CubeDim::new_1d(hidden as u32),
                arg(&grad),
                arg(&cells),
                arg(&gates),
                arg(&w_hh_t),
                arg(&dgates),
                arg(&dh0),
                arg(&dc0),
                steps,
                batch,
                hidden,
            );
        }
        // The weight gradients over all T*B rows at once.
        let dbias =
            Cube::float_reshape(Cube::float_sum_dim(dgates.clone(), 0), [4 * hidden].into());
        let dw_hh = Cube::float_matmul(Cube::float_transpose(hprev), dgates.clone());
        let mut out = Vec::with_capacity(6);
        match input {
            CubeInput::Projected => out.push(dgates),
            CubeInput::Dense { x, w_ih } => {
                out.push(Cube::float_matmul(dgates.clone(), Cube::float_transpose(w_ih)));
                out.push(Cube::float_matmul(Cube::float_transpose(x), dgates));
            }
        }
        out.extend([dbias, dw_hh, dh0, dc0]);
        out
    }
}
