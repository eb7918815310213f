use super::*;

/// The meter `n/d` (an accepted one).
fn mt(n: u32, d: u32) -> Meter {
    Meter::new(n, d).unwrap()
}
use crate::kern::duration::{DurSet, TPW};
use crate::kern::limits::*;

fn strict() -> Grammar {
    Grammar::new(GrammarOptions::default())
}

fn accepts(g: &mut Grammar, s: &str) -> Result<(), GrammarError> {
    g.push_str(s)
}

#[test]
fn a_simple_piece() {
    let mut g = strict();
    let text = "@\n4c\t4e\tp\n4d\t4f\t.\n2e\t2g\t.\n@\n*-\t*-\t*-\n@\n";
    accepts(&mut g, text).unwrap();
    assert_eq!(g.spines(), 0);
    assert!(g.at_line_start());
}

#[test]
fn rejects_with_positions() {
    let mut g = strict();
    g.push_str("@\n4c\t4e\tp\n").unwrap();
    // the first spine's quarter note has ended: `.` is not allowed
    // both notes end together: `.` in the first field would make a grace line, but not
    // in the last due field too
    let e = g.push_str("4d\t4f\tp\n.\t.").unwrap_err();
    assert_eq!((e.line, e.column), (4, 3), "{e}");
    let mut g = strict();
    g.push_str("@\n4c\t4e\tp\n").unwrap();
    // a whole note does not fit in the 3/4 left; it could only be a grace note, but those
    // are written 8 or shorter
    let e = g.push_str("1c").unwrap_err();
    assert_eq!((e.line, e.column), (3, 2), "{e}");
    assert!(g.allows('2') && g.allows('4') && g.allows('6') && !g.allows('.') && !g.allows('c'));
    g.push_str("6").unwrap();
    assert!(g.allows('c'), "16c");
}

#[test]
fn rhythm_rules() {
    let mut g = strict();
    g.push_str("@\n1c\t1e\tp\n@\n2c\t4e\tp\n").unwrap();
    // spine 1 sounds: `.`; spine 2 is due: a note
    assert!(!g.allows('4'));
    assert!(g.allows('.'));
    g.push_str(".\t").unwrap();
    // spine 2 is the only due spine: `.` would need a grace note in a later field
    assert!(!g.allows('.'));
    // barline only when both spines are at the same time
    assert!(g.clone().push_str("4f\t.\n").is_ok());
    assert!(g.clone().push_str("8f\t.\n@").is_err());
    g.push_str("4f\t.\n").unwrap();
    g.push_str("2c\t2e\t.\n").unwrap();
    assert!(g.allows('@'));
    g.push_str("@\n").unwrap();
    assert!(!g.allows('@'), "no empty measure right after a barline");
    assert!(g.at_line_start());
}

#[test]
fn pickup_and_short_last_measure() {
    let mut g = strict();
    g.push_str("@\n4c\t4e\t.\n@\n").unwrap(); // pickup
    g.push_str("1c\t1e\t.\n@\n4c\t4e\t.\n").unwrap();
    assert!(g.allows('@'));
    g.push_str("@\n").unwrap();
    // a short measure must be the last: no data now
    assert!(!g.allows('4') && !g.allows('.') && !g.allows('@'));
    g.push_str("*\t*\t*\n*-\t*-\t*-\n@\n").unwrap();
}

#[test]
fn grace_lines() {
    let mut g = strict();
    g.push_str("@\n4c\t4e\t.\n").unwrap();
    g.push_str(".\t16ffq\t.\n").unwrap();
    g.push_str("4c\t4e\t.\n").unwrap();
    // a line with only `.` in due spines is refused
    let mut h = g.clone();
    assert!(h.push_str(".\t.\t.\n").is_err());
    // grace note in a spine that still sounds: refused
    let mut g = strict();
    g.push_str("@\n2c\t4e\t.\n").unwrap();
    assert!(g.clone().push_str("8cq\t").is_err());
}

#[test]
fn chords_and_tuplets() {
    let mut g = strict();
    g.push_str("@\n4c 4e 4g\t12cc\t.\n.\t12dd\t.\n.\t12ee\t.\n2.c\t2.g\t.\n@\n").unwrap();
    let mut g = strict();
    g.push_str("@\n4c\t").unwrap();
    // chord notes share the duration
    g.push_str("4e").unwrap();
    assert!(g.allows(' '));
    g.push(' ').unwrap();
    assert!(!g.allows('8') && g.allows('4'));
}

