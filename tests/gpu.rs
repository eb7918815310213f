//! The GPU sampler (a CubeCL kernel on wgpu; here Vulkan, on Mesa's lavapipe in CI): its
//! logits equal the CPU step's, and its samples keep to the grammar like the CPU's.

use std::sync::Arc;

use kernrnn::infer::gpu::{GpuDevice, GpuModel, CHUNK, MIN_STEPS};
use kernrnn::kern::clock::clock_classes;
use kernrnn::kern::{check_kern, check_prepared, reconstruct, ScoreOptions};
use kernrnn::sampler::gpu::GpuSampling;
use kernrnn::{CpuModel, SampleOptions, Weights};

fn shipped(name: &str) -> Arc<CpuModel> {
    let path = format!("{}/models/{name}.safetensors", env!("CARGO_MANIFEST_DIR"));
    let w = Weights::from_bytes(&std::fs::read(path).unwrap()).unwrap();
    Arc::new(CpuModel::new(&w))
}

fn device() -> GpuDevice {
    GpuDevice::init_blocking()
        .expect("a wgpu adapter (make test installs Mesa's lavapipe Vulkan driver)")
}

fn sample_on_gpu(gpu: &Arc<GpuModel>, opts: &SampleOptions) -> (String, usize) {
    let mut s = GpuSampling::new(gpu.clone(), opts.clone()).unwrap();
    let mut out = opts.prime.clone();
    while !s.is_done() {
        let n = cubecl::future::block_on(s.next_chunk(usize::MAX, &mut out)).unwrap();
        assert!(n >= 1);
    }
    assert_eq!(s.produced(), out.chars().count() - opts.prime.chars().count());
    (out, s.dispatches())
}

/// A batch sampled on the GPU to the end (each call gives at least one character): the texts,
/// primes included, and the sampler (its counts).
fn sample_batch_on_gpu(gpu: &Arc<GpuModel>, opts: &[SampleOptions]) -> (Vec<String>, GpuSampling) {
    let mut batch = GpuSampling::batch(gpu.clone(), opts.to_vec()).unwrap();
    let mut outs: Vec<String> = opts.iter().map(|o| o.prime.clone()).collect();
    while !batch.is_done() {
        assert!(cubecl::future::block_on(batch.next_batch(usize::MAX, &mut outs)).unwrap() >= 1);
    }
    (outs, batch)
}

#[test]
fn gpu_logits_equal_the_cpu_step() {
    let device = device();
    for name in ["mozart", "beethoven"] {
        let cpu = shipped(name);
        let gpu = GpuModel::new(&device, cpu.clone()).unwrap();
        let text = "@\n4.cc 4e 4G\t.\n8dd 4f 4B\tp\n@\n2.r\t4r\t.\n";
        let tokens = cpu.vocab().encode(&text[..text.len().min(CHUNK)]).unwrap();
        // (A class the clock can have mid-measure: the kernel's clock rows are checked too.)
        let got = cubecl::future::block_on(gpu.logits_for(&tokens, 6)).unwrap();
        let want = cpu.logits_for(&tokens, 6);
        let worst = got
            .iter()
            .flatten()
            .zip(want.iter().flatten())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert_eq!(got.len(), tokens.len());
        assert!(worst < 1e-3, "{name}: GPU logits differ from the CPU's by {worst}");
    }
}

#[test]
fn gpu_samples_keep_to_the_grammar() {
    let device = device();
    let cpu = shipped("mozart");
    let gpu = Arc::new(GpuModel::new(&device, cpu).unwrap());
    let mut chars = 0;
    let mut dispatches = 0;
    // Lavapipe runs the kernel on one CPU thread, ~100 characters a second: a few short samples.
    for seed in 1..=2 {
        for temperature in [0.8, 1.2] {
            let opts = SampleOptions { seed, temperature, length: 400, ..SampleOptions::default() };
            let (text, d) = sample_on_gpu(&gpu, &opts);
            let report = check_prepared(&text, opts.meter);
            assert!(
                report.is_valid(),
                "seed {seed} T {temperature}: {:?}\n{text}",
                report.diagnostics
            );
            let score = reconstruct(&text, &ScoreOptions::default());
            let checked = check_kern(&score);
            assert!(
                checked.is_valid(),
                "seed {seed} T {temperature}: {:?}\n{score}",
                checked.diagnostics
            );
            assert!(text.chars().count() >= 400);
            chars += text.chars().count();
            dispatches += d;
        }
    }
    // Most lines pass the grammar whole, so a launch yields several characters (a refused line
    // or field costs a launch: it is drawn again from where it began).
    eprintln!("{chars} characters from {dispatches} launches");
    assert!(chars > 3 * dispatches, "{chars} characters from {dispatches} launches");
}

