//! The sampling loop on a GPU: the kernel of [`crate::infer::gpu`] runs the LSTM and proposes
//! characters, a chunk per launch; each sample's [`Sampler`] takes or redraws them on the CPU.

use std::sync::Arc;

use cubecl::server::Handle;

use super::{SampleError, SampleOptions, Sampler};
use crate::infer::gpu::{GpuModel, CHUNK, CTRL, MAX_BATCH, MIN_STEPS};

/// One sample of a batch: [`Sampler`] keeps its options, grammar and length rule.
struct Lane {
    sampler: Sampler,
    /// The state slot and token its next launch starts from.
    next: (u32, u32),
    seed: u32,
    /// The first character, drawn on the CPU from the prime's logits, not yet handed out.
    first: Option<char>,
}

impl Lane {
    fn is_done(&self) -> bool {
        self.first.is_none() && self.sampler.is_done()
    }
}

/// Samples on the GPU: one, or a batch (variations) that every launch advances together, one
/// workgroup each. The GPU runs the LSTM and proposes characters; each sample's [`Sampler`]
/// takes or redraws them.
pub struct GpuSampling {
    model: Arc<GpuModel>,
    lanes: Vec<Lane>,
    states: Handle,
    dispatches: usize,
    /// Steps the next launch runs (adapts to how many candidates the grammar takes).
    steps: usize,
    /// Steps every launch runs, if set (benchmarks).
    fixed_steps: Option<usize>,
}

impl GpuSampling {
    /// Feeds the prime on the CPU (the same code as the CPU path) and draws the first character
    /// there; the GPU takes over from the state that leaves.
    pub fn new(model: Arc<GpuModel>, opts: SampleOptions) -> Result<GpuSampling, SampleError> {
        Self::batch(model, vec![opts])
    }

    /// Several samples at once (at most [`MAX_BATCH`]); they may differ in seed, prime, length,
    /// meter and grammar, but share the temperature and argmax (the kernel's parameters).
    pub fn batch(
        model: Arc<GpuModel>,
        opts: Vec<SampleOptions>,
    ) -> Result<GpuSampling, SampleError> {
        let Some(first) = opts.first() else {
            return Err(SampleError::Batch("a batch needs at least one sample".into()));
        };
        if opts.len() > MAX_BATCH {
            return Err(SampleError::Batch(format!(
                "a batch holds at most {MAX_BATCH} samples, not {}",
                opts.len()
            )));
        }
        if opts.iter().any(|o| o.temperature != first.temperature || o.argmax != first.argmax) {
            return Err(SampleError::Batch(
                "the samples of a batch must share temperature and argmax".into(),
            ));
        }
        let raw = opts.iter().all(|o| o.raw);
        let mut lanes = Vec::with_capacity(opts.len());
        for o in opts {
            let seed = o.seed;
            let mut sampler = Sampler::new(model.cpu().clone(), o)?;
            let logits = sampler.logits().to_vec();
            let state = sampler.state().clone();
            let first = sampler.decide(&logits, None);
            lanes.push((
                Lane {
                    next: (0, first.map_or(0, |(t, _)| t as u32)),
                    seed: (seed ^ (seed >> 32)) as u32,
                    first: first.map(|(_, c)| c),
                    sampler,
                },
                state,
            ));
        }
        let states = model.states_buffer(lanes.iter().map(|(_, s)| s.h_and_c()));
        Ok(GpuSampling {
            lanes: lanes.into_iter().map(|(lane, _)| lane).collect(),
            states,
            dispatches: 0,
            fixed_steps: None,
            steps: if raw { CHUNK } else { MIN_STEPS * 2 },
            model,
        })
    }

    /// The first sample's options.
    pub fn options(&self) -> &SampleOptions {
        self.lanes[0].sampler.options()
    }

    /// Samples in this batch.
    pub fn len(&self) -> usize {
        self.lanes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lanes.is_empty()
    }

    /// Characters drawn so far by the first sample (not counting its prime).
    pub fn produced(&self) -> usize {
        self.lanes[0].sampler.produced()
    }

