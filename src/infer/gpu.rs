//! The LSTM sampling loop on a GPU (WebGPU in the browser; Vulkan, Metal or DX12 natively),
//! written in CubeCL, burn's kernel language, and run on cubecl's wgpu runtime, the one under
//! burn-wgpu.
//!
//! One kernel launch (one dispatch) runs a chunk of up to [`CHUNK`] characters: every LSTM
//! layer, the output layer and the draw at the temperature (the Gumbel-max trick on a hash
//! random stream, reduced across the workgroup), one workgroup per sample with one invocation
//! per hidden unit. The host reads back once per chunk: the drawn candidates and their logits.
//!
//! The grammar stays on the CPU: the sampling loop (`crate::sampler::gpu`) takes the
//! candidates a line at a time as the CPU sampler draws them, and draws a refused line again
//! from the state it began from, which a launch copies to [`ANCHOR_SLOT`] before it could
//! overwrite it. The next launch starts from the LSTM state saved at the last step taken, so no
//! work is redone on the CPU. A launch therefore yields between 0 (a line refused) and
//! [`CHUNK`] characters.
//!
//! Loop bounds that contain barriers are compile-time constants (layers, steps), as WGSL's
//! uniformity rules require; a chunk stays at 64 steps, well below the ~65,535-iteration limit
//! some drivers put on shader loops.

use std::sync::Arc;

use cubecl::client::Client;
use cubecl::prelude::*;
use cubecl::server::Handle;
use cubecl::wgpu::WgpuDevice;

use crate::infer::cube_math::{sigmoid, tanh};
use crate::infer::CpuModel;
use crate::kern::clock::UNKNOWN;
use crate::weights::Hyper;

/// The most characters one launch runs.
pub const CHUNK: usize = 64;
/// The fewest: a launch runs 8, 16, 32 or 64 steps (four compiled variants), about twice the
/// run of candidates the grammar has been accepting, so little work is thrown away.
pub const MIN_STEPS: usize = 8;
/// Control words per sample of a launch before its forced tokens (see [`lstm_chunk`]).
const CTRL_HEAD: usize = 7;
/// Control words per sample of a launch (see [`lstm_chunk`]).
pub(crate) const CTRL: usize = CTRL_HEAD + CHUNK;
/// The state slot a launch can keep a state in for later launches (see [`lstm_chunk`]'s
/// `save`): the last, which no launch of fewer than [`CHUNK`] steps writes. The sampler keeps
/// the state a line began from there, so that it can draw a refused line again.
pub const ANCHOR_SLOT: usize = CHUNK - 1;
/// "Save nothing" in a launch's `save` word.
pub(crate) const NO_SAVE: u32 = u32::MAX;
/// The most samples one launch runs (one workgroup each).
pub const MAX_BATCH: usize = 64;
/// WebGPU guarantees 256 invocations per workgroup; the kernel uses one per hidden unit.
pub const MAX_HIDDEN: usize = 256;
/// WebGPU guarantees 16 KiB of workgroup memory: h and c of every layer, the logits and the
/// draw's reduction.
const MAX_SHARED_BYTES: usize = 16 * 1024;

/// Why the GPU cannot sample (the caller falls back to the CPU and says why).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GpuError {
    #[error("no GPU: {0}")]
    Unavailable(String),
    #[error("this model does not fit the GPU sampler: {0}")]
    Unsupported(String),
    #[error("the GPU failed: {0}")]
    Device(String),
}

/// PCG hash (O'Neill; Jarzynski and Olano, "Hash functions for GPU rendering", 2020).
#[cube]
fn pcg_hash(v: u32) -> u32 {
    let state = v * 747796405u32 + 2891336453u32;
    let word = ((state >> ((state >> 28u32) + 4u32)) ^ state) * 277803737u32;
    (word >> 22u32) ^ word
}

