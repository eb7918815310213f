//! The command line: every bad input is one clear line on stderr and a failing exit status,
//! never a panic.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn kernrnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kernrnn")).args(args).output().unwrap()
}

/// A model trained once for this test binary.
fn model() -> &'static Path {
    static MODEL: OnceLock<PathBuf> = OnceLock::new();
    MODEL.get_or_init(|| common::train_tiny(&common::temp_dir("cli-model"), "cli").weights_file)
}

/// Asserts a clean failure whose one-line message contains `needle`.
fn fails_with(out: Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "succeeded; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    assert!(out.stdout.is_empty(), "printed output despite the error");
}

fn sample(extra: &[&str]) -> Output {
    let m = model().to_str().unwrap();
    let mut args = vec!["sample", "--model", m];
    args.extend_from_slice(extra);
    kernrnn(&args)
}

#[test]
fn sample_is_byte_identical_for_the_same_seed() {
    let a = sample(&["--seed", "3", "--length", "500"]);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert_eq!(a.stdout, sample(&["--seed", "3", "--length", "500"]).stdout);
    assert_ne!(a.stdout, sample(&["--seed", "4", "--length", "500"]).stdout);
    let text = String::from_utf8(a.stdout).unwrap();
    assert!(text.starts_with("@\n"));
    // Constrained sampling goes on to the end of the measure.
    assert!(text.chars().count() >= 502);
    assert!(text.ends_with('\n'));
    let raw =
        String::from_utf8(sample(&["--seed", "3", "--length", "500", "--raw"]).stdout).unwrap();
    assert_eq!(raw.chars().count(), 502);
    let argmax = sample(&["--argmax", "--length", "50"]);
    assert_eq!(argmax.stdout, sample(&["--argmax", "--length", "50", "--seed", "9"]).stdout);
}

#[test]
fn prime_file_and_prime_text_agree() {
    let dir = common::temp_dir("prime");
    let f = dir.join("prime.txt");
    std::fs::write(&f, "@\n4G\t8").unwrap();
    let a = sample(&["--prime-file", f.to_str().unwrap(), "--length", "100"]);
    let b = sample(&["--prime", "@\n4G\t8", "--length", "100"]);
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout);
    assert!(a.stdout.starts_with(b"@\n4G\t8"));
}

#[test]
fn unknown_prime_characters_are_named() {
    fails_with(sample(&["--prime", "@\nZ%"]), "'Z', '%'");
    fails_with(sample(&["--prime", ""]), "prime text is empty");
    fails_with(sample(&["--prime-file", "/no/such/prime"]), "cannot read prime file");
}

#[test]
fn absurd_lengths_and_temperatures_are_refused() {
    fails_with(sample(&["--length", "0"]), "length must be a whole number from 1 to 10000000");
    fails_with(
        sample(&["--length", "10000001"]),
        "length must be a whole number from 1 to 10000000",
    );
    for t in ["0", "-1", "NaN", "inf", "1000"] {
        fails_with(sample(&["--temperature", t]), "temperature must be a number above 0");
    }
    fails_with(sample(&["--temperature", "warm"]), "invalid value 'warm'");
}

#[test]
fn missing_truncated_and_foreign_model_files_are_refused() {
    fails_with(kernrnn(&["sample", "--model", "/no/such/model.safetensors"]), "does not exist");
    let dir = common::temp_dir("bad-models");
    let bytes = std::fs::read(model()).unwrap();
    let cut = dir.join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    fails_with(
        kernrnn(&["sample", "--model", cut.to_str().unwrap()]),
        "not a kernrnn weights file",
    );
    let foreign = dir.join("page.html");
    std::fs::write(&foreign, "<!doctype html><p>hello</p>").unwrap();
    fails_with(
        kernrnn(&["sample", "--model", foreign.to_str().unwrap()]),
        "not a kernrnn weights file",
    );
    let empty = dir.join("empty.safetensors");
    std::fs::write(&empty, "").unwrap();
    fails_with(kernrnn(&["sample", "--model", empty.to_str().unwrap()]), "empty");
}

