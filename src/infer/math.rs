//! Elementary functions with a fixed implementation. `f32::exp` calls the platform's libm,
//! whose last bits differ between glibc and wasm; these use only `+ - * /` and bit casts, so
//! every platform computes the same bits.

const LOG2_E: f32 = std::f32::consts::LOG2_E;
// ln 2 split so that k * LN2_HI is exact for the k we meet.
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;

/// e^x, relative error below 2e-7 over the range that does not overflow.
#[inline]
pub fn exp(x: f32) -> f32 {
    // Clamping also maps NaN to a finite value (f32::clamp keeps NaN, so test explicitly).
    let x = if x.is_nan() { 0.0 } else { x.clamp(-87.0, 88.0) };
    let k = (x * LOG2_E + 0.5).floor();
    let r = x - k * LN2_HI - k * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r / 5040.0))))));
    let scale = f32::from_bits(((k as i32 + 127) as u32) << 23);
    p * scale
}

#[inline]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

#[inline]
pub fn tanh(x: f32) -> f32 {
    2.0 / (1.0 + exp(-2.0 * x)) - 1.0
}

/// The model's probabilities at `temperature`: the softmax of `logits / temperature`, in f64
/// so that products over a run of characters (a whole number, a text's likelihood) keep
/// their precision.
pub fn softmax_at(logits: &[f32], temperature: f32) -> Vec<f64> {
    let max = logits.iter().fold(f32::MIN, |a, &b| a.max(b));
    let w: Vec<f64> = logits.iter().map(|&l| exp((l - max) / temperature) as f64).collect();
    let total: f64 = w.iter().sum();
    w.into_iter().map(|x| x / total).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_libm() {
        let mut x = -80.0f32;
        while x < 80.0 {
            let (ours, libm) = (exp(x), x.exp());
            assert!(((ours - libm) / libm).abs() < 4e-7, "exp({x}) = {ours}, libm {libm}");
            x += 0.0137;
        }
        assert_eq!(exp(-1000.0), exp(-87.0));
        assert!(exp(1000.0).is_finite());
        assert!(exp(f32::NAN).is_finite());
    }

    #[test]
    fn sigmoid_and_tanh_match_libm() {
        let mut x = -20.0f32;
        while x < 20.0 {
            assert!((sigmoid(x) - 1.0 / (1.0 + (-x).exp())).abs() < 1e-6);
            assert!((tanh(x) - x.tanh()).abs() < 1e-6, "tanh({x})");
            x += 0.011;
        }
    }
}
