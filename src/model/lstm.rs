//! The fused LSTM layer as one burn operation with a hand-written backward pass (burn's
//! backend extension): a layer's whole chunk of time steps is one autodiff node instead of
//! ~16 per step, so the embedding, the input projection, the output layer, the loss, Adam,
//! clipping, dropout and checkpoints stay burn's while the recurrence runs as two loops
//! (`lstm_cpu`) or two kernel launches (`lstm_cube`).
//!
//! The operation takes `xproj [T*B, 4H]` (the chunk's input projection, without the bias; or
//! the input and `w_ih`, to project inside), `bias [4H]`, `w_hh [H, 4H]` and the state `h0`,
//! `c0` `[B, H]`, and returns one tensor
//! `[(T+1)*B, H]`: `h_1 .. h_T`, then `c_T`. One output because an autodiff node has one; the
//! caller slices it with ordinary (differentiable) ops.
//!
//! It runs on burn's CPU backend (flex; `lstm_cpu`) and on its cubecl backend (a GPU through
//! wgpu; `lstm_cube`), with or without autodiff. Elsewhere the model uses the stock burn layer
//! (`CharLstm::forward_stock`), which is also the reference the tests hold this one to.

use std::fmt::Debug;
use std::sync::Arc;

#[cfg(feature = "cli")]
use burn::backend::autodiff::{
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, NodeGuard, Ops, OpsKind},
    Autodiff,
};
use burn::backend::{
    backend_extension, flex::FlexTensor, tensor::FloatTensor, Backend, DType, Dispatch,
    DispatchDevice, Flex, TensorMetadata,
};
use burn::tensor::{Device, Shape, Tensor, TensorData};

use super::lstm_cpu::{self, Dims};

/// The fused layer, dispatched by burn to the backend of its tensors. Both return
/// `[(T+1)*B, H]`: `h_1 .. h_T` then `c_T`, time-major.
#[backend_extension(Flex, Cube: cfg(feature = "wgpu"), Autodiff: cfg(feature = "cli"))]
pub trait FusedLstm: Backend {
    /// A layer over its input `x [T*B, I]`: the projection `x w_ih` is made inside.
    fn lstm_layer(
        x: FloatTensor<Self>,
        w_ih: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// A layer over an input projection `[T*B, 4H]` made outside, without the bias (the first
    /// layer's row lookup of its one-hot input).
    fn lstm_layer_projected(
        xproj: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// The per-backend halves of training: the forward pass that keeps what the backward pass
/// needs, and the backward pass.
pub trait FusedLstmKernels: Backend {
    type Saved: Clone + Send + Debug + 'static;

    fn lstm_layer_saving(
        x: FloatTensor<Self>,
        w_ih: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, Self::Saved);

    fn lstm_layer_projected_saving(
        xproj: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, Self::Saved);

    /// The gradients of the call's inputs, in the order of its arguments, from that of its
    /// output.
    fn lstm_layer_backward(saved: Self::Saved, grad: FloatTensor<Self>) -> Vec<FloatTensor<Self>>;
}

/// Whether the fused layer runs on tensors of this device, for layers of `hidden` units: on the
/// CPU (flex) always, on a GPU (cubecl) up to [`super::lstm_cube::MAX_HIDDEN`].
pub fn runs_on(device: &Device, hidden: usize) -> bool {
    match device.clone().inner().as_dispatch() {
        DispatchDevice::Flex(_) => true,
        #[cfg(feature = "wgpu")]
        DispatchDevice::Cube(_) => super::lstm_cube::supports(hidden),
        #[allow(unreachable_patterns)]
        _ => false,
    }
}

/// What a layer call returns: `h_1 .. h_T` as `[T*B, H]`, and the final `(h_T, c_T)`.
pub type LayerOutput = (Tensor<2>, (Tensor<2>, Tensor<2>));

fn split_output(out: FloatTensor<Dispatch>, rows: usize, batch: usize) -> LayerOutput {
    let out: Tensor<2> = Tensor::from_dispatch(out);
    let h_last = out.clone().narrow(0, rows - batch, batch);
    let c_last = out.clone().narrow(0, rows, batch);
    (out.narrow(0, 0, rows), (h_last, c_last))
}

/// Runs one layer over a chunk of its input `x [T*B, I]`.
pub fn layer(
    x: Tensor<2>,
    w_ih: Tensor<2>,
    bias: Tensor<1>,
    w_hh: Tensor<2>,
    (h0, c0): (Tensor<2>, Tensor<2>),
) -> LayerOutput {
    let (rows, batch) = (x.dims()[0], h0.dims()[0]);
    let out = <Dispatch as FusedLstm>::lstm_layer(
        x.into_dispatch(),
        w_ih.into_dispatch(),
        bias.into_dispatch(),
        w_hh.into_dispatch(),
        h0.into_dispatch(),
        c0.into_dispatch(),
    );
    split_output(out, rows, batch)
}

/// Runs one layer over a chunk's input projection `[T*B, 4H]` (without the bias).
pub fn layer_projected(
    xproj: Tensor<2>,
    bias: Tensor<1>,
    w_hh: Tensor<2>,
    (h0, c0): (Tensor<2>, Tensor<2>),
) -> LayerOutput {
    let (rows, batch) = (xproj.dims()[0], h0.dims()[0]);
    let out = <Dispatch as FusedLstm>::lstm_layer_projected(
        xproj.into_dispatch(),
        bias.into_dispatch(),
        w_hh.into_dispatch(),
        h0.into_dispatch(),
        c0.into_dispatch(),
    );
    split_output(out, rows, batch)
}

/// A flex tensor's values, which the kernels read as one contiguous f32 slice.
fn values(t: &FlexTensor) -> &[f32] {
    assert_eq!(t.dtype(), DType::F32, "the fused LSTM runs in f32");
    t.as_slice::<f32>().expect("contiguous after `contiguous`")
}

fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.is_contiguous() {
        t
    } else {
        t.to_contiguous()
    }
}

fn tensor(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.into()))
}