#[test]
fn spine_manipulation() {
    let mut g = strict();
    g.push_str("@\n*\t*^\t*\n").unwrap();
    assert_eq!(g.spines(), 4);
    g.push_str("1c\t2e\t1g\tp\n.\t2f\t.\t.\n@\n").unwrap();
    assert!(g.clone().push_str("*v\t*\t").is_err(), "a lone *v");
    assert!(g.clone().push_str("*\t*\t*v\t*v").is_err(), "kern and dynam do not merge");
    assert!(g.clone().push_str("*v\t*v\t*v\t*\n").is_ok(), "three kern spines merge");
    g.push_str("*\t*v\t*v\t*\n").unwrap();
    assert_eq!(g.spines(), 3);
    assert!(g.clone().push_str("*^\t*clefG2").is_err());
    assert!(g.clone().push_str("*\t*\t*v").is_err());
}

#[test]
fn meters() {
    let mut g = strict();
    g.push_str("@\n*M3/4\t*M3/4\t*M3/4\n2.c\t2.e\t.\n@\n").unwrap();
    assert_eq!(g.meter(), mt(3, 4));
    assert!(g.clone().push_str("*M3/4\t*M2").is_err(), "one meter per line");
    g.push_str("4c\t4e\t.\n").unwrap();
    assert!(g.clone().push_str("*M2/4").is_err(), "no meter change inside a measure");
    // end of piece: back to the default meter
    let mut g = strict();
    g.push_str("@\n*M3/4\t*\t*\n2.c\t2.e\t.\n@\n*-\t*-\t*-\n@\n").unwrap();
    assert_eq!(g.meter(), mt(4, 4));
}

#[test]
fn first_line_layouts() {
    // 4 fields: kern, undecided, kern, dynam
    let mut g = strict();
    g.push_str("@\n4c\t.\t4e\tp\n").unwrap();
    assert_eq!(g.spine_kind(1), Kind::Dynam);
    let mut g = strict();
    g.push_str("@\n4c\t4g\t4e\tp\n").unwrap();
    assert_eq!(g.spine_kind(1), Kind::Kern);
    // 3 fields: the last is dynam
    let mut g = strict();
    assert!(g.push_str("@\n4c\t4e\t4g\n").is_err());
    assert!(Grammar::new(GrammarOptions::default()).push_str("@\n4c\n").is_err());
}

#[test]
fn terminator_only_at_a_barline() {
    let mut g = strict();
    g.push_str("@\n1c\t1e\t.\n").unwrap();
    assert!(g.clone().push_str("*-").is_err());
    g.push_str("@\n").unwrap();
    g.push_str("*-\t*-\t*-\n").unwrap();
    assert!(!g.allows('4') && !g.allows('*') && g.allows('@'));
    g.push_str("@\n4c\t4e\n").unwrap();
    assert_eq!(g.spines(), 2);
}

#[test]
fn allowed_mask_and_odd_input() {
    let g = strict();
    let chars = ['@', '4', '*', '\t', '\n', 'é', '.'];
    let mut out = [true; 7];
    g.allowed_mask(&chars, &mut out);
    assert_eq!(out, [true, true, true, false, false, false, true]);
    let mut short = [false; 2];
    g.allowed_mask(&chars, &mut short);
    assert_eq!(short, [true, true]);
    // anything may be pushed: refusals, never a panic
    let mut seed = 99u64;
    for _ in 0..20_000 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let c = char::from_u32((seed >> 40) as u32 % 300).unwrap_or('x');
        let _ = g.clone().push(c);
    }
    let mut h = Grammar::new(GrammarOptions { rhythm: false, ..GrammarOptions::default() });
    for _ in 0..20_000 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let c = char::from_u32((seed >> 40) as u32 % 130).unwrap_or('x');
        let _ = h.push(c);
    }
}

#[test]
fn at_most_eight_spines() {
    let mut g = strict();
    g.push_str("@\n*\t*\t*\t*\t*\t*\t*\n").unwrap();
    assert_eq!(g.spines(), 7);
    assert!(g.clone().push_str("*^\t*^").is_err());
    g.push_str("*^\t*\t*\t*\t*\t*\t*\n").unwrap();
    assert_eq!(g.spines(), 8);
    assert!(g.clone().push_str("*^").is_err());
    assert!(g.clone().push_str("*\t*\t*\t*\t*\t*\t*\t*\n").is_ok());
    // 5 fields: kern, undecided x3, dynam
    let mut g = strict();
    g.push_str("@\n4c\t4e\t.\tp\t.\n").unwrap();
    let kinds: Vec<Kind> = (0..5).map(|i| g.spine_kind(i)).collect();
    assert_eq!(kinds, [Kind::Kern, Kind::Kern, Kind::Dynam, Kind::Dynam, Kind::Dynam]);
}

