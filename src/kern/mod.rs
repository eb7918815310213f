//! Humdrum **kern text: preparing a corpus for training, the grammar that keeps samples valid,
//! the checker, and turning samples back into scores.

pub mod check;
pub mod grammar;
pub mod prep;
pub mod reconstruct;
mod token;

pub use check::{check_kern, check_prepared, CheckReport, Diagnostic, DiagnosticKind};
pub use grammar::{Grammar, GrammarError, GrammarOptions};
pub use prep::{prepare_dir, prepare_text, Corpus, CorpusError};
pub use reconstruct::{reconstruct, reconstruct_with_report, ReconstructReport, ScoreOptions};