#[test]
fn gpu_raw_samples_have_the_length_asked_and_depend_on_the_seed() {
    let device = device();
    let cpu = shipped("beethoven");
    let gpu = Arc::new(GpuModel::new(&device, cpu.clone()).unwrap());
    let opts = SampleOptions { raw: true, length: 300, seed: 5, ..SampleOptions::default() };
    let (a, dispatches) = sample_on_gpu(&gpu, &opts);
    assert_eq!(a.chars().count(), 302);
    if cpu.hyper().measure_clock {
        // Raw: every candidate is taken, to the end of a line (where the measure clock the
        // model reads changes): about a launch a line, more where a line is longer than the
        // launch.
        let lines = a[opts.prime.len()..].matches('\n').count();
        assert!(
            (lines..=lines + 299 / MIN_STEPS).contains(&dispatches),
            "{dispatches} for {lines}"
        );
    } else {
        // Raw: every candidate is taken, so 299 characters after the CPU's first take 5 launches.
        assert_eq!(dispatches, 299usize.div_ceil(CHUNK));
    }
    assert_eq!(sample_on_gpu(&gpu, &opts).0, a, "same seed, same text");
    // Whatever the chunk sizes.
    let mut fixed = GpuSampling::new(gpu.clone(), opts.clone()).unwrap();
    fixed.fix_steps(8);
    let mut b = opts.prime.clone();
    while !fixed.is_done() {
        cubecl::future::block_on(fixed.next_chunk(usize::MAX, &mut b)).unwrap();
    }
    assert_eq!(b, a);
    assert_ne!(sample_on_gpu(&gpu, &SampleOptions { seed: 6, ..opts.clone() }).0, a);
    // Argmax is the CPU's argmax (ties aside, which these logits do not have).
    let greedy = SampleOptions { argmax: true, length: 200, ..opts };
    let cpu_text = kernrnn::sample(cpu, &greedy).unwrap();
    assert_eq!(sample_on_gpu(&gpu, &greedy).0, cpu_text);
}

#[test]
fn a_batch_samples_variations_in_one_launch_each_as_alone() {
    let device = device();
    let gpu = Arc::new(GpuModel::new(&device, shipped("mozart")).unwrap());
    let opts: Vec<_> = (1..=4)
        .map(|seed| SampleOptions { seed, length: 300, ..SampleOptions::default() })
        .collect();
    let (outs, batch) = sample_batch_on_gpu(&gpu, &opts);
    let mut alone_dispatches = 0;
    for (o, text) in opts.iter().zip(&outs) {
        // A character's random number depends on its position alone: the same text as alone.
        let (alone, d) = sample_on_gpu(&gpu, o);
        assert_eq!(text, &alone, "seed {}", o.seed);
        alone_dispatches += d;
        assert!(check_kern(&reconstruct(text, &ScoreOptions::default())).is_valid());
    }
    assert_ne!(outs[0], outs[1]);
    assert!(
        batch.dispatches() < alone_dispatches,
        "{} launches for the batch, {alone_dispatches} one by one",
        batch.dispatches()
    );
    assert_eq!(batch.produced_each().len(), 4);
    // Temperature is the kernel's: a batch shares it.
    let mixed = vec![opts[0].clone(), SampleOptions { temperature: 1.1, ..opts[1].clone() }];
    assert!(GpuSampling::batch(gpu, mixed).is_err());
}

/// Mean negative log-likelihood per character of `text` under the model at temperature 1.
fn nll(cpu: &CpuModel, text: &str) -> f64 {
    let tokens = cpu.vocab().encode(text).unwrap();
    let clock = clock_classes(text, cpu.dialect().editions);
    let mut state = cpu.zero_state();
    let mut logits = vec![0.0; cpu.hyper().vocab_size];
    let mut total = 0.0f64;
    for (w, &k) in tokens.windows(2).zip(&clock) {
        cpu.step(&mut state, w[0], k, &mut logits);
        let max = logits.iter().cloned().fold(f32::MIN, f32::max) as f64;
        let z = logits.iter().map(|&l| (l as f64 - max).exp()).sum::<f64>().ln() + max;
        total += z - logits[w[1]] as f64;
    }
    total / (tokens.len() - 1) as f64
}