/// One chunk of `steps` characters for each of CUBE_COUNT samples (one workgroup each).
///
/// Four storage buffers (WebGPU guarantees 8 per stage; cubecl adds one for its metadata):
/// - `params`: every weight, in the order of [`GpuModel::new`] (offsets follow from the sizes);
/// - `ctrl`: per sample `b`, from `b * (7 + slots)`: start slot, first token, forced count,
///   position of the first candidate in the sample (step k draws the random number of position
///   + k), random seed, a slot to save (copied to the last slot, [`ANCHOR_SLOT`], before any
///   step runs; [`NO_SAVE`] for none), the measure clock's class fed with every token of the
///   launch (`clock`: a model that reads it; the host ends a sample's run at a line's end,
///   where the class changes), then `slots` forced tokens;
/// - `states`: per sample, `slots` states (h then c of every layer);
/// - `out`: per sample, from `b * slots * (vocab + 1)`: `slots` rows of logits, then `slots`
///   candidates (as f32, exact below 2^24).
///
/// The state is read from slot `start`, `first` is fed, then each step feeds the next forced
/// token (for k below the forced count) or the candidate it just drew. Step k writes its state
/// to slot k, its logits to row k and its candidate to entry k (each sample owns `slots` =
/// [`CHUNK`] of each, whatever `steps` this launch runs).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn lstm_chunk(
    params: &[f32],
    ctrl: &[u32],
    states: &mut [f32],
    out: &mut [f32],
    inv_temperature: f32,
    argmax: u32,
    #[comptime] layers: usize,
    #[comptime] hidden: usize,
    #[comptime] vocab: usize,
    #[comptime] steps: usize,
    #[comptime] slots: usize,
    #[comptime] clock: bool,
) {
    let b = CUBE_POS_X as usize;
    let j = UNIT_POS as usize;
    let g4 = comptime!(4 * hidden);
    let lh = comptime!(layers * hidden);
    let off_up = comptime!(vocab * 4 * hidden);
    let off_hh = comptime!(vocab * 4 * hidden + (layers - 1) * hidden * 4 * hidden);
    let off_bias = comptime!(vocab * 4 * hidden + (2 * layers - 1) * hidden * 4 * hidden);
    let off_hw = comptime!(
        vocab * 4 * hidden + (2 * layers - 1) * hidden * 4 * hidden + layers * 4 * hidden
    );
    let off_hb = comptime!(
        vocab * 4 * hidden
            + (2 * layers - 1) * hidden * 4 * hidden
            + layers * 4 * hidden
            + hidden * vocab
    );
    let off_clock = comptime!(
        vocab * 4 * hidden
            + (2 * layers - 1) * hidden * 4 * hidden
            + layers * 4 * hidden
            + hidden * vocab
            + vocab
    );
    let mut h_sh = Shared::<[f32]>::new_slice(comptime!(layers * hidden));
    let mut c_sh = Shared::<[f32]>::new_slice(comptime!(layers * hidden));
    let mut lg_sh = Shared::<[f32]>::new_slice(vocab);
    let mut red_s = Shared::<[f32]>::new_slice(hidden);
    let mut red_i = Shared::<[u32]>::new_slice(hidden);
    let mut tok = Shared::<u32>::new();

    let cb = b * comptime!(CTRL_HEAD + slots);
    let start = ctrl[cb] as usize;
    let n_forced = ctrl[cb + 2] as usize;
    let counter = ctrl[cb + 3];
    let seed = ctrl[cb + 4];
    let save = ctrl[cb + 5];
    let clock_row = off_clock + ctrl[cb + 6] as usize * g4;
    let ob = b * comptime!(slots * (vocab + 1));
    let slot0 = (b * slots + start) * 2 * lh;
    for l in 0..layers {
        h_sh[l * hidden + j] = states[slot0 + l * hidden + j];
        c_sh[l * hidden + j] = states[slot0 + lh + l * hidden + j];
    }
    // Each invocation copies its own units, before it writes any slot in the steps below.
    if save < comptime!(slots as u32) {
        let from = (b * slots + save as usize) * 2 * lh;
        let to = (b * slots + comptime!(slots - 1)) * 2 * lh;
        for l in 0..layers {
            states[to + l * hidden + j] = states[from + l * hidden + j];
            states[to + lh + l * hidden + j] = states[from + lh + l * hidden + j];
        }
    }
    if j == 0 {
        *tok = ctrl[cb + 1];
    }
    sync_cube();

    for k in 0..steps {
        let x = *tok as usize;
        let slot = (b * slots + k) * 2 * lh;
        for l in 0..layers {
            let mut gi = params[off_bias + l * g4 + j];
            let mut gf = params[off_bias + l * g4 + hidden + j];
            let mut go = params[off_bias + l * g4 + 2 * hidden + j];
            let mut gc = params[off_bias + l * g4 + 3 * hidden + j];
            if l == 0 {
                let row = x * g4;
                gi += params[row + j];
                gf += params[row + hidden + j];
                go += params[row + 2 * hidden + j];
                gc += params[row + 3 * hidden + j];
                if comptime!(clock) {
                    gi += params[clock_row + j];
                    gf += params[clock_row + hidden + j];
                    go += params[clock_row + 2 * hidden + j];
                    gc += params[clock_row + 3 * hidden + j];
                }
            } else {
                // Four inputs per iteration, unrolled: sixteen independent loads in flight
                // instead of four hide the memory latency (hidden is a multiple of 4).
                for q in 0..comptime!(hidden / 4) {
                    #[unroll]
                    for u in 0..4usize {
                        let i = q * 4 + u;
                        let xi = h_sh[(l - 1) * hidden + i];
                        let row = off_up + ((l - 1) * hidden + i) * g4;
                        gi += xi * params[row + j];
                        gf += xi * params[row + hidden + j];
                        go += xi * params[row + 2 * hidden + j];
                        gc += xi * params[row + 3 * hidden + j];
                    }
                }
            }
            for q in 0..comptime!(hidden / 4) {
                #[unroll]
                for u in 0..4usize {
                    let i = q * 4 + u;
                    let hi = h_sh[l * hidden + i];
                    let row = off_hh + (l * hidden + i) * g4;
                    gi += hi * params[row + j];
                    gf += hi * params[row + hidden + j];
                    go += hi * params[row + 2 * hidden + j];
                    gc += hi * params[row + 3 * hidden + j];
                }
            }
            let c = sigmoid(gf) * c_sh[l * hidden + j] + sigmoid(gi) * tanh(gc);
            let h = sigmoid(go) * tanh(c);
            // Every invocation has read this layer's old h before any writes the new one.
            sync_cube();
            h_sh[l * hidden + j] = h;
            c_sh[l * hidden + j] = c;
            states[slot + l * hidden + j] = h;
            states[slot + lh + l * hidden + j] = c;
            sync_cube();
        }

        let top = (layers - 1) * hidden;
        let mut v = j;
        while v < vocab {
            let mut acc = params[off_hb + v];
            for q in 0..comptime!(hidden / 4) {
                #[unroll]
                for u in 0..4usize {
                    let i = q * 4 + u;
                    acc += h_sh[top + i] * params[off_hw + i * vocab + v];
                }
            }
            lg_sh[v] = acc;
            out[ob + k * vocab + v] = acc;
            v += hidden;
        }
        sync_cube();

        // The draw, in parallel: the Gumbel-max trick (argmax over logit / T + Gumbel noise is
        // a draw from softmax(logit / T)), each invocation over its own characters, then a
        // tree reduction; argmax mode leaves the noise out. Ties go to the lower index, as on
        // the CPU.
        let r0 = pcg_hash(seed ^ pcg_hash(counter + k as u32));
        let mut best_s = (-3.0e38f32).runtime();
        let mut best_i = u32::cast_from(vocab);
        let mut v = j;
        while v < vocab {
            let mut score = lg_sh[v];
            if argmax == 0u32 {
                let r = pcg_hash(r0 + v as u32);
                let u = (f32::cast_from(r >> 8u32) + 0.5f32) * (1.0f32 / 16777216.0f32);
                score = score * inv_temperature - f32::ln(-f32::ln(u));
            }
            if score > best_s {
                best_s = score;
                best_i = v as u32;
            }
            v += hidden;
        }
        red_s[j] = best_s;
        red_i[j] = best_i;
        sync_cube();
        for level in 0..comptime!(hidden.next_power_of_two().trailing_zeros() as usize) {
            let stride = comptime!(hidden.next_power_of_two() / 2) >> level;
            if j < stride && j + stride < hidden {
                let other_s = red_s[j + stride];
                let other_i = red_i[j + stride];
                if other_s > red_s[j] || (other_s == red_s[j] && other_i < red_i[j]) {
                    red_s[j] = other_s;
                    red_i[j] = other_i;
                }
            }
            sync_cube();
        }

        if j == 0 {
            let pick = red_i[0] as usize;
            out[ob + comptime!(slots * vocab) + k] = f32::cast_from(pick as u32);
            if k + 1 < n_forced {
                *tok = ctrl[cb + CTRL_HEAD + k + 1];
            } else {
                *tok = pick as u32;
            }
        }
        sync_cube();
    }
}

