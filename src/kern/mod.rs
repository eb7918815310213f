//! Humdrum **kern text: preparing a corpus for training and turning samples back into scores.

pub mod prep;
pub mod reconstruct;

pub use prep::{prepare_dir, prepare_text, Corpus, CorpusError};

pub use reconstruct::{reconstruct, reconstruct_with_report, ReconstructReport, ScoreOptions};
