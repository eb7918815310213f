//! Corpus preparation: the recipe of the published char-rnn experiment on **kern sonatas.
//!
//! For each `.krn` file (recursively, sorted by path): skip every line before the first line
//! starting with `=`; each line starting with `=` becomes the line `@`; lines starting with `!`
//! are dropped; every other line is kept verbatim. The prepared files are concatenated.
//! (Windows line ends are read as plain line ends so they do not enter the vocabulary.)

use std::fmt;
use std::path::{Path, PathBuf};

use super::meter::meter_of_token;

/// Prepared text of one file's content, or `None` when it has no barline.
pub fn prepare_text(content: &str) -> Option<String> {
    let mut out = String::with_capacity(content.len());
    let mut started = false;
    for line in content.lines() {
        if line.starts_with('=') {
            started = true;
            out.push_str("@\n");
        } else if started && !line.starts_with('!') {
            out.push_str(line);
            out.push('\n');
        }
    }
    started.then_some(out)
}

/// The first meter a file's interpretations set (`*M6/8` as `6/8`).
fn first_meter(content: &str) -> Option<String> {
    content
        .lines()
        .filter(|l| l.starts_with('*'))
        .flat_map(|l| l.split('\t'))
        .find_map(|t| meter_of_token(t.trim()))
        .map(str::to_string)
}

/// A prepared corpus: the concatenated text and what went into it.
#[derive(Clone, Debug, Default)]
pub struct Corpus {
    pub text: String,
    /// Files used, with the number of prepared characters each gave.
    pub files: Vec<(PathBuf, usize)>,
    /// One line per file that was skipped, naming it and why.
    pub warnings: Vec<String>,
    /// The `!!!RDF**` records of the files (`!!!RDF**kern: > = above`), in file order: the
    /// user signifiers they declare (the recipe drops them from the text; a model carries them
    /// in its `kern::Dialect`).
    pub rdf_records: Vec<String>,
    /// The prepared line (1-based) each file's text starts at, in the order of `files`.
    pub line_starts: Vec<usize>,
    /// The first meter (`*M3/4` as `3/4`) of each file that has one, in the order of `files`
    /// (the recipe drops the header that holds it; a model's dialect keeps their counts).
    pub first_meters: Vec<String>,
}

impl Corpus {
    pub fn chars(&self) -> usize {
        self.text.chars().count()
    }

    /// The file (as given) and the line within its prepared text of line `line` (1-based) of
    /// the prepared corpus.
    pub fn file_line(&self, line: usize) -> (String, usize) {
        let i = self.line_starts.partition_point(|&s| s <= line).saturating_sub(1);
        match (self.files.get(i), self.line_starts.get(i)) {
            (Some((path, _)), Some(&start)) => (path.display().to_string(), line + 1 - start),
            _ => ("the prepared corpus".to_string(), line),
        }
    }

    /// The one-line summary the commands print.
    pub fn summary(&self, dir: &Path) -> String {
        format!(
            "{}: {} files, {} characters prepared{}",
            dir.display(),
            self.files.len(),
            self.chars(),
            match self.warnings.len() {
                0 => String::new(),
                n => format!(", {n} skipped"),
            }
        )
    }
}

#[derive(Debug)]
pub enum CorpusError {
    NotFound(PathBuf),
    NotADirectory(PathBuf),
    Unreadable(PathBuf, std::io::Error),
    NoUsableFile { dir: PathBuf, krn_files: usize },
}

impl fmt::Display for CorpusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorpusError::NotFound(p) => write!(f, "corpus folder {} does not exist", p.display()),
            CorpusError::NotADirectory(p) => {
                write!(f, "corpus path {} is not a folder of .krn files", p.display())
            }
            CorpusError::Unreadable(p, e) => write!(f, "cannot read folder {}: {e}", p.display()),
            CorpusError::NoUsableFile { dir, krn_files: 0 } => {
                write!(f, "corpus folder {} has no .krn file", dir.display())
            }
            CorpusError::NoUsableFile { dir, krn_files } => write!(
                f,
                "corpus folder {} has {krn_files} .krn files but none is usable **kern text with a barline",
                dir.display()
            ),
        }
    }
}

