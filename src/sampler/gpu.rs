//! The sampling loop on a GPU: the kernel of [`crate::infer::gpu`] runs the LSTM and proposes
//! characters, a chunk per launch; each sample's [`Sampler`] takes or redraws them on the CPU.
//!
//! With the grammar, a sample is drawn a line at a time as on the CPU ([`Sampler`]'s
//! `free_line`): the GPU's candidates are taken while the grammar takes them, to the end of the
//! line; a refused line is drawn again, with other random numbers, from the state the line began
//! from (kept in [`ANCHOR_SLOT`]); after [`MAX_LINE_ATTEMPTS`] refusals it is drawn field by
//! field the same way, and a field refused [`MAX_FIELD_ATTEMPTS`] times a character at a time
//! under the grammar's mask ([`Sampler::decide`]).
//!
//! A model that reads the measure clock is fed its class for the whole of a launch: a sample's
//! run then ends at its line's end (the class changes there), and the next launch feeds the
//! newline with the class after it.

use std::collections::VecDeque;
use std::sync::Arc;

use cubecl::server::Handle;

use super::{
    retry_kinds, SampleError, SampleOptions, Sampler, MAX_FIELD_ATTEMPTS, MAX_LINE_ATTEMPTS,
    MAX_LINE_CHARS,
};
use crate::infer::gpu::{GpuModel, ANCHOR_SLOT, CHUNK, CTRL, MAX_BATCH, MIN_STEPS, NO_SAVE};
use crate::kern::{Grammar, LineKinds};

/// Each redraw costs a GPU launch: a sample redraws at most this many times per line on
/// average (with [`REDRAW_SLACK`] to start with), else it draws the line a character at a
/// time, one launch per refused character. A well-trained model redraws about 1.6 times a line
/// (the shipped models); a model that has barely learnt **kern would otherwise spend a launch
/// on nearly every character.
const REDRAWS_PER_LINE: u32 = 3;
const REDRAW_SLACK: u32 = 8;

/// One sample of a batch: [`Sampler`] keeps its options, grammar and length rule.
struct Lane {
    sampler: Sampler,
    /// The state slot and token its next launch starts from.
    next: (u32, u32),
    seed: u32,
    /// The line or field being drawn (samples drawn a line at a time).
    line: Option<Draw>,
    /// Characters drawn and not yet handed out: those of accepted lines, and (samples drawn a
    /// character at a time) the first, drawn on the CPU from the prime's logits.
    pending: VecDeque<char>,
    /// Draws refused so far: a draw's random numbers depend on the position of its characters
    /// and on this count, so a draw made again is new, and the text does not depend on where
    /// launches begin (a refusal always ends a launch).
    refusals: u32,
    /// Lines ended so far.
    lines: u32,
}

impl Lane {
    /// Characters handed out (those still pending are drawn, not handed out).
    fn handed_out(&self) -> usize {
        self.sampler.produced() - self.pending.len()
    }

    /// Moves characters from `pending` to `out` while `n` (those `out` took) is below `max`.
    fn hand_out(&mut self, max: usize, out: &mut String, n: &mut usize) {
        while *n < max {
            let Some(c) = self.pending.pop_front() else { break };
            out.push(c);
            *n += 1;
        }
    }

    fn is_done(&self) -> bool {
        self.pending.is_empty() && self.sampler.is_done()
    }
}

/// How a line is being drawn, as on the CPU: whole, field by field, or a character at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Grain {
    /// The line as the model writes it, drawn again while refused ([`MAX_LINE_ATTEMPTS`]).
    Line,
    /// A field (to its TAB or line end), drawn again while refused ([`MAX_FIELD_ATTEMPTS`]).
    Field,
    /// The rest of a field a character at a time under the grammar's mask.
    Char,
}

/// A line, or a field of a line, being drawn from the GPU's candidates.
struct Draw {
    grain: Grain,
    /// Where it began: the state slot and the token fed into it. A slot of the last launch is
    /// copied to [`ANCHOR_SLOT`] by the next launch, before it overwrites it.
    anchor: (u32, u32),
    /// Refused draws of this grain so far.
    attempt: usize,
    /// The grammar after its characters so far.
    trial: Grammar,
    /// The kinds of line a line drawn field by field keeps to (see [`retry_kinds`]).
    kinds: LineKinds,
    chars: Vec<char>,
    first: Option<char>,
    grace: bool,
}