/// Whether the kernel can run this model; the reason if not.
pub fn supports(hyper: &Hyper) -> Result<(), String> {
    if hyper.hidden == 0 || hyper.hidden > MAX_HIDDEN || !hyper.hidden.is_multiple_of(4) {
        return Err(format!(
            "{} hidden units; the GPU sampler takes a multiple of 4 up to {MAX_HIDDEN}",
            hyper.hidden
        ));
    }
    let shared = (2 * hyper.layers * hyper.hidden + hyper.vocab_size + 2 * hyper.hidden + 1) * 4;
    if shared > MAX_SHARED_BYTES {
        return Err(format!(
            "{} layers of {} units with {} characters need {shared} bytes of workgroup memory; WebGPU guarantees {MAX_SHARED_BYTES}",
            hyper.layers, hyper.hidden, hyper.vocab_size
        ));
    }
    Ok(())
}

/// A runtime error as one line: its cause chain joined, without the (empty) backtrace.
fn one_line(message: &str) -> String {
    let message = message.split("Backtrace:").next().unwrap_or(message);
    message.split_whitespace().collect::<Vec<_>>().join(" ").replace(" Caused by: ", ": ")
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn u32_bytes(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn f32_from(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

fn wgpu_client() -> Client {
    cubecl::Device::Wgpu(WgpuDevice::default()).client()
}

/// The GPU the sampler runs on, set up once per process (page).
#[derive(Clone)]
pub struct GpuDevice {
    client: Client,
    /// The adapter as wgpu describes it, e.g. "SwiftShader Device (Subzero) (Vulkan)".
    pub adapter: String,
}

impl GpuDevice {
    /// Asks wgpu for the default adapter and device (async: in the browser, WebGPU's requests
    /// are promises). A second call returns the same device.
    // The lock is held across the adapter request so that concurrent first calls (tests run
    // in parallel) wait for one initialisation instead of racing to register two.
    #[allow(clippy::await_holding_lock)]
    pub async fn init() -> Result<GpuDevice, GpuError> {
        use std::sync::Mutex;
        static READY: Mutex<Option<Result<String, GpuError>>> = Mutex::new(None);
        let mut ready = READY.lock().map_err(|e| GpuError::Device(e.to_string()))?;
        let adapter = match &*ready {
            Some(done) => done.clone()?,
            None => {
                let options = cubecl::wgpu::RuntimeOptions::with_tasks_max(Some(8))
                    .map_err(|e| GpuError::Unavailable(e.to_string()))?;
                let setup = cubecl::wgpu::try_init_setup_async::<cubecl::wgpu::AutoGraphicsApi>(
                    &WgpuDevice::default(),
                    options,
                )
                .await;
                let result = setup
                    .map(|setup| {
                        let info = setup.adapter.get_info();
                        if info.name.is_empty() {
                            format!("{:?}", info.backend)
                        } else {
                            format!("{} ({:?})", info.name, info.backend)
                        }
                    })
                    .map_err(|e| GpuError::Unavailable(e.to_string()));
                *ready = Some(result.clone());
                result?
            }
        };
        Ok(GpuDevice { client: wgpu_client(), adapter })
    }

    /// [`GpuDevice::init`], blocking (native only: a browser cannot block).
    #[cfg(not(target_family = "wasm"))]
    pub fn init_blocking() -> Result<GpuDevice, GpuError> {
        cubecl::future::block_on(Self::init())
    }
}

impl std::fmt::Debug for GpuDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuDevice").field("adapter", &self.adapter).finish()
    }
}

/// A model's weights on the GPU.
#[derive(Debug)]
pub struct GpuModel {
    device: GpuDevice,
    cpu: Arc<CpuModel>,
    hyper: Hyper,
    /// Every weight in one buffer: layer 0's input rows, the upper layers' input rows, every
    /// layer's recurrent rows, every layer's bias, the output weight, the output bias, the
    /// measure clock's rows (a model that reads it).
    params: Handle,
}

impl GpuModel {
    /// Uploads the CPU model's weights. The CPU model stays in use: it feeds the prime (the
    /// same arithmetic as the CPU path) and is what the page falls back to.
    pub fn new(device: &GpuDevice, cpu: Arc<CpuModel>) -> Result<GpuModel, GpuError> {
        let hyper = cpu.hyper();
        supports(&hyper).map_err(GpuError::Unsupported)?;
        // The kernel reads the clock's rows unchecked (the class is below CLOCK_CLASSES).
        let clock_len = hyper.clock_rows() * 4 * hyper.hidden;
        if cpu.clock_weight().len() != clock_len {
            return Err(GpuError::Unsupported(format!(
                "the measure clock's weights hold {} values, not {clock_len}",
                cpu.clock_weight().len()
            )));
        }
        let layers = cpu.layers();
        let (head_w, head_b) = cpu.head();
        let mut params = layers[0].w_ih.clone();
        for layer in &layers[1..] {
            params.extend_from_slice(&layer.w_ih);
        }
        for layer in layers {
            params.extend_from_slice(&layer.w_hh);
        }
        for layer in layers {
            params.extend_from_slice(&layer.bias);
        }
        params.extend_from_slice(head_w);
        params.extend_from_slice(head_b);
        params.extend_from_slice(cpu.clock_weight());
        let params = device.client.create_from_slice(&f32_bytes(&params));
        Ok(GpuModel { params, device: device.clone(), cpu, hyper })
    }

    pub fn hyper(&self) -> Hyper {
        self.hyper
    }

    pub fn adapter(&self) -> &str {
        &self.device.adapter
    }

    /// The same model on the CPU.
    pub fn cpu(&self) -> &Arc<CpuModel> {
        &self.cpu
    }

    fn state_len(&self) -> usize {
        2 * self.hyper.layers * self.hyper.hidden
    }

    /// Launches one chunk of `steps` steps for `ctrl.len() / CTRL` samples; returns
    /// (candidates, logits), [`CHUNK`] of each per sample.
    pub(crate) async fn run_chunk(
        &self,
        states: &Handle,
        ctrl: &[u32],
        temperature: f32,
        argmax: bool,
        steps: usize,
    ) -> Result<(Vec<u32>, Vec<f32>), GpuError> {
        let client = &self.device.client;
        let batch = ctrl.len() / CTRL;
        let (v, l, h) = (self.hyper.vocab_size, self.hyper.layers, self.hyper.hidden);
        let ctrl_h = client.create_from_slice(&u32_bytes(ctrl));
        let out_len = batch * CHUNK * (v + 1);
        let out = client.empty(out_len * 4);
        let len = |handle: &Handle| handle.size_in_used() as usize / 4;
        // SAFETY: every buffer is at least as long as the kernel indexes it (the layout above;
        // tokens are below the vocabulary size, start slots below CHUNK), so the kernel runs
        // without cubecl's per-access bounds checks.
        unsafe {
            lstm_chunk::launch_unchecked(
                client,
                CubeCount::Static(batch as u32, 1, 1),
                CubeDim::new_1d(h as u32),
                BufferArg::from_raw_parts(self.params.clone(), len(&self.params)),
                BufferArg::from_raw_parts(ctrl_h, ctrl.len()),
                BufferArg::from_raw_parts(states.clone(), len(states)),
                BufferArg::from_raw_parts(out.clone(), out_len),
                1.0 / temperature,
                argmax as u32,
                l,
                h,
                v,
                steps,
                CHUNK,
                self.hyper.measure_clock,
            );
        }
        let read = client
            .read_async(vec![out])
            .await
            .map_err(|e| GpuError::Device(one_line(&format!("{e:?}"))))?;
        let out = f32_from(
            read.first().ok_or_else(|| GpuError::Device("the GPU returned nothing".into()))?,
        );
        if out.len() != out_len {
            return Err(GpuError::Device("the GPU returned a buffer of the wrong size".into()));
        }
        let mut tokens = Vec::with_capacity(batch * CHUNK);
        let mut logits = Vec::with_capacity(batch * CHUNK * v);
        for sample in out.chunks(CHUNK * (v + 1)) {
            logits.extend_from_slice(&sample[..CHUNK * v]);
            tokens.extend(sample[CHUNK * v..].iter().map(|&t| t as u32));
        }
        Ok((tokens, logits))
    }

    /// A states buffer of one sample per `(h, c)` x [`CHUNK`] slots, slot 0 set to it.
    pub(crate) fn states_buffer<'a>(
        &self,
        starts: impl ExactSizeIterator<Item = (&'a [f32], &'a [f32])>,
    ) -> Handle {
        let n = self.state_len();
        let mut data = vec![0.0f32; starts.len() * CHUNK * n];
        for (b, (h, c)) in starts.enumerate() {
            let at = b * CHUNK * n;
            data[at..at + n / 2].copy_from_slice(h);
            data[at + n / 2..at + n].copy_from_slice(c);
        }
        self.device.client.create_from_slice(&f32_bytes(&data))
    }

    /// The logits after each token of `tokens` fed from the zero state (at most [`CHUNK`]
    /// tokens), with the measure clock's class `clock` beside every one: what tests compare
    /// with the CPU step.
    pub async fn logits_for(&self, tokens: &[usize], clock: u8) -> Result<Vec<Vec<f32>>, GpuError> {
        let n = self.state_len();
        if tokens.is_empty()
            || tokens.len() > CHUNK
            || tokens.iter().any(|&t| t >= self.hyper.vocab_size)
        {
            return Err(GpuError::Device(format!("logits_for takes 1 to {CHUNK} known tokens")));
        }
        let zeros = vec![0.0; n / 2];
        let states = self.states_buffer(std::iter::once((&zeros[..], &zeros[..])));
        let mut ctrl = vec![0u32; CTRL];
        ctrl[1] = tokens[0] as u32;
        ctrl[2] = tokens.len() as u32;
        ctrl[5] = NO_SAVE;
        ctrl[6] = clock.min(UNKNOWN) as u32;
        for (f, &t) in ctrl[CTRL_HEAD..].iter_mut().zip(tokens) {
            *f = t as u32;
        }
        let (_, logits) = self.run_chunk(&states, &ctrl, 1.0, true, CHUNK).await?;
        let v = self.hyper.vocab_size;
        Ok(logits.chunks(v).take(tokens.len()).map(|r| r.to_vec()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked() {
        let ok = Hyper { vocab_size: 90, layers: 3, hidden: 128, measure_clock: true };
        assert!(supports(&ok).is_ok());
        assert!(supports(&Hyper { hidden: 512, ..ok }).unwrap_err().contains("512 hidden units"));
        assert!(supports(&Hyper { hidden: 30, ..ok }).unwrap_err().contains("multiple of 4"));
        assert_eq!(
            one_line("An error happened during execution\nCaused by:\n  the buffer could not be mapped\nBacktrace:\nNo backtrace"),
            "An error happened during execution: the buffer could not be mapped"
        );
        assert!(supports(&Hyper { layers: 20, ..ok }).unwrap_err().contains("workgroup memory"));
    }
}
