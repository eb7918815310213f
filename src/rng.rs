//! A small seeded random stream (xoshiro256** seeded through splitmix64): the same seed gives
//! the same numbers on every platform, natively and in wasm.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        Rng { s: [splitmix64(&mut x), splitmix64(&mut x), splitmix64(&mut x), splitmix64(&mut x)] }
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1), 24 random bits (exact in f32).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_1_gives_the_pinned_stream() {
        // A change of generator would change every golden sample: it must be seen here first.
        let mut r = Rng::new(1);
        let first: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(first, PINNED_SEED_1);
    }

    #[test]
    fn different_seeds_give_different_streams() {
        assert_ne!(Rng::new(2).next_u64(), Rng::new(1).next_u64());
    }

    #[test]
    fn floats_are_in_the_unit_interval() {
        let mut r = Rng::new(7);
        for _ in 0..1000 {
            assert!((0.0..1.0).contains(&r.next_f32()));
        }
    }

    /// The first three numbers of seed 1.
    const PINNED_SEED_1: [u64; 3] =
        [12966619160104079557, 9600361134598540522, 10590380919521690900];
}
