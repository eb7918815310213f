//! Corpus preparation: the recipe of the published char-rnn experiment on **kern sonatas.
//!
//! For each `.krn` file (recursively, sorted by path): skip every line before the first line
//! starting with `=`; each line starting with `=` becomes the line `@`; lines starting with `!`
//! are dropped; every other line is kept verbatim. The prepared files are concatenated.
//! (Windows line ends are read as plain line ends so they do not enter the vocabulary.)

use std::fmt;
use std::path::{Path, PathBuf};

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

/// A prepared corpus: the concatenated text and what went into it.
#[derive(Clone, Debug, Default)]
pub struct Corpus {
    pub text: String,
    /// Files used, with the number of prepared characters each gave.
    pub files: Vec<(PathBuf, usize)>,
    /// One line per file that was skipped, naming it and why.
    pub warnings: Vec<String>,
}

impl Corpus {
    pub fn chars(&self) -> usize {
        self.text.chars().count()
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
                corpus.files.push((path.clone(), prepared.chars().count()));
                corpus.text.push_str(&prepared);
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
}