    /// Characters drawn so far by each sample.
    pub fn produced_each(&self) -> Vec<usize> {
        self.lanes.iter().map(|l| l.sampler.produced()).collect()
    }

    pub fn rhythm_relaxed(&self) -> usize {
        self.lanes.iter().map(|l| l.sampler.rhythm_relaxed()).sum()
    }

    /// Whether every sample is complete.
    pub fn is_done(&self) -> bool {
        self.lanes.iter().all(Lane::is_done)
    }

    /// Runs every launch for `steps` steps (rounded to 8, 16, 32 or 64) instead of adapting
    /// to the grammar's acceptance (for benchmarks).
    pub fn fix_steps(&mut self, steps: usize) {
        let steps = steps.next_power_of_two().clamp(MIN_STEPS, CHUNK);
        self.fixed_steps = Some(steps);
        self.steps = steps;
    }

    /// Kernel launches so far (one per chunk, whatever the batch size).
    pub fn dispatches(&self) -> usize {
        self.dispatches
    }

    /// For a single sample: appends at least one character (unless done) and at most `max` to
    /// `out`; one GPU launch and one read-back per call. Returns how many.
    pub async fn next_chunk(&mut self, max: usize, out: &mut String) -> Result<usize, SampleError> {
        let mut outs = vec![String::new(); self.lanes.len()];
        let n = self.next_batch(max, &mut outs).await?;
        out.push_str(&outs[0]);
        Ok(n)
    }

    /// Appends to `outs[i]` what sample i drew in one launch (at most `max` characters each);
    /// returns how many characters in all (0 once every sample is done).
    pub async fn next_batch(
        &mut self,
        max: usize,
        outs: &mut [String],
    ) -> Result<usize, SampleError> {
        let mut count = vec![0usize; self.lanes.len()];
        for ((lane, out), n) in self.lanes.iter_mut().zip(outs.iter_mut()).zip(&mut count) {
            if let Some(c) = lane.first.take() {
                out.push(c);
                *n += 1;
            }
        }
        let busy = |lane: &Lane, n: usize| n < max && !lane.sampler.is_done();
        if !self.lanes.iter().zip(&count).any(|(l, &n)| busy(l, n)) {
            return Ok(count.iter().sum());
        }
        let opts = self.lanes[0].sampler.options();
        let (temperature, argmax) = (opts.temperature, opts.argmax);
        let steps = self.steps;
        let mut ctrl = vec![0u32; CTRL * self.lanes.len()];
        for (lane, c) in self.lanes.iter().zip(ctrl.chunks_mut(CTRL)) {
            // The random number for a character depends on its position alone, so a sample is
            // the same whatever the chunk sizes and whatever else is in the batch.
            let position = lane.sampler.produced() as u32;
            c[..5].copy_from_slice(&[lane.next.0, lane.next.1, 0, position, lane.seed]);
        }
        let (tokens, logits) =
            self.model.run_chunk(&self.states, &ctrl, temperature, argmax, steps).await?;
        self.dispatches += 1;
        let v = self.model.hyper().vocab_size;
        let mut longest = 0usize;
        for (b, ((lane, out), n)) in
            self.lanes.iter_mut().zip(outs.iter_mut()).zip(&mut count).enumerate()
        {
            if !busy(lane, *n) {
                continue;
            }
            let mut run = 0usize;
            for k in 0..steps {
                let row = (b * CHUNK + k) * v;
                let candidate = tokens[b * CHUNK + k] as usize;
                let Some((t, c)) = lane.sampler.decide(&logits[row..row + v], Some(candidate))
                else {
                    break;
                };
                out.push(c);
                *n += 1;
                run += 1;
                lane.next = (k as u32, t as u32);
                if t != candidate || *n >= max {
                    break;
                }
            }
            longest = longest.max(run);
        }
        // Next time run about twice the characters the best sample took (a power of two, so at
        // most four kernels are compiled).
        self.steps =
            self.fixed_steps.unwrap_or((2 * longest).next_power_of_two().clamp(MIN_STEPS, CHUNK));
        Ok(count.iter().sum())
    }
}