/// The mean NLL per character of the GPU's texts `on_gpu` and of the CPU's samples of the same
/// options.
fn mean_nll_on_gpu_and_cpu(
    cpu: &Arc<CpuModel>,
    on_gpu: &[String],
    opts: &[SampleOptions],
) -> (f64, f64) {
    let n = opts.len() as f64;
    let gpu = on_gpu.iter().map(|t| nll(cpu, t)).sum::<f64>() / n;
    let on_cpu = opts.iter().map(|o| nll(cpu, &kernrnn::sample(cpu.clone(), o).unwrap()));
    (gpu, on_cpu.sum::<f64>() / n)
}

#[test]
fn gpu_draws_follow_the_model_like_the_cpu_draws() {
    // Samples of one distribution have about the same likelihood under it: a GPU sampler that
    // drew from the wrong distribution (uniform, or at the wrong temperature) would not. Ten
    // samples a side: their means spread by about 5% (0.48-0.54 nats/char over four sets).
    let device = device();
    let cpu = shipped("mozart");
    let gpu = Arc::new(GpuModel::new(&device, cpu.clone()).unwrap());
    let opts: Vec<_> = (1..=10)
        .map(|seed| SampleOptions {
            seed,
            temperature: 1.0,
            raw: true,
            length: 1000,
            ..SampleOptions::default()
        })
        .collect();
    let (outs, _) = sample_batch_on_gpu(&gpu, &opts);
    let (on_gpu, on_cpu) = mean_nll_on_gpu_and_cpu(&cpu, &outs, &opts);
    assert!(
        (on_gpu - on_cpu).abs() < 0.2 * on_cpu,
        "{on_gpu:.3} nats/char on the GPU, {on_cpu:.3} on the CPU"
    );
    // A uniform draw would be near ln(vocabulary size) = 4.2 nats/char.
    assert!(on_gpu < 1.0, "{on_gpu:.3}");
}

#[test]
fn constrained_gpu_samples_are_as_likely_under_the_model_as_the_cpus() {
    // The GPU draws a line at a time like the CPU: a refused line or field is drawn again from
    // the state it began from, so the grammar does not push the model off its own music.
    // Drawing a character at a time under the mask instead (what the GPU did before) made the
    // text 0.56 nats per character less likely than the CPU's (1.08 against 0.52, with 5 grace
    // lines a measure against 0.06); line by line the two differ by 0.06 (0.58 against 0.52,
    // 16,000 characters; these 2,400 characters: 0.42 against 0.44).
    let device = device();
    let cpu = shipped("mozart");
    let gpu = Arc::new(GpuModel::new(&device, cpu.clone()).unwrap());
    let opts: Vec<_> = (1..=4)
        .map(|seed| SampleOptions { seed, length: 600, ..SampleOptions::default() })
        .collect();
    let (outs, _) = sample_batch_on_gpu(&gpu, &opts);
    let (on_gpu, on_cpu) = mean_nll_on_gpu_and_cpu(&cpu, &outs, &opts);
    eprintln!("constrained: {on_gpu:.3} nats/char on the GPU, {on_cpu:.3} on the CPU");
    assert!(on_gpu < on_cpu + 0.15, "{on_gpu:.3} nats/char on the GPU, {on_cpu:.3} on the CPU");
    for text in &outs {
        assert!(check_prepared(text, opts[0].meter).is_valid());
    }
}

#[test]
fn a_batch_handed_out_a_few_characters_at_a_time_gives_the_same_texts() {
    // Each launch runs every sample of the batch; a sample that already has the characters it
    // may hand out still takes its candidates (and keeps them), or the launch would overwrite
    // the state it was to go on from.
    let device = device();
    let gpu = Arc::new(GpuModel::new(&device, shipped("mozart")).unwrap());
    let opts: Vec<_> = (1..=3)
        .map(|seed| SampleOptions { seed, length: 200, ..SampleOptions::default() })
        .collect();
    let run = |max: usize| {
        let mut batch = GpuSampling::batch(gpu.clone(), opts.clone()).unwrap();
        let mut outs: Vec<String> = opts.iter().map(|o| o.prime.clone()).collect();
        while !batch.is_done() {
            let mut parts = vec![String::new(); opts.len()];
            let n = cubecl::future::block_on(batch.next_batch(max, &mut parts)).unwrap();
            assert!(n >= 1 && parts.iter().all(|p| p.chars().count() <= max));
            for (out, part) in outs.iter_mut().zip(parts) {
                out.push_str(&part);
            }
        }
        outs
    };
    assert_eq!(run(3), run(usize::MAX));
}
