//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use kernrnn::model::Layers;
use kernrnn::train::{self, Backend, Silent, TrainConfig, TrainReport, TrainRun};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The hand-made corpus: two good pieces, plus files preparation must skip.
pub fn fixture_corpus() -> PathBuf {
    fixtures().join("corpus")
}

/// A folder of `../shared` beside the checkout (`corpus`, `corpus-extra`), when present. When it
/// is absent, says so on the terminal (not through the test harness, which would hide it) and
/// names the test that cannot run: corpus tests are skipped visibly, never passed silently.
pub fn shared(folder: &str, test: &str) -> Option<PathBuf> {
    use std::io::Write;
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared").join(folder);
    if p.is_dir() {
        return Some(p);
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {} not found (the shared corpora sit beside the checkout)",
        p.display()
    );
    None
}

/// The `.krn` files of a folder, sorted.
pub fn krn_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "krn"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// A fresh empty folder under the system temp folder.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "kernrnn-test-{}-{}-{}",
        std::process::id(),
        tag,
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A tiny configuration that trains in a second or two.
pub fn tiny_config() -> TrainConfig {
    TrainConfig {
        layers: 2,
        hidden: 24,
        seq_len: 16,
        batch: 8,
        learning_rate: 1e-2,
        epochs: 3,
        eval_every: 5,
        dropout: 0.1,
        ..TrainConfig::default()
    }
}

pub fn tiny_run(dir: &Path, name: &str, config: TrainConfig) -> TrainRun {
    TrainRun {
        corpus: fixture_corpus(),
        name: name.into(),
        checkpoint_dir: dir.join("checkpoints").join(name),
        out_dir: dir.join("models"),
        config,
        backend: Backend::Cpu,
        layers: Layers::Fused,
        resume: false,
        max_minutes: None,
        max_iterations: None,
        export_last: false,
        stop: Arc::new(AtomicBool::new(false)),
    }
}

pub fn train_tiny(dir: &Path, name: &str) -> TrainReport {
    train::train(&tiny_run(dir, name, tiny_config()), &mut Silent).unwrap()
}