#[test]
fn grace_line_at_the_end_of_a_measure() {
    let mut g = strict();
    g.push_str("@\n1c\t1e\t.\n@\n1c\t1e\t.\n.\t16ddq\t.\n@\n").unwrap();
    // a grace line needs a grace note; chords of grace notes
    g.push_str("8cq 8eq\t.\t.\n1c\t1e\t.\n").unwrap();
}

#[test]
fn vocabularies_without_0_and_7() {
    let mozart: Vec<char> = MOZART_CHARS.chars().collect();
    let mut g = Grammar::new(GrammarOptions { vocab: Some(mozart), ..GrammarOptions::default() });
    g.push_str("@\n4c\t").unwrap();
    // 20 cannot be written: `2` leads to 2, 22, 24, 28 only
    g.push('2').unwrap();
    assert!(!g.allows('0') && g.allows('4'));
    let mut full = strict();
    full.push_str("@\n4c\t2").unwrap();
    assert!(full.allows('0'));
}

// ---- runaways -------------------------------------------------------------------------

#[test]
fn grace_lines_cannot_run_on() {
    let mut g = strict();
    g.push_str("@\n4c\t4e\t.\n").unwrap();
    for _ in 0..MAX_GRACE_LINES_PER_MEASURE / 2 {
        g.push_str(".\t16ffq\t.\n").unwrap();
    }
    g.push_str("4d\t4f\t.\n").unwrap();
    for _ in 0..MAX_GRACE_LINES_PER_MEASURE / 2 {
        g.push_str(".\t16ffq\t.\n").unwrap();
    }
    // the cap of the measure is reached: the next lines must take time
    assert!(g.clone().push_str(".\t16ffq").is_err());
    assert!(g.clone().push_str("8cq").is_err());
    assert!(!g.allows('.'));
    g.push_str("4d\t4f\t.\n").unwrap();
    assert!(!g.allows('.'));
    g.push_str("4d\t4f\t.\n@\n").unwrap();
    // a new measure
    g.push_str(".\t16ffq\t.\n").unwrap();
    // at a full measure only the barline is left
    let mut g = strict();
    g.push_str("@\n2c\t2e\t.\n").unwrap();
    for _ in 0..MAX_GRACE_LINES_PER_MEASURE {
        g.push_str(".\t16ffq\t.\n").unwrap();
    }
    g.push_str("2c\t2e\t.\n").unwrap();
    let all: Vec<char> = CORPUS_CHARS.chars().collect();
    let mut mask = vec![false; all.len()];
    g.allowed_mask(&all, &mut mask);
    let allowed: String = all.iter().zip(&mask).filter(|p| *p.1).map(|p| *p.0).collect();
    assert_eq!(allowed, "*@");
    // empty measures of grace notes (`@`, grace line, `@`, ...) do not go on either
    let mut g = strict();
    g.push_str("@\n1c\t1e\t.\n@\n").unwrap();
    let mut n = 0;
    while g.push_str(".\t16ffq\t.\n@\n").is_ok() {
        n += 1;
        assert!(n < 10_000, "grace lines and barlines go on forever");
    }
    assert_eq!(n, MAX_GRACE_LINES);
}

