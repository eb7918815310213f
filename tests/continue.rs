//! Continuing a real score: the given music comes back unchanged, the model's measures follow
//! in its spines and meter, and the whole passes the checker; what cannot be continued is
//! refused by name.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kernrnn::composer::Composer;
use kernrnn::kern::check_kern;
use kernrnn::{SampleOptions, Weights};

fn shipped(name: &str) -> Composer {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("models/{name}.safetensors"));
    Composer::from_weights(&Weights::from_bytes(&std::fs::read(path).unwrap()).unwrap())
}

fn kernrnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kernrnn")).args(args).output().unwrap()
}

fn mozart_model() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/mozart.safetensors").display().to_string()
}

/// A score of the current Beethoven edition, when the shared corpora are here.
fn edition_score(test: &str) -> Option<PathBuf> {
    let root = common::shared("corpus-extra", test)?;
    common::krn_files(&root.join("beethoven-current")).into_iter().next()
}

#[test]
fn the_cli_continues_a_score_of_another_edition_after_its_music_unchanged() {
    let test = "the_cli_continues_a_score_of_another_edition_after_its_music_unchanged";
    let Some(file) = edition_score(test) else { return };
    let original = std::fs::read_to_string(&file).unwrap();
    let f = file.to_str().unwrap();
    let model = mozart_model();
    let args = ["sample", "--model", &model, "--continue", f, "--seed", "2", "--length", "800"];
    let out = kernrnn(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let score = String::from_utf8(out.stdout).unwrap();
    let given = original.lines().take_while(|l| !l.starts_with("==")).count();
    let head: Vec<&str> = original.lines().take(given).collect();
    let out_lines: Vec<&str> = score.lines().collect();
    assert_eq!(&out_lines[..given], &head[..], "the given music changed");
    assert!(score.contains("!! kernrnn continues here: kernrnn mozart sample, seed 2"));
    let report = check_kern(&score);
    assert!(report.is_valid(), "{:?}", &report.diagnostics[..report.diagnostics.len().min(5)]);
    assert!(
        report.measures > original.matches("\n=").count(),
        "no measure was added: {}",
        report.summary()
    );
    assert_eq!(kernrnn(&args).stdout, score.as_bytes(), "the same seed gives the same score");
}

#[test]
fn the_cli_regenerates_from_a_measure_keeping_the_measures_before_it_byte_for_byte() {
    let test = "the_cli_regenerates_from_a_measure_keeping_the_measures_before_it_byte_for_byte";
    let Some(file) = edition_score(test) else { return };
    let original = std::fs::read_to_string(&file).unwrap();
    let f = file.to_str().unwrap();
    let model = mozart_model();
    let out = kernrnn(&[
        "sample",
        "--model",
        &model,
        "--continue",
        f,
        "--from-measure",
        "5",
        "--length",
        "600",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let score = String::from_utf8(out.stdout).unwrap();
    let cut = original.find("\n=5\t").expect("the file numbers measure 5") + 1;
    assert!(score.starts_with(&original[..cut]), "the measures before 5 changed");
    assert!(score[cut..].starts_with("=5\t"), "{}", &score[cut..cut + 40]);
    assert!(check_kern(&score).is_valid());
}

#[test]
fn what_cannot_be_continued_is_refused_with_the_reason() {
    let dir = common::temp_dir("continue");
    let model = mozart_model();
    let fail = |file: &str, extra: &[&str], needle: &str| {
        let mut args = vec!["sample", "--model", &model, "--continue", file];
        args.extend_from_slice(extra);
        let out = kernrnn(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && out.stdout.is_empty(), "{stderr}");
        assert!(stderr.contains(needle) && !stderr.contains("panicked"), "{needle}: {stderr}");
    };
    let write = |name: &str, text: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let prepared = write("sample.txt", b"@\n4c\t4e\t.\n@\n");
    fail(&prepared, &[], "not a **kern score");
    let empty = write("empty.krn", b"**kern\t**kern\n*M3/4\t*M3/4\n=1\t=1\n*-\t*-\n");
    fail(&empty, &[], "no music to continue");
    let score =
        write("score.krn", b"**kern\t**kern\n*M3/4\t*M3/4\n=1\t=1\n2.C\t2.c\n==\t==\n*-\t*-\n");
    fail(&score, &["--from-measure", "7"], "has no measure 7: its numbered barlines are 1 to 1");
    fail(&score, &["--meter", "6/8"], "keeps the score's meter");
    fail(&score, &["--raw"], "keeps to the **kern grammar");
    fail(&write("binary.krn", &[0xff, 0xfe, 0]), &[], "is not text");
    fail(&dir.join("none.krn").display().to_string(), &[], "does not exist");
    let out = kernrnn(&["sample", "--model", &model, "--from-measure", "3"]);
    assert!(!out.status.success(), "--from-measure without --continue");
}

/// Continues every score of the other editions and composers with the shipped Mozart model:
/// each one's given music is kept and the continued score is valid.
#[test]
fn every_score_beyond_the_corpus_continues_into_a_valid_score() {
    let test = "every_score_beyond_the_corpus_continues_into_a_valid_score";
    let Some(root) = common::shared("corpus-extra", test) else { return };
    let composer = shipped("mozart");
    let (mut tried, mut valid, mut refused) = (0, 0, Vec::new());
    let mut notices = 0;
    for folder in ["beethoven-current", "joplin"] {
        for file in common::krn_files(&root.join(folder)) {
            let text = std::fs::read_to_string(&file).unwrap();
            if !check_kern(&text).is_valid() {
                continue; // an edition's defect: the given music would carry it
            }
            tried += 1;
            let name = file.file_name().unwrap().to_string_lossy().to_string();
            let c = match composer.continuing(&text, None) {
                Ok(c) => c,
                Err(e) => {
                    refused.push(format!("{name}: {e}"));
                    continue;
                }
            };
            notices += c.notices.len();
            let base = SampleOptions { seed: 1, length: 400, ..SampleOptions::default() };
            let opts = c.options(&base).unwrap();
            let raw = kernrnn::sampler::sample(composer.model().clone(), &opts).unwrap();
            let score = c.score(&raw, "test", None).unwrap();
            let given = c.prime().len();
            assert!(given > 0 && score.measures >= 1, "{name}: no measure continued");
            let report = check_kern(&score.kern);
            if report.is_valid() {
                valid += 1;
            } else {
                refused.push(format!("{name}: {:?}", report.diagnostics.first()));
            }
        }
    }
    eprintln!("continued {valid}/{tried} valid scores into valid scores ({notices} notices)");
    for r in &refused {
        eprintln!("  {r}");
    }
    assert!(tried > 100, "{tried}");
    assert!(valid * 100 >= tried * 95, "{valid}/{tried}: {refused:#?}");
}