#[test]
fn corpus_paths_that_do_not_exist_or_hold_nothing_are_refused() {
    fails_with(
        kernrnn(&["prep", "--corpus", "/no/such/corpus"]),
        "corpus folder /no/such/corpus does not exist",
    );
    let empty = common::temp_dir("cli-empty");
    fails_with(kernrnn(&["prep", "--corpus", empty.to_str().unwrap()]), "has no .krn file");
    let m = model().to_str().unwrap();
    fails_with(kernrnn(&["eval", "--model", m, "--corpus", "/no/such/corpus"]), "does not exist");
    let out = empty.join("out");
    fails_with(
        kernrnn(&[
            "train",
            "--corpus",
            "/no/such/corpus",
            "--name",
            "x",
            "--out",
            out.to_str().unwrap(),
        ]),
        "does not exist",
    );
    fails_with(
        kernrnn(&["train", "--corpus", ".", "--name", "../escape", "--out", out.to_str().unwrap()]),
        "--name",
    );
}

#[test]
fn prep_prints_the_prepared_text_and_a_summary() {
    let out = kernrnn(&["prep", "--corpus", common::fixture_corpus().to_str().unwrap()]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("2 files"), "{stderr}");
    assert!(stderr.contains("skipped") && stderr.contains("d-binary.krn"), "{stderr}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text, kernrnn::kern::prepare_dir(&common::fixture_corpus()).unwrap().text);
}

#[test]
fn eval_reports_loss_and_unknown_characters() {
    let m = model().to_str().unwrap();
    let out = kernrnn(&[
        "eval",
        "--model",
        m,
        "--corpus",
        common::fixture_corpus().to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let nats = report["loss_nats"].as_f64().unwrap();
    assert!(nats > 0.0 && nats < 3.0, "{report}");
    assert!((report["loss_bits"].as_f64().unwrap() - nats / std::f64::consts::LN_2).abs() < 1e-9);
    assert_eq!(report["unknown_chars"], 0);

    // A corpus with characters the model never saw: counted and named, not dropped silently.
    let dir = common::temp_dir("eval-unknown");
    let piece = std::fs::read_to_string(common::fixture_corpus().join("a-scales.krn")).unwrap();
    std::fs::write(dir.join("x.krn"), piece.replace("=2\t=2\t=2", "=2\t=2\t=2\n4C~\t4Z\t."))
        .unwrap();
    let out = kernrnn(&["eval", "--model", m, "--corpus", dir.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("2 characters unknown to the model were left out: \"Z~\""), "{text}");
}

#[test]
fn kern_output_is_a_complete_score_that_the_checker_accepts() {
    let out = sample(&["--seed", "5", "--length", "800", "--kern"]);
    assert!(out.status.success());
    let score = String::from_utf8(out.stdout).unwrap();
    assert!(score.contains("**kern"), "{score}");
    assert!(score.lines().any(|l| l.starts_with("=1")));
    assert!(score.trim_end().lines().last().unwrap().split('\t').all(|t| t == "*-"));
    let report = kernrnn::kern::check_kern(&score);
    assert_eq!(
        report.count(kernrnn::kern::DiagnosticKind::Structure),
        0,
        "{:?}",
        report.diagnostics
    );
    assert_eq!(
        report.count(kernrnn::kern::DiagnosticKind::UnknownToken),
        0,
        "{:?}",
        report.diagnostics
    );
}

#[test]
fn check_diagnoses_the_published_raw_sample_with_line_numbers() {
    let Some(corpus) = common::shared("corpus", "check_diagnoses_the_published_raw_sample") else {
        return;
    };
    let file = corpus.join("published-sample.txt");
    let out = kernrnn(&["check", "--meter", "4/4", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    for line in [":10: rhythm", ":15: rhythm", ":18: rhythm", ":26: rhythm"] {
        assert!(text.contains(line), "{line} missing in {text}");
    }
    assert!(text.contains("INVALID (raw sample)"));
}

#[test]
fn check_accepts_a_real_score_and_refuses_bad_arguments() {
    let file = common::fixture_corpus().join("a-scales.krn");
    let out = kernrnn(&["check", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid (score)"));
    fails_with(kernrnn(&["check", "/no/such.krn"]), "cannot read /no/such.krn");
}

#[test]
fn sample_and_check_accept_the_same_meters() {
    let file = common::fixture_corpus().join("a-scales.krn");
    let out = sample(&["--meter", "80/4", "--length", "50"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = kernrnn(&["check", "--meter", "80/4", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn sample_and_check_refuse_the_same_meters_with_the_same_message() {
    let file = common::fixture_corpus().join("a-scales.krn");
    for bad in ["0/4", "100/4", "3-4", "5/3"] {
        let rule = format!(
            "meter must be auto (from the music) or N/D with N a whole number from 1 to 99 and D one of 1, 2, 4, 8, 16, 32, 64, got {bad:?}"
        );
        fails_with(sample(&["--meter", bad]), &rule);
        fails_with(kernrnn(&["check", "--meter", bad, file.to_str().unwrap()]), &rule);
    }
}

/// Ctrl-C stops training with a checkpoint that `--resume` continues. Signals that arrive
/// together are one interrupt, not "quit at once": `timeout -s INT` signals the command and
/// then its whole process group, and such a double signal used to lose the checkpoint.
#[cfg(unix)]
#[test]
fn an_interrupt_writes_a_checkpoint_even_when_signalled_twice_at_once() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;

    let dir = common::temp_dir("cli-interrupt");
    let ckpt = dir.join("ckpt");
    let (corpus, out) = (common::fixture_corpus(), dir.join("models"));
    let train = |extra: &[&str]| {
        let mut args = vec!["train", "--corpus", corpus.to_str().unwrap(), "--name", "stopped"];
        args.extend_from_slice(&[
            "--out",
            out.to_str().unwrap(),
            "--checkpoint-dir",
            ckpt.to_str().unwrap(),
        ]);
        args.extend_from_slice(&[
            "--layers",
            "1",
            "--hidden",
            "16",
            "--seq-length",
            "16",
            "--batch-size",
            "4",
        ]);
        args.extend_from_slice(&["--eval-every", "5"]);
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_kernrnn"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut child = train(&["--epochs", "100000"]);
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    // Under way once it reports a validation loss.
    while !seen.lines().any(|l| l.starts_with("epoch ")) {
        assert!(stderr.read_line(&mut seen).unwrap() > 0, "training ended early: {seen}");
    }
    for _ in 0..2 {
        let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
        assert!(kill.success());
    }
    stderr.read_to_string(&mut seen).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen}");
    assert!(seen.contains("interrupted: writing a checkpoint"), "{seen}");
    assert!(!seen.contains("interrupted again"), "{seen}");
    assert!(!seen.contains("panicked"), "{seen}");

    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ckpt.join("latest/state.json")).unwrap())
            .unwrap();
    let done = state["global_iteration"].as_u64().unwrap();
    assert!(done >= 5, "{state}");
    // The run goes on from there.
    let resumed = train(&["--resume", "--epochs", "100000", "--max-iterations", "3"])
        .wait_with_output()
        .unwrap();
    let log = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{log}");
    assert!(log.contains(&format!("(iteration {done})")), "{log}");
}

/// `--backend wgpu` on a machine without a GPU driver is one clear line, not burn's panic.
/// (The loader variables hide every Vulkan driver and EGL vendor, as on a bare server.)
#[cfg(target_os = "linux")]
#[test]
fn training_on_a_missing_gpu_is_a_clear_error() {
    let dir = common::temp_dir("cli-no-gpu");
    let out = Command::new(env!("CARGO_BIN_EXE_kernrnn"))
        .args([
            "train",
            "--corpus",
            common::fixture_corpus().to_str().unwrap(),
            "--name",
            "g",
            "--backend",
            "wgpu",
        ])
        .args([
            "--out",
            dir.join("models").to_str().unwrap(),
            "--checkpoint-dir",
            dir.join("ckpt").to_str().unwrap(),
        ])
        .env("VK_LOADER_DRIVERS_DISABLE", "*")
        .env("__EGL_VENDOR_LIBRARY_FILENAMES", "/nonexistent/egl-vendor.json")
        .output()
        .unwrap();
    fails_with(out, "--backend wgpu: no usable GPU here");
}