impl std::error::Error for CorpusError {}

fn krn_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CorpusError> {
    let entries = std::fs::read_dir(dir).map_err(|e| CorpusError::Unreadable(dir.into(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| CorpusError::Unreadable(dir.into(), e))?;
        let path = entry.path();
        // Follows links to folders, like a user would expect of a corpus folder.
        if path.is_dir() {
            krn_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("krn")) {
            out.push(path);
        }
    }
    Ok(())
}

/// Prepares every `.krn` file under `dir`. Files that cannot be used are skipped with a
/// warning; a folder with no usable file is an error.
pub fn prepare_dir(dir: &Path) -> Result<Corpus, CorpusError> {
    if !dir.exists() {
        return Err(CorpusError::NotFound(dir.into()));
    }
    if !dir.is_dir() {
        return Err(CorpusError::NotADirectory(dir.into()));
    }
    let mut paths = Vec::new();
    krn_files(dir, &mut paths)?;
    paths.sort();
    let mut corpus = Corpus::default();
    for path in &paths {
        let skip = |why: String| format!("skipped {}: {why}", path.display());
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                corpus.warnings.push(skip(format!("cannot be read ({e})")));
                continue;
            }
        };
        let text = match String::from_utf8(bytes) {
            Ok(t) if !t.contains('\0') => t,
            _ => {
                corpus.warnings.push(skip("not a text file (binary or not UTF-8)".into()));
                continue;
            }
        };
        match prepare_text(&text) {
            Some(prepared) => {
                let start = corpus.text.matches('\n').count() + 1;
                corpus.line_starts.push(start);
                corpus.files.push((path.clone(), prepared.chars().count()));
                corpus.text.push_str(&prepared);
                let records = text.lines().filter(|l| l.starts_with("!!!RDF**"));
                corpus.rdf_records.extend(records.map(|l| l.trim_end().to_string()));
                corpus.first_meters.extend(first_meter(&text));
            }
            None => corpus.warnings.push(skip("no barline (no line starting with `=`)".into())),
        }
    }
    if corpus.files.is_empty() {
        return Err(CorpusError::NoUsableFile { dir: dir.into(), krn_files: paths.len() });
    }
    Ok(corpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_recipe() {
        let file = "!!!COM: x\n**kern\t**kern\n*M4/4\t*M4/4\n4c\t4e\n=1\t=1\n4d\t4f\n!! comment\n!\t!\n*^\t*\n=2\t=2\n*-\t*-\n!!!END\n";
        assert_eq!(prepare_text(file).unwrap(), "@\n4d\t4f\n*^\t*\n@\n*-\t*-\n");
        assert_eq!(prepare_text("**kern\n4c\n*-\n"), None);
        assert_eq!(prepare_text("=1\r\n4c\r\n"), Some("@\n4c\n".into()));
    }

    #[test]
    fn a_corpus_keeps_its_signifier_records_and_knows_which_file_a_line_is_from() {
        let dir = std::env::temp_dir().join(format!("kernrnn-prep-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = "**kern\n=1\n4c\n*-\n!!!RDF**kern: > = above\n!!!RDF**kern: < = below\n";
        let b = "**kern\n=1\n4d\n4e\n*-\n!!!RDF**kern: > = placed above\n!!!RDF**dynam: > = dim.\n";
        std::fs::write(dir.join("a.krn"), a).unwrap();
        std::fs::write(dir.join("b.krn"), b).unwrap();
        let corpus = prepare_dir(&dir).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(
            corpus.rdf_records,
            [
                "!!!RDF**kern: > = above",
                "!!!RDF**kern: < = below",
                "!!!RDF**kern: > = placed above",
                "!!!RDF**dynam: > = dim."
            ]
        );
        assert_eq!(corpus.line_starts, [1, 4]);
        assert!(corpus.first_meters.is_empty());
        assert_eq!(
            first_meter("**kern\t**kern\n*MM120\t*MM120\n*M6/8\t*M6/8\n=1\n*M3/4\n"),
            Some("6/8".into())
        );
        let (file, line) = corpus.file_line(5);
        assert!(file.ends_with("b.krn") && line == 2, "{file} {line}");
    }
}