impl Draw {
    /// A draw of `grain` beginning at `anchor`, after what `sampler` has taken (none once the
    /// sample went on unconstrained).
    fn new(sampler: &Sampler, grain: Grain, anchor: (u32, u32), kinds: LineKinds) -> Option<Draw> {
        let trial = sampler.grammar.clone()?;
        Some(Draw {
            grain,
            anchor,
            attempt: 0,
            trial,
            kinds,
            chars: Vec::new(),
            first: None,
            grace: false,
        })
    }

    /// Over the redraw budget: the rest of the line a character at a time.
    fn give_up(&mut self, sampler: &mut Sampler) {
        if self.grain == Grain::Char {
            return;
        }
        if self.grain == Grain::Line {
            sampler.stats.lines_by_field += 1;
        }
        sampler.stats.masked_fields += 1;
        self.grain = Grain::Char;
        if let Some(g) = &mut sampler.grammar {
            g.set_line_kinds(self.kinds);
        }
    }

    /// Whether `c` ends it (and it is taken).
    fn ends(&self, c: char) -> bool {
        c == '\n' || (self.grain == Grain::Field && c == '\t')
    }

    /// Refused: drawn again from its anchor; after too many refusals a line is drawn field by
    /// field, a field a character at a time.
    fn refused(&mut self, sampler: &mut Sampler) {
        let Some(g) = sampler.grammar.clone() else { return };
        self.attempt += 1;
        match self.grain {
            Grain::Line => {
                sampler.stats.refused += 1;
                if self.attempt == 1 && g.at_line_begin() {
                    self.kinds = retry_kinds(&g, self.first, self.grace);
                }
                if self.attempt >= MAX_LINE_ATTEMPTS {
                    sampler.stats.lines_by_field += 1;
                    self.grain = Grain::Field;
                    self.attempt = 0;
                }
            }
            Grain::Field => {
                sampler.stats.refused_fields += 1;
                if self.attempt >= MAX_FIELD_ATTEMPTS {
                    sampler.stats.masked_fields += 1;
                    self.grain = Grain::Char;
                    self.attempt = 0;
                }
            }
            Grain::Char => {}
        }
        self.trial = g;
        self.trial.set_line_kinds(self.kinds);
        if self.grain != Grain::Line {
            // The line keeps to its kinds until it ends (the sample's grammar, which
            // `Sampler::decide` uses).
            if let Some(g) = &mut sampler.grammar {
                g.set_line_kinds(self.kinds);
            }
        }
        self.chars.clear();
        self.first = None;
        self.grace = false;
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
    /// The most steps a launch runs: [`CHUNK`] raw; with the grammar fewer, so that no launch
    /// writes [`ANCHOR_SLOT`].
    max_steps: usize,
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
            let seed = (o.seed ^ (o.seed >> 32)) as u32;
            let by_line = !o.raw && !o.argmax;
            let mut sampler = Sampler::new(model.cpu().clone(), o)?;
            let lane = if by_line {
                // The first launch feeds the prime's last token, so that it can draw the first
                // line again from there.
                let (state, token) = sampler.before_last.clone();
                let anchor = (0, token as u32);
                let line = Draw::new(&sampler, Grain::Line, anchor, LineKinds::ALL);
                let lane = Lane {
                    next: anchor,
                    seed,
                    line,
                    pending: VecDeque::new(),
                    refusals: 0,
                    lines: 0,
                    sampler,
                };
                (lane, state)
            } else {
                let logits = sampler.logits().to_vec();
                let state = sampler.state().clone();
                let first = sampler.decide(&logits, None);
                let lane = Lane {
                    next: (0, first.map_or(0, |(t, _)| t as u32)),
                    seed,
                    line: None,
                    pending: first.map(|(_, c)| c).into_iter().collect(),
                    refusals: 0,
                    lines: 0,
                    sampler,
                };
                (lane, state)
            };
            lanes.push(lane);
        }
        let states = model.states_buffer(lanes.iter().map(|(_, s)| s.h_and_c()));
        Ok(GpuSampling {
            lanes: lanes.into_iter().map(|(lane, _)| lane).collect(),
            states,
            dispatches: 0,
            fixed_steps: None,
            steps: if raw { CHUNK } else { MIN_STEPS * 2 },
            max_steps: if raw { CHUNK } else { ANCHOR_SLOT.next_power_of_two() / 2 },
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

    /// Characters handed out so far by the first sample (not counting its prime).
    pub fn produced(&self) -> usize {
        self.lanes[0].handed_out()
    }

    /// Characters handed out so far by each sample.
    pub fn produced_each(&self) -> Vec<usize> {
        self.lanes.iter().map(Lane::handed_out).collect()
    }

    /// How the grammar took the samples' lines so far, summed over the batch.
    pub fn stats(&self) -> super::SampleStats {
        let mut all = super::SampleStats::default();
        for lane in &self.lanes {
            all.add(&lane.sampler.stats());
        }
        all
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
        let steps = steps.next_power_of_two().clamp(MIN_STEPS, self.max_steps);
        self.fixed_steps = Some(steps);
        self.steps = steps;
    }

    /// Kernel launches so far (one per chunk, whatever the batch size).
    pub fn dispatches(&self) -> usize {
        self.dispatches
    }

    /// For a single sample: appends at least one character (unless done) and at most `max` to
    /// `out`; one GPU launch and read-back per call, or more while refused lines give no
    /// character. Returns how many.
    pub async fn next_chunk(&mut self, max: usize, out: &mut String) -> Result<usize, SampleError> {
        let mut outs = vec![String::new(); self.lanes.len()];
        let n = self.next_batch(max, &mut outs).await?;
        out.push_str(&outs[0]);
        Ok(n)
    }

    /// Appends to `outs[i]` what sample i drew (at most `max` characters each) in one launch,
    /// or in as many as it takes for some sample to give a character; returns how many
    /// characters in all (0 once every sample is done).
    pub async fn next_batch(
        &mut self,
        max: usize,
        outs: &mut [String],
    ) -> Result<usize, SampleError> {
        let mut count = vec![0usize; self.lanes.len()];
        for ((lane, out), n) in self.lanes.iter_mut().zip(outs.iter_mut()).zip(&mut count) {
            lane.hand_out(max, out, n);
        }
        // Launch while a sample wants characters and is not complete. Every launch runs every
        // sample of the batch, so each one that is not complete takes its candidates (what
        // exceeds `max` waits in `pending`): one left out would find the state it was to go on
        // from overwritten.
        let busy = |lane: &Lane, n: usize| n < max && !lane.sampler.is_done();
        // A launch may give no character (a line refused, or one longer than the launch): launch
        // again until one comes.
        loop {
            if !self.lanes.iter().zip(&count).any(|(l, &n)| busy(l, n)) {
                return Ok(count.iter().sum());
            }
            let opts = self.lanes[0].sampler.options();
            let (temperature, argmax) = (opts.temperature, opts.argmax);
            let steps = self.steps;
            let mut ctrl = vec![0u32; CTRL * self.lanes.len()];
            for (lane, c) in self.lanes.iter_mut().zip(ctrl.chunks_mut(CTRL)) {
                // The random number for a character depends on its position alone (and, drawing
                // by line, on the refusals so far), so a sample is the same whatever the chunk
                // sizes and whatever else is in the batch.
                let mut position = lane.sampler.produced() as u32;
                let seed = lane.seed ^ lane.refusals.wrapping_mul(0x9E37_79B9);
                let mut save = NO_SAVE;
                if let Some(line) = &mut lane.line {
                    position += line.chars.len() as u32;
                    if line.anchor.0 != ANCHOR_SLOT as u32 {
                        // (A launch that starts from the anchor reads it where it is, then saves it.)
                        save = line.anchor.0;
                        line.anchor.0 = ANCHOR_SLOT as u32;
                    }
                }
                // The clock's class in force: a run ends at a line's end, where it changes.
                let clock = lane.sampler.clock_class() as u32;
                c[..7].copy_from_slice(&[lane.next.0, lane.next.1, 0, position, seed, save, clock]);
            }
            let (tokens, logits) =
                self.model.run_chunk(&self.states, &ctrl, temperature, argmax, steps).await?;
            self.dispatches += 1;
            let v = self.model.hyper().vocab_size;
            let vocab = self.model.cpu().vocab().clone();
            let mut longest = 0usize;
            for (b, ((lane, out), n)) in
                self.lanes.iter_mut().zip(outs.iter_mut()).zip(&mut count).enumerate()
            {
                if lane.sampler.is_done() {
                    continue;
                }
                let mut run = 0usize;
                for k in 0..steps {
                    let row = (b * CHUNK + k) * v;
                    let candidate = tokens[b * CHUNK + k] as usize;
                    run += 1;
                    if let Some(line) = lane.line.as_mut().filter(|l| l.grain != Grain::Char) {
                        // A line or field as the model draws it: taken whole, or drawn again.
                        let c = vocab.char(candidate);
                        lane.sampler.stats.drawn += 1;
                        if let Some(c) = c {
                            line.first.get_or_insert(c);
                            line.grace |= matches!(c, 'q' | 'Q');
                        }
                        let taken = c.is_some_and(|c| {
                            line.chars.len() < MAX_LINE_CHARS && line.trial.push(c).is_ok()
                        });
                        let Some(c) = c.filter(|_| taken) else {
                            line.refused(&mut lane.sampler);
                            lane.refusals += 1;
                            if lane.refusals > REDRAWS_PER_LINE * lane.lines + REDRAW_SLACK {
                                line.give_up(&mut lane.sampler);
                            }
                            lane.next = line.anchor;
                            break;
                        };
                        line.chars.push(c);
                        lane.next = (k as u32, candidate as u32);
                        if !line.ends(c) {
                            continue;
                        }
                        let (grain, kinds) = (line.grain, line.kinds);
                        let mut trial = line.trial.clone();
                        if c == '\n' {
                            trial.set_line_kinds(LineKinds::ALL);
                            if grain == Grain::Line {
                                lane.sampler.stats.lines += 1;
                            }
                        }
                        lane.sampler.commit_line(trial, line.chars.len());
                        lane.pending.extend(line.chars.drain(..));
                        lane.lines += (c == '\n') as u32;
                        lane.line = if c == '\n' {
                            Draw::new(&lane.sampler, Grain::Line, lane.next, LineKinds::ALL)
                        } else {
                            Draw::new(&lane.sampler, Grain::Field, lane.next, kinds)
                        };
                        if lane.sampler.is_done() || (c == '\n' && lane.sampler.reads_clock()) {
                            break;
                        }
                        continue;
                    }
                    let Some((t, c)) = lane.sampler.decide(&logits[row..row + v], Some(candidate))
                    else {
                        break;
                    };
                    if lane.line.is_some() {
                        lane.sampler.stats.drawn += 1;
                    }
                    lane.pending.push_back(c);
                    lane.next = (k as u32, t as u32);
                    lane.lines += (c == '\n') as u32;
                    if let Some(line) = lane.line.as_ref().filter(|_| matches!(c, '\t' | '\n')) {
                        // The field drawn a character at a time is done: the next as the model
                        // draws it (the rest of the line field by field).
                        let (grain, kinds) = if c == '\n' {
                            (Grain::Line, LineKinds::ALL)
                        } else {
                            (Grain::Field, line.kinds)
                        };
                        lane.line = Draw::new(&lane.sampler, grain, lane.next, kinds);
                    }
                    if t != candidate || (c == '\n' && lane.sampler.reads_clock()) {
                        break;
                    }
                }
                lane.hand_out(max, out, n);
                longest = longest.max(run);
            }
            // Next time run about twice the characters the best sample took (a power of two, so at
            // most four kernels are compiled).
            self.steps = self
                .fixed_steps
                .unwrap_or((2 * longest).next_power_of_two().clamp(MIN_STEPS, self.max_steps));
            if count.iter().any(|&n| n > 0) {
                return Ok(count.iter().sum());
            }
        }
    }
}