/// A layer's input as the flex kernels keep it for the backward pass.
#[derive(Debug)]
enum FlexInput {
    Projected(FlexTensor),
    Dense { x: FlexTensor, w_ih: FlexTensor },
}

impl FlexInput {
    fn view(&self) -> lstm_cpu::Input<'_> {
        match self {
            FlexInput::Projected(p) => lstm_cpu::Input::Projected(values(p)),
            FlexInput::Dense { x, w_ih } => lstm_cpu::Input::Dense {
                x: values(x),
                w_ih: values(w_ih),
                width: x.shape().dims::<2>()[1],
            },
        }
    }
}

/// One flex call: its sizes, its tensors, and (once run) what its forward pass computed.
#[derive(Debug)]
struct FlexCall {
    dims: Dims,
    input: FlexInput,
    w_hh: FlexTensor,
    forward: lstm_cpu::Forward,
}

/// What the flex backward pass reads.
#[derive(Clone, Debug)]
pub struct FlexSaved(Arc<FlexCall>);

fn flex_run(
    input: FlexInput,
    bias: FlexTensor,
    w_hh: FlexTensor,
    h0: FlexTensor,
    c0: FlexTensor,
) -> (FlexTensor, FlexCall) {
    let (bias, w_hh, h0, c0) = (contiguous(bias), contiguous(w_hh), contiguous(h0), contiguous(c0));
    let [batch, hidden] = h0.shape().dims();
    let rows = match &input {
        FlexInput::Projected(p) => p.shape().dims::<2>()[0],
        FlexInput::Dense { x, .. } => x.shape().dims::<2>()[0],
    };
    assert!(batch > 0 && rows % batch == 0, "the input has T*B rows for a state of B rows");
    let dims = Dims { steps: rows / batch, batch, hidden };
    let forward = lstm_cpu::forward(
        dims,
        input.view(),
        values(&bias),
        values(&w_hh),
        values(&h0),
        values(&c0),
    );
    let (bh, rows_h) = (batch * hidden, rows * hidden);
    let mut out = Vec::with_capacity(rows_h + bh);
    out.extend_from_slice(&forward.hs[bh..]);
    out.extend_from_slice(&forward.cells[rows_h..]);
    (tensor(out, [rows + batch, hidden]), FlexCall { dims, input, w_hh, forward })
}

fn dense(x: FlexTensor, w_ih: FlexTensor) -> FlexInput {
    FlexInput::Dense { x: contiguous(x), w_ih: contiguous(w_ih) }
}

impl FusedLstm for Flex {
    fn lstm_layer(
        x: FlexTensor,
        w_ih: FlexTensor,
        bias: FlexTensor,
        w_hh: FlexTensor,
        h0: FlexTensor,
        c0: FlexTensor,
    ) -> FlexTensor {
        flex_run(dense(x, w_ih), bias, w_hh, h0, c0).0
    }

    fn lstm_layer_projected(
        xproj: FlexTensor,
        bias: FlexTensor,
        w_hh: FlexTensor,
        h0: FlexTensor,
        c0: FlexTensor,
    ) -> FlexTensor {
        flex_run(FlexInput::Projected(contiguous(xproj)), bias, w_hh, h0, c0).0
    }
}

impl FusedLstmKernels for Flex {
    type Saved = FlexSaved;

    fn lstm_layer_saving(
        x: FlexTensor,
        w_ih: FlexTensor,
        bias: FlexTensor,
        w_hh: FlexTensor,
        h0: FlexTensor,
        c0: FlexTensor,
    ) -> (FlexTensor, FlexSaved) {
        let (out, call) = flex_run(dense(x, w_ih), bias, w_hh, h0, c0);
        (out, FlexSaved(Arc::new(call)))
    }