#[test]
fn interpretation_lines_cannot_run_on() {
    let mut g = strict();
    g.push_str("@\n4c\t4e\t.\n").unwrap();
    for _ in 0..MAX_INTERP_LINES {
        g.push_str("*clefG2\t*\t*\n").unwrap();
    }
    // inside a measure: no more interpretation lines, a note line
    assert!(!g.allows('*'));
    g.push_str("4c\t4e\t.\n").unwrap();
    g.push_str("*clefG2\t*\t*\n").unwrap();
    // at a barline the cap leaves `*-` (and the new piece's first line must take time)
    let mut g = strict();
    g.push_str("@\n1c\t1e\t.\n@\n").unwrap();
    for _ in 0..MAX_INTERP_LINES {
        g.push_str("*\t*\t*\n").unwrap();
    }
    assert!(g.allows('*') && g.allows('1'));
    assert!(g.clone().push_str("*\t").is_err());
    assert!(g.clone().push_str("*clefG2").is_err());
    g.push_str("*-\t*-\t*-\n@\n").unwrap();
    assert!(!g.allows('*'));
    g.push_str("4c\t4e\n").unwrap();
    // `@`, `*` lines, `@`, `*-`, `@`, ... (measures without time) end too
    let mut g = strict();
    g.push_str("@\n1c\t1e\t.\n@\n").unwrap();
    let mut n = 0;
    while g.push_str("*\t*\t*\n@\n").is_ok() {
        n += 1;
        assert!(n < 10_000, "interpretation lines and barlines go on forever");
    }
    assert!(n <= MAX_INTERP_LINES, "{n}");
    // interpretation lines between notes, at most so many in a measure
    let mut g = strict();
    g.push_str("@\n").unwrap();
    let mut n = 0;
    while g.push_str("*clefG2\t*\t*\n16c\t16e\t.\n").is_ok() {
        n += 1;
    }
    assert_eq!(n, MAX_INTERP_LINES_PER_MEASURE);
    assert!(!g.allows('*'));
    g.push_str("4.c\t4.e\t.\n@\n").unwrap();
    assert!(g.allows('*'));
}

#[test]
fn beams_and_signs_are_capped_per_note() {
    let mut g = strict();
    g.push_str("@\n").unwrap();
    assert!(g.clone().push_str("128bLJJLLLLLJJJJq").is_err());
    assert!(g.clone().push_str("16cLJ").is_err());
    assert!(g.clone().push_str("16cLLLLLLL").is_err());
    g.push_str("(128AQ\\LLLLLL\t.\t.\n").unwrap();
}

// ---- vocabularies ---------------------------------------------------------------------

/// The structural characters every vocabulary must have (see [`Grammar::supports`]).
const BASICS: &str = "\t\n@.*-";

#[test]
fn only_the_durations_the_vocabulary_writes() {
    let v: Vec<char> = format!("{BASICS}48cr").chars().collect();
    let set = DurSet::for_vocab(Some(&v));
    assert_eq!(set.ticks(16, 0), None);
    assert_eq!(set.ticks(48, 0), Some(TPW / 48));
    assert_eq!(set.ticks(8, 1), Some(TPW * 3 / 16));
    // after a 48th, 47/48 are left: the grammar only offers what 4 and 8 can fill
    let mut g =
        Grammar::new(GrammarOptions { vocab: Some(v.clone()), ..GrammarOptions::default() });
    g.push_str("@\n48c\t4c\t.\n").unwrap();
    assert!(v.iter().any(|&c| g.allows(c)));
    assert!(Grammar::supports(&v, mt(4, 4)).is_ok());
    assert!(Grammar::supports(&v, mt(5, 32)).is_ok(), "48. and 8");
    assert!(Grammar::supports(&v, mt(1, 64)).is_err(), "a 64th needs 64ths or 128ths");
    let no_tab: Vec<char> = "\n@.*-4c".chars().collect();
    assert!(Grammar::supports(&no_tab, mt(4, 4)).is_err());
    let no_pitch: Vec<char> = format!("{BASICS}4r").chars().collect();
    assert!(Grammar::supports(&no_pitch, mt(4, 4)).is_err());
}

