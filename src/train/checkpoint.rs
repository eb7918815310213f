//! Checkpoints: model, optimizer state, the carried hidden state and the run's state, written
//! to `DIR/latest` by building `DIR/latest.tmp` and swapping it in, so a kill at any moment
//! leaves either the new checkpoint or the previous one (`DIR/latest.old`), never half of one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::{tensor::TensorView, Dtype, SafeTensors};

use super::{TrainConfig, TrainError, TrainState};
use crate::model::{CharLstm, State};
use crate::weights::{Hyper, Weights};

const LATEST: &str = "latest";
const TMP: &str = "latest.tmp";
const OLD: &str = "latest.old";
/// The weights with the lowest validation loss so far, in the export format.
const BEST: &str = "best.safetensors";

/// Writes a file through a temporary sibling and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

fn complete(dir: &Path) -> bool {
    dir.join("state.json").is_file()
}

/// The newest complete checkpoint folder, if any.
fn newest(dir: &Path) -> Option<PathBuf> {
    [LATEST, OLD].iter().map(|d| dir.join(d)).find(|d| complete(d))
}

pub fn exists(dir: &Path) -> bool {
    newest(dir).is_some()
}

fn err(what: &str, path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Checkpoint(format!("cannot {what} checkpoint {}: {e}", path.display()))
}

fn carried_to_bytes(carried: &State) -> Result<Vec<u8>, String> {
    let mut buffers = Vec::new();
    for (l, (h, c)) in carried.iter().enumerate() {
        for (name, t) in [(format!("h{l}"), h), (format!("c{l}"), c)] {
            let shape = t.dims().to_vec();
            let data = t.to_data().convert::<f32>();
            let values = data.try_to_vec::<f32>().map_err(|e| format!("{e:?}"))?;
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            buffers.push((name, shape, bytes));
        }
    }
    let views = buffers
        .iter()
        .map(|(n, s, b)| TensorView::new(Dtype::F32, s.clone(), b).map(|v| (n.clone(), v)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    safetensors::serialize(views, None::<HashMap<String, String>>).map_err(|e| e.to_string())
}

fn carried_from_bytes(bytes: &[u8], layers: usize, device: &Device) -> Result<State, String> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    let read = |name: String| -> Result<Tensor<2>, String> {
        let view = file.tensor(&name).map_err(|e| format!("{name}: {e}"))?;
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let [rows, cols] =
            <[usize; 2]>::try_from(view.shape()).map_err(|_| format!("{name}: not 2-d"))?;
        Ok(Tensor::from_data(TensorData::new(values, [rows, cols]), device))
    };
    (0..layers).map(|l| Ok((read(format!("h{l}"))?, read(format!("c{l}"))?))).collect()
}

/// Saves a checkpoint of a run.
pub fn save(
    dir: &Path,
    model: &CharLstm,
    optim: &ModuleOptimizer,
    state: &TrainState,
    carried: Option<&State>,
) -> Result<(), TrainError> {
    let tmp = dir.join(TMP);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| err("clear", &tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| err("create", &tmp, e))?;
    model
        .clone()
        .save_file(tmp.join("model.bpk"))
        .map_err(|e| err("write", &tmp, format!("{e:?}")))?;
    optim.save(tmp.join("optim.bpk")).map_err(|e| err("write", &tmp, format!("{e:?}")))?;
    if let Some(carried) = carried {
        let bytes = carried_to_bytes(carried).map_err(|e| err("encode", &tmp, e))?;
        std::fs::write(tmp.join("carried.safetensors"), bytes)
            .map_err(|e| err("write", &tmp, e))?;
    }
    let json = serde_json::to_string_pretty(state).map_err(|e| err("encode", &tmp, e))?;
    // state.json last: a folder without it is incomplete and never loaded.
    std::fs::write(tmp.join("state.json"), json).map_err(|e| err("write", &tmp, e))?;
    let (latest, old) = (dir.join(LATEST), dir.join(OLD));
    if complete(&latest) {
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| err("remove", &old, e))?;
        }
        std::fs::rename(&latest, &old).map_err(|e| err("rotate", &latest, e))?;
    } else if latest.exists() {
        std::fs::remove_dir_all(&latest).map_err(|e| err("remove", &latest, e))?;
    }
    std::fs::rename(&tmp, &latest).map_err(|e| err("install", &latest, e))?;
    Ok(())
}

/// A checkpoint read back.
pub struct Loaded {
    pub model: CharLstm,
    pub optim: ModuleOptimizer,
    pub state: TrainState,
    pub carried: Option<State>,
}

/// Loads the newest complete checkpoint of `dir` onto `device`.
pub fn load(
    dir: &Path,
    device: &Device,
    new_optim: fn(&TrainConfig) -> ModuleOptimizer,
) -> Result<Loaded, TrainError> {
    let path = newest(dir).ok_or_else(|| err("find", dir, "no complete checkpoint"))?;
    let json =
        std::fs::read_to_string(path.join("state.json")).map_err(|e| err("read", &path, e))?;
    let state: TrainState = serde_json::from_str(&json).map_err(|e| err("parse", &path, e))?;
    let vocab_size = state.vocab.chars().count();
    let hyper = Hyper {
        vocab_size,
        layers: state.config.layers,
        hidden: state.config.hidden,
        measure_clock: state.config.measure_clock,
    };
    let model = CharLstm::new(hyper, state.config.dropout, device)
        .try_load_file(path.join("model.bpk"))
        .map_err(|e| err("load model of", &path, format!("{e:?}")))?;
    let optim = new_optim(&state.config)
        .load(path.join("optim.bpk"))
        .map_err(|e| err("load optimizer of", &path, format!("{e:?}")))?;
    let carried_file = path.join("carried.safetensors");
    let carried = if carried_file.is_file() {
        let bytes = std::fs::read(&carried_file).map_err(|e| err("read", &carried_file, e))?;
        Some(
            carried_from_bytes(&bytes, hyper.layers, device)
                .map_err(|e| err("parse", &carried_file, e))?,
        )
    } else {
        None
    };
    Ok(Loaded { model, optim, state, carried })
}

/// Keeps `weights` as the run's best so far (`DIR/best.safetensors`).
pub fn save_best(dir: &Path, weights: &Weights) -> Result<(), TrainError> {
    let path = dir.join(BEST);
    std::fs::create_dir_all(dir).map_err(|e| err("create", dir, e))?;
    let bytes = weights.to_bytes().map_err(|e| err("encode", &path, e))?;
    write_atomic(&path, &bytes).map_err(|e| err("write", &path, e))
}

/// The run's best weights so far, if it has validated at least once.
pub fn load_best(dir: &Path) -> Result<Option<Weights>, TrainError> {
    let path = dir.join(BEST);
    if !path.is_file() {
        return Ok(None);
    }
    let bytes = std::fs::read(&path).map_err(|e| err("read", &path, e))?;
    Weights::from_bytes(&bytes).map(Some).map_err(|e| err("parse", &path, e))
}