    fn lstm_layer_projected_saving(
        xproj: FlexTensor,
        bias: FlexTensor,
        w_hh: FlexTensor,
        h0: FlexTensor,
        c0: FlexTensor,
    ) -> (FlexTensor, FlexSaved) {
        let (out, call) = flex_run(FlexInput::Projected(contiguous(xproj)), bias, w_hh, h0, c0);
        (out, FlexSaved(Arc::new(call)))
    }

    fn lstm_layer_backward(saved: FlexSaved, grad: FlexTensor) -> Vec<FlexTensor> {
        let call = &*saved.0;
        let Dims { steps, batch: b, hidden: h } = call.dims;
        let grad = contiguous(grad);
        let (g, rows_h) = (values(&grad), steps * b * h);
        let input = call.input.view();
        let grads = lstm_cpu::backward(
            call.dims,
            &call.forward,
            input,
            values(&call.w_hh),
            &g[..rows_h],
            &g[rows_h..],
        );
        let rows = steps * b;
        let mut out = Vec::with_capacity(6);
        match input {
            lstm_cpu::Input::Projected(_) => out.push(tensor(grads.input, [rows, 4 * h])),
            lstm_cpu::Input::Dense { width, .. } => {
                out.push(tensor(grads.input, [rows, width]));
                out.push(tensor(grads.w_ih.expect("dense input"), [width, 4 * h]));
            }
        }
        out.push(tensor(grads.bias, [4 * h]));
        out.push(tensor(grads.w_hh, [h, 4 * h]));
        out.push(tensor(grads.h0, [b, h]));
        out.push(tensor(grads.c0, [b, h]));
        out
    }
}

/// The autodiff node of one layer call with `N` inputs.
#[cfg(feature = "cli")]
#[derive(Debug)]
struct LayerBackward<const N: usize>;

#[cfg(feature = "cli")]
impl<B: FusedLstmKernels, const N: usize> Backward<B, N> for LayerBackward<N> {
    type State = B::Saved;

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let inputs = B::lstm_layer_backward(ops.state, grad);
        // Parents are in the order of the call's arguments; untracked ones are None.
        for (parent, g) in ops.parents.into_iter().zip(inputs) {
            if let Some(parent) = parent {
                grads.register::<B>(parent.id, g);
            }
        }
    }
}

#[cfg(feature = "cli")]
impl<B: FusedLstm + FusedLstmKernels, C: CheckpointStrategy> FusedLstm for Autodiff<B, C> {
    fn lstm_layer(
        x: FloatTensor<Self>,
        w_ih: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let nodes = [x.node(), w_ih.node(), bias.node(), w_hh.node(), h0.node(), c0.node()];
        let args = (
            x.into_primitive(),
            w_ih.into_primitive(),
            bias.into_primitive(),
            w_hh.into_primitive(),
            h0.into_primitive(),
            c0.into_primitive(),
        );
        record_call::<B, C, _, 6>(
            nodes,
            args,
            |(x, w_ih, bias, w_hh, h0, c0)| B::lstm_layer_saving(x, w_ih, bias, w_hh, h0, c0),
            |(x, w_ih, bias, w_hh, h0, c0)| B::lstm_layer(x, w_ih, bias, w_hh, h0, c0),
        )
    }

    fn lstm_layer_projected(
        xproj: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let nodes = [xproj.node(), bias.node(), w_hh.node(), h0.node(), c0.node()];
        let args = (
            xproj.into_primitive(),
            bias.into_primitive(),
            w_hh.into_primitive(),
            h0.into_primitive(),
            c0.into_primitive(),
        );
        record_call::<B, C, _, 5>(
            nodes,
            args,
            |(xproj, bias, w_hh, h0, c0)| B::lstm_layer_projected_saving(xproj, bias, w_hh, h0, c0),
            |(xproj, bias, w_hh, h0, c0)| B::lstm_layer_projected(xproj, bias, w_hh, h0, c0),
        )
    }
}

/// One layer call with `N` inputs in the autodiff graph: when a gradient is wanted, `saving`
/// runs and its saved state goes with the node to the backward pass; otherwise `plain` runs.
/// Compute-bound: the node keeps what its backward pass needs instead of recomputing it.
#[cfg(feature = "cli")]
fn record_call<B: FusedLstmKernels, C: CheckpointStrategy, A, const N: usize>(
    nodes: [NodeGuard; N],
    args: A,
    saving: impl FnOnce(A) -> (FloatTensor<B>, B::Saved),
    plain: impl FnOnce(A) -> FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>> {
    match LayerBackward::<N>.prepare::<C>(nodes).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let (out, saved) = saving(args);
            prep.finish(saved, out)
        }
        OpsKind::UnTracked(prep) => prep.finish(plain(args)),
    }
}