/// Random vocabularies with the basics: random walks never meet a state where no character
/// of the vocabulary is allowed, and their text passes the checker.
#[test]
fn random_vocabularies_never_dead_end() {
    let all: Vec<char> = CORPUS_CHARS.chars().collect();
    let seeds: u64 = std::env::var("VOCAB_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(240);
    let (mut walked, mut bars) = (0, 0);
    for seed in 0..seeds {
        let mut rng = Lcg(seed.wrapping_mul(7919) + 17);
        let keep = [10, 5, 3, 2][(seed % 4) as usize];
        let mut chars: Vec<char> = all
            .iter()
            .copied()
            .filter(|&c| BASICS.contains(c) || rng.next().is_multiple_of(keep))
            .collect();
        if !chars.iter().any(|c| "abcdefgABCDEFG".contains(*c)) {
            chars.push(['c', 'G', 'e', 'B'][(rng.next() % 4) as usize]);
        }
        if !chars.iter().any(|c| ('1'..='9').contains(c)) {
            chars.push(['1', '2', '4', '8', '3', '6'][(rng.next() % 6) as usize]);
        }
        let meter = [mt(4, 4), mt(3, 4), mt(6, 8), mt(2, 2), mt(3, 8), mt(5, 16), mt(2, 4)]
            [(seed / 4 % 7) as usize];
        if Grammar::supports(&chars, meter).is_err() {
            continue;
        }
        walked += 1;
        let steps = if seed % 5 == 0 { 4000 } else { 1500 };
        // a third of the walks with tiny caps, to reach them often (0: none at all)
        let caps = (seed % 3 == 2).then(|| {
            let (grace, interp) = ((seed / 3 % 5) as u32, (seed / 15 % 3) as u32);
            let bar = (seed / 45 % 3) as u32;
            ((grace, grace.min(bar + 1)), (interp, interp.min(bar)))
        });
        let text = random_walk_capped(seed, steps, &chars, meter, caps);
        bars += agrees_with_checker(&text, meter, &chars, seed);
    }
    eprintln!("random vocabularies: {walked} of {seeds} supported, {bars} measures");
    assert!(walked * 2 > seeds as usize, "{walked}");
}

#[test]
fn lenient_records_rhythm() {
    let mut g = Grammar::new(GrammarOptions { meter: Meter::COMMON, rhythm: false, vocab: None });
    g.push_str("@\n4c\t4e\t.\n.\t4e\t.\n@\n").unwrap();
    assert_eq!(g.issues().len(), 2, "{:?}", g.issues());
    assert_eq!(g.stats(), Stats { measures: 1, spine_measures: 2, full: 0 });
}

/// The characters of the prepared corpus (both composers).
const CORPUS_CHARS: &str =
    "\t\n #&'()*-./0123456789:;<>@ABCDEFGHIJKLMPQSTVWX[\\]^_`abcdefghklmnpqrtvwxyz|";
/// Those of the Beethoven half only.
const BEETHOVEN_CHARS: &str =
    "\t\n #&'()*-./0123456789:;<>@ABCDEFGHIJKLMPQSTVWX[\\]^_`abcdefghklmnpqrtvxyz";
/// Those of the Mozart half only (no `0`, no `7`).
const MOZART_CHARS: &str = "\t\n #&'()*-./12345689:;<>@ABCDEFGHIJKLMQSTWX[\\]^_abcdefgklmnpqrtvwy|";

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn random_walk(seed: u64, steps: usize, chars: &[char], meter: Meter) -> String {
    random_walk_capped(seed, steps, chars, meter, None)
}

/// A random walk, with other caps on grace-note and interpretation lines if given.
fn random_walk_capped(
    seed: u64,
    steps: usize,
    chars: &[char],
    meter: Meter,
    caps: Option<((u32, u32), (u32, u32))>,
) -> String {
    let mut g = Grammar::new(GrammarOptions { meter, rhythm: true, vocab: Some(chars.to_vec()) });
    if let Some((grace, interp)) = caps {
        g.set_caps(grace, interp);
    }
    let mut rng = Lcg(seed);
    let mut text = String::from("@\n");
    g.push_str(&text).unwrap();
    let mut allowed = Vec::with_capacity(chars.len());
    for step in 0..steps {
        allowed.clear();
        allowed.extend(chars.iter().copied().filter(|&c| g.allows(c)));
        assert!(
            !allowed.is_empty(),
            "seed {seed} step {step}: dead end after {text:?}\nvocabulary {:?}\n{:?}",
            chars.iter().collect::<String>(),
            g.state
        );
        // every other seed leans towards the characters that move through measures
        // A third of the seeds walk uniformly, a third lean on everything that shapes
        // measures, a third weigh towards barlines, line ends and plain notes (reaching
        // many barlines).
        let c = match seed / 3 % 3 {
            0 => allowed[(rng.next() % allowed.len() as u64) as usize],
            1 => {
                let lean: Vec<char> = allowed
                    .iter()
                    .copied()
                    .filter(|c| "\t\n@.r12345689cegq*-^v".contains(*c))
                    .collect();
                let pool = if !lean.is_empty() && !rng.next().is_multiple_of(16) {
                    &lean
                } else {
                    &allowed
                };
                pool[(rng.next() % pool.len() as u64) as usize]
            }
            _ => {
                let after_digit = text.ends_with(|c: char| c.is_ascii_digit());
                let after_dur =
                    after_digit || text.ends_with(|c: char| c.is_ascii_digit() || c == '.');
                let weight = |c: char| -> u64 {
                    match c {
                        '@' => 400,
                        '\n' | '\t' => 100,
                        '2' | '4' | '8' if !after_digit => 30,
                        '0'..='9' => 8,
                        'c' | 'e' | 'r' if after_dur => 30,
                        '.' => 10,
                        'q' | '*' | '-' => 5,
                        _ => 1,
                    }
                };
                let total: u64 = allowed.iter().map(|&c| weight(c)).sum();
                let mut u = rng.next() % total.max(1);
                let mut pick = allowed[0];
                for &c in &allowed {
                    if u < weight(c) {
                        pick = c;
                        break;
                    }
                    u -= weight(c);
                }
                pick
            }
        };
        g.push(c).unwrap_or_else(|e| panic!("allowed but refused: {e} after {text:?}"));
        text.push(c);
    }
    text
}

#[test]
fn random_walks_never_dead_end_and_pass_the_checker() {
    let beethoven: Vec<char> = BEETHOVEN_CHARS.chars().collect();
    let full: Vec<char> = CORPUS_CHARS.chars().collect();
    let mozart: Vec<char> = MOZART_CHARS.chars().collect();
    let mut bars = 0;
    let seeds: u64 = std::env::var("WALK_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(120);
    for seed in 0..seeds {
        let chars = [&full, &mozart, &beethoven][(seed % 3) as usize];
        let meter = [mt(4, 4), mt(3, 4), mt(6, 8), mt(2, 2), mt(5, 16)][(seed % 5) as usize];
        let steps = if seed / 3 % 3 == 0 { 3000 } else { 12_000 };
        let text = random_walk(seed, steps, chars, meter);
        bars += agrees_with_checker(&text, meter, chars, seed);
    }
    eprintln!("random walks: {bars} measures");
}

/// Cuts a walk at its last complete line, ends the piece after a short last measure, and
/// checks that the checker finds nothing wrong. Returns the measures.
fn agrees_with_checker(text: &str, meter: Meter, chars: &[char], seed: u64) -> usize {
    let cut = text.rfind('\n').map_or(0, |i| i + 1);
    let mut text = text[..cut].to_string();
    let mut g = Grammar::new(GrammarOptions { meter, rhythm: true, vocab: Some(chars.to_vec()) });
    g.push_str(&text).unwrap();
    if g.must_end() {
        assert!(!g.at_line_start());
        let end = vec!["*-"; g.spines()].join("\t") + "\n";
        g.push_str(&end).unwrap();
        text.push_str(&end);
    }
    let report = super::super::check::check_prepared(&text, meter);
    let bad: Vec<_> = report.diagnostics.iter().take(5).collect();
    assert!(report.diagnostics.is_empty(), "seed {seed}: {bad:?}\n{text}");
    report.measures
}

/// Many short walks over a small alphabet: the corners of the first lines of a piece.
#[test]
fn short_walks_never_dead_end() {
    // each with the characters every vocabulary of the corpus has for the forced spots:
    // line and field ends, `.`, `@`, `*`, `:` (keys), `q` (grace notes), digits but `0`/`7`
    let base = ".\t\n@*:q12345689c";
    let alphabets =
        [format!("{base}pf<r^v-e "), format!("{base}^v-p Q7"), format!("{base}M/r[]()v^-0")];
    let seeds: u64 = std::env::var("SHORT_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3000);
    for seed in 0..seeds {
        let chars: Vec<char> = alphabets[(seed % 3) as usize].chars().collect();
        let meter = [mt(2, 4), mt(3, 8), mt(1, 16), mt(4, 4)][(seed / 3 % 4) as usize];
        let mut g =
            Grammar::new(GrammarOptions { meter, rhythm: true, vocab: Some(chars.clone()) });
        let mut rng = Lcg(seed);
        let mut text = String::new();
        for step in 0..120 {
            let allowed: Vec<char> = chars.iter().copied().filter(|&c| g.allows(c)).collect();
            assert!(!allowed.is_empty(), "seed {seed} step {step}: dead end after {text:?}");
            let c = allowed[(rng.next() % allowed.len() as u64) as usize];
            g.push(c).unwrap();
            text.push(c);
        }
        agrees_with_checker(&text, meter, &chars, seed);
    }
}
