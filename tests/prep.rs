//! Corpus preparation follows the published recipe and says what it skipped.

mod common;

use kernrnn::kern::{prepare_dir, prepare_text, CorpusError};

#[test]
fn fixture_corpus_uses_the_good_files_and_names_the_others() {
    let corpus = prepare_dir(&common::fixture_corpus()).unwrap();
    let names: Vec<String> =
        corpus.files.iter().map(|(p, _)| p.file_name().unwrap().to_string_lossy().into()).collect();
    // Sorted by path, recursive; notes.txt is not a .krn file.
    assert_eq!(names, ["a-scales.krn", "b-arpeggios.krn"]);
    assert_eq!(corpus.warnings.len(), 2, "{:?}", corpus.warnings);
    assert!(corpus
        .warnings
        .iter()
        .any(|w| w.contains("c-no-barline.krn") && w.contains("no barline")));
    assert!(corpus
        .warnings
        .iter()
        .any(|w| w.contains("d-binary.krn") && w.contains("not a text file")));
    // Header lines before the first barline and comments are gone, barlines are `@`.
    assert!(corpus.text.starts_with("@\n4"));
    assert!(!corpus.text.contains("**kern"));
    assert!(!corpus.text.contains('!'));
    assert!(!corpus.text.contains('='));
    assert_eq!(corpus.text.matches("*-\t*-\t*-\n").count(), 2);
    assert_eq!(corpus.text.matches("@\n").count(), 2 * 25);
    assert_eq!(corpus.chars(), corpus.files.iter().map(|(_, n)| n).sum::<usize>());
}

#[test]
fn missing_and_empty_corpus_folders_are_errors() {
    let missing = common::fixtures().join("no-such-folder");
    let err = prepare_dir(&missing).unwrap_err();
    assert!(matches!(err, CorpusError::NotFound(_)));
    assert!(err.to_string().contains("does not exist"));

    let empty = common::temp_dir("empty-corpus");
    let err = prepare_dir(&empty).unwrap_err();
    assert_eq!(err.to_string(), format!("corpus folder {} has no .krn file", empty.display()));

    let only_bad = common::temp_dir("bad-corpus");
    std::fs::write(only_bad.join("x.krn"), "**kern\n4c\n*-\n").unwrap();
    let err = prepare_dir(&only_bad).unwrap_err();
    assert!(err.to_string().contains("none is usable"), "{err}");

    let file = common::fixture_corpus().join("a-scales.krn");
    assert!(matches!(prepare_dir(&file), Err(CorpusError::NotADirectory(_))));
}

#[test]
fn recipe_keeps_data_and_interpretations_verbatim() {
    let text = "**kern\t**kern\n*M3/4\t*M3/4\n=1-\t=1-\n4c\t4e\n*^\t*\n4d\t4f\t4a\n!LO:TX\t!\t!\n*v\t*v\t*\n=2\t=2\n*-\t*-\n";
    assert_eq!(prepare_text(text).unwrap(), "@\n4c\t4e\n*^\t*\n4d\t4f\t4a\n*v\t*v\t*\n@\n*-\t*-\n");
}
