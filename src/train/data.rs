//! Training batches laid out as in char-rnn: the text is cut into `batch` contiguous streams,
//! and iteration `k` takes characters `k*T .. (k+1)*T` of every stream, so the hidden state
//! carried from one iteration to the next continues each stream where it stopped.

use burn::tensor::{Device, Int, Tensor, TensorData};

/// Splits a token sequence into training and validation parts by contiguous position: the
/// last `valid_fraction` of the text is held out (files sorted by path, so it is the end of the
/// last pieces).
pub fn split(tokens: &[usize], valid_fraction: f64) -> (&[usize], &[usize]) {
    let valid = ((tokens.len() as f64) * valid_fraction).round() as usize;
    tokens.split_at(tokens.len() - valid.min(tokens.len()))
}

/// Streams of a token sequence, cut for batches of `batch` sequences of `seq_len` steps.
#[derive(Clone, Debug)]
pub struct Batches {
    /// `[stream][position]`, each stream `iterations * seq_len + 1` long (inputs and targets).
    streams: Vec<Vec<i64>>,
    /// The measure clock's class beside each input, cut the same way (a model that reads it).
    clocks: Option<Vec<Vec<i64>>>,
    pub batch: usize,
    pub seq_len: usize,
    pub iterations: usize,
}

impl Batches {
    /// `None` when the text is too short for even one batch. `clock`: the measure clock's class
    /// after each token (as long as `tokens`), for a model that reads it.
    pub fn new(
        tokens: &[usize],
        clock: Option<&[u8]>,
        batch: usize,
        seq_len: usize,
    ) -> Option<Self> {
        if batch == 0 || seq_len == 0 || tokens.len() < 2 {
            return None;
        }
        let per_stream = (tokens.len() - 1) / batch;
        let iterations = per_stream / seq_len;
        if iterations == 0 {
            return None;
        }
        let len = iterations * seq_len;
        let cut = |values: &dyn Fn(usize) -> i64, n: usize| -> Vec<Vec<i64>> {
            (0..batch).map(|b| (b * per_stream..b * per_stream + n).map(values).collect()).collect()
        };
        let streams = cut(&|i| tokens[i] as i64, len + 1);
        debug_assert!(clock.is_none_or(|c| c.len() == tokens.len()), "a class per token");
        let clocks = clock.filter(|c| c.len() == tokens.len()).map(|c| cut(&|i| c[i] as i64, len));
        Some(Batches { streams, clocks, batch, seq_len, iterations })
    }

    /// Characters one pass predicts.
    pub fn chars(&self) -> usize {
        self.iterations * self.seq_len * self.batch
    }

    /// The measure clock's classes beside the inputs of iteration `k`, `[T, B]`, when the
    /// batches have them.
    pub fn clock(&self, k: usize, device: &Device) -> Option<Tensor<2, Int>> {
        let clocks = self.clocks.as_ref()?;
        let (t, b) = (self.seq_len, self.batch);
        let mut x = Vec::with_capacity(t * b);
        for step in 0..t {
            x.extend(clocks.iter().map(|stream| stream[k * t + step]));
        }
        Some(Tensor::from_data(TensorData::new(x, [t, b]), device))
    }

    /// Inputs and targets of iteration `k`, both `[T, B]` (time-major, see the model).
    pub fn get(&self, k: usize, device: &Device) -> (Tensor<2, Int>, Tensor<1, Int>) {
        let (t, b) = (self.seq_len, self.batch);
        let mut x = Vec::with_capacity(t * b);
        let mut y = Vec::with_capacity(t * b);
        for step in 0..t {
            for stream in &self.streams {
                let pos = k * t + step;
                x.push(stream[pos]);
                y.push(stream[pos + 1]);
            }
        }
        (
            Tensor::from_data(TensorData::new(x, [t, b]), device),
            Tensor::from_data(TensorData::new(y, [t * b]), device),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_holds_out_the_end() {
        let t: Vec<usize> = (0..100).collect();
        let (a, b) = split(&t, 0.05);
        assert_eq!((a.len(), b.len()), (95, 5));
        assert_eq!(b[0], 95);
    }

    #[test]
    fn streams_are_contiguous() {
        let t: Vec<usize> = (0..23).collect();
        let b = Batches::new(&t, None, 2, 3).unwrap();
        // 22 / 2 = 11 per stream, 3 iterations of 3.
        assert_eq!(b.iterations, 3);
        assert_eq!(b.streams[1][0], 11);
        assert_eq!(b.chars(), 18);
        assert!(Batches::new(&t, None, 30, 3).is_none());
    }

    #[test]
    fn the_clock_beside_each_input_is_cut_like_the_inputs() {
        let t: Vec<usize> = (0..23).collect();
        let clock: Vec<u8> = (100..123).collect();
        let b = Batches::new(&t, Some(&clock), 2, 3).unwrap();
        let device = Device::flex();
        let (x, _) = b.get(1, &device);
        let k = b.clock(1, &device).unwrap();
        let x = x.into_data().convert::<i64>().try_to_vec::<i64>().unwrap();
        let k = k.into_data().convert::<i64>().try_to_vec::<i64>().unwrap();
        assert_eq!(k, x.iter().map(|v| v + 100).collect::<Vec<_>>());
        assert!(Batches::new(&t, None, 2, 3).unwrap().clock(0, &device).is_none());
    }
}
