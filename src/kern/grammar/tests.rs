//! The grammar's rules, one behaviour a test, and random walks that hold it to its promise:
//! from every state it reaches some character is allowed, and what it accepts the checker
//! finds valid.

use super::*;
use crate::kern::limits::*;

/// The meter `n/d` (an accepted one).
fn mt(n: u32, d: u32) -> Meter {
    Meter::new(n, d).unwrap()
}

/// A fixed meter of `n/d`.
fn fixed(n: u32, d: u32) -> MeterChoice {
    MeterChoice::Fixed(mt(n, d))
}

/// A sampling grammar's options in 4/4 (the tests below count in it).
fn common() -> GrammarOptions {
    GrammarOptions { meter: fixed(4, 4), ..GrammarOptions::default() }
}

/// A sampling grammar (rhythm on, 4/4) after `text`.
fn after(text: &str) -> Grammar {
    let mut g = Grammar::new(common());
    g.push_str(text).unwrap_or_else(|e| panic!("{e} in {text:?}"));
    g
}

/// The message of the refusal `text` meets after `before`.
fn refusal(before: &str, text: &str) -> String {
    after(before).push_str(text).unwrap_err().to_string()
}

/// Which of `chars` may come next.
fn allowed(g: &Grammar, chars: &str) -> String {
    chars.chars().filter(|&c| g.allows(c)).collect()
}

#[test]
fn a_piece_of_two_hands_and_dynamics_ends_at_a_barline() {
    let g = after("@\n4c\t4e\tp\n4d\t4f\t.\n2e\t2g\t.\n@\n*-\t*-\t*-\n@\n");
    assert_eq!(g.spines(), 0, "a new piece has no spines yet");
    assert!(g.at_line_start());
}

#[test]
fn a_refusal_names_its_line_column_and_rule() {
    // both notes end together: `.` in the first field would make a grace line, but the last
    // due field cannot be `.` too
    assert_eq!(
        refusal("@\n4c\t4e\tp\n4d\t4f\tp\n", ".\t."),
        "line 4, column 3: '.' is not allowed here: this spine's note has ended: a note or rest (or a grace note) is due"
    );
}

#[test]
fn a_note_longer_than_what_is_left_of_the_measure_is_refused() {
    // a whole note does not fit in the 3/4 left; it could only be a grace note, but those are
    // written 8 or shorter
    assert_eq!(
        refusal("@\n4c\t4e\tp\n", "1c"),
        "line 3, column 2: 'c' is not allowed here: the duration does not fit the measure (or the line) here"
    );
}

#[test]
fn only_digits_that_can_start_a_fitting_duration_may_come() {
    let g = after("@\n4c\t4e\tp\n1");
    // 10 11 12 14 16 17(6) 18 (112 128) fit in the 3/4 left; a whole note does not
    assert_eq!(allowed(&g, "0123456789.c"), "0124678");
    assert!(after("@\n4c\t4e\tp\n16").allows('c'));
}

#[test]
fn a_spine_whose_note_still_sounds_carries_a_dot() {
    let g = after("@\n1c\t1e\tp\n@\n2c\t4e\tp\n");
    assert_eq!(allowed(&g, "4."), ".");
    assert_eq!(
        refusal("@\n1c\t1e\tp\n@\n2c\t4e\tp\n", "4"),
        "line 5, column 1: '4' is not allowed here: this spine's note still sounds: only `.` may come here"
    );
}

#[test]
fn the_only_due_spine_of_a_line_takes_a_note_not_a_dot() {
    assert!(!after("@\n1c\t1e\tp\n@\n2c\t4e\tp\n.\t").allows('.'));
}

#[test]
fn a_barline_comes_only_when_every_kern_spine_is_at_the_same_time() {
    assert_eq!(
        refusal("@\n2c\t2e\t.\n", "4c\t8e\t.\n@"),
        "line 4, column 1: '@' is not allowed here: the kern spines are not at the same time"
    );
    assert!(after("@\n2c\t2e\t.\n2c\t2e\t.\n").allows('@'));
}

#[test]
fn a_measure_with_nothing_in_it_is_refused() {
    assert_eq!(
        refusal("@\n1c\t1e\t.\n@\n", "@"),
        "line 4, column 1: '@' is not allowed here: a measure with nothing in it"
    );
}

#[test]
fn the_first_measure_of_a_piece_may_be_a_short_pickup() {
    after("@\n4c\t4e\t.\n@\n1c\t1e\t.\n@\n");
}

#[test]
fn a_short_measure_later_in_a_piece_must_be_its_last() {
    let g = after("@\n4c\t4e\t.\n@\n1c\t1e\t.\n@\n4c\t4e\t.\n@\n");
    assert_eq!(allowed(&g, "4.@*"), "*");
    after("@\n4c\t4e\t.\n@\n1c\t1e\t.\n@\n4c\t4e\t.\n@\n*\t*\t*\n*-\t*-\t*-\n@\n");
}

#[test]
fn grace_notes_take_a_line_of_their_own_with_dots_in_the_other_spines() {
    after("@\n4c\t4e\t.\n.\t16ffq\t.\n4c\t4e\t.\n");
}

#[test]
fn a_line_of_dots_where_notes_are_due_is_refused() {
    assert!(after("@\n4c\t4e\t.\n").push_str(".\t.\t.\n").is_err());
}

#[test]
fn a_grace_note_while_the_previous_note_still_sounds_is_refused() {
    assert!(after("@\n2c\t4e\t.\n").push_str("8cq\t").is_err());
}

#[test]
fn a_grace_line_may_close_a_measure_and_hold_a_chord_of_grace_notes() {
    after("@\n1c\t1e\t.\n@\n1c\t1e\t.\n.\t16ddq\t.\n@\n8cq 8eq\t.\t.\n1c\t1e\t.\n");
}

#[test]
fn triplets_fill_a_quarter_beside_a_chord() {
    after("@\n4c 4e 4g\t12cc\t.\n.\t12dd\t.\n.\t12ee\t.\n2.c\t2.g\t.\n@\n");
}

#[test]
fn the_notes_of_a_chord_share_its_duration() {
    let g = after("@\n4c\t4e ");
    assert_eq!(allowed(&g, "48"), "4");
}

#[test]
fn a_split_adds_a_spine_and_a_run_of_merges_joins_kern_spines() {
    let g = after("@\n*\t*^\t*\n");
    assert_eq!(g.spines(), 4);
    let g = after("@\n*\t*^\t*\n1c\t2e\t1g\tp\n.\t2f\t.\t.\n@\n*v\t*v\t*v\t*\n");
    assert_eq!(g.spines(), 2);
}

#[test]
fn a_lone_merge_is_refused() {
    let open = "@\n*\t*^\t*\n1c\t2e\t1g\tp\n.\t2f\t.\t.\n@\n";
    assert_eq!(
        refusal(open, "*v\t*\t"),
        "line 6, column 5: '\\t' is not allowed here: `*v` merges two or more adjacent spines"
    );
}

#[test]
fn kern_and_dynam_spines_do_not_merge() {
    let open = "@\n*\t*^\t*\n1c\t2e\t1g\tp\n.\t2f\t.\t.\n@\n";
    assert!(after(open).push_str("*\t*\t*v\t*v").is_err());
}

#[test]
fn a_manipulation_line_holds_null_tokens_in_its_other_fields() {
    let open = "@\n*\t*^\t*\n1c\t2e\t1g\tp\n.\t2f\t.\t.\n@\n*\t*v\t*v\t*\n";
    assert_eq!(
        refusal(open, "*^\t*clefG2"),
        "line 7, column 5: 'c' is not allowed here: a spine-manipulation line has `*` in its other fields"
    );
}

#[test]
fn a_meter_line_sets_the_length_of_the_measures() {
    assert_eq!(after("@\n*M3/4\t*M3/4\t*M3/4\n2.c\t2.e\t.\n@\n").meter(), Some(mt(3, 4)));
}

#[test]
fn the_fields_of_a_meter_line_set_one_meter() {
    assert_eq!(allowed(&after("@\n*M3/4\t*M"), "234"), "3");
}

#[test]
fn no_meter_changes_inside_a_measure() {
    // `*M` may still become a tempo, `*MM`, but not a meter
    let g = after("@\n*M3/4\t*M3/4\t*M3/4\n2.c\t2.e\t.\n@\n4c\t4e\t.\n*M");
    assert_eq!(allowed(&g, "23M"), "M");
}

#[test]
fn a_new_piece_starts_in_the_default_meter() {
    assert_eq!(
        after("@\n*M3/4\t*\t*\n2.c\t2.e\t.\n@\n*-\t*-\t*-\n@\n").meter(),
        Some(Meter::COMMON)
    );
}

#[test]
fn four_fields_decide_the_kind_of_the_second_by_its_first_token() {
    assert_eq!(after("@\n4c\t.\t4e\tp\n").spine_kind(1), Kind::Dynam);
    assert_eq!(after("@\n4c\t4g\t4e\tp\n").spine_kind(1), Kind::Kern);
}

#[test]
fn five_fields_are_kern_three_undecided_and_dynam() {
    let g = after("@\n4c\t4e\t.\tp\t.\n");
    let kinds: Vec<Kind> = (0..5).map(|i| g.spine_kind(i)).collect();
    assert_eq!(kinds, [Kind::Kern, Kind::Kern, Kind::Dynam, Kind::Dynam, Kind::Dynam]);
}

#[test]
fn the_last_of_three_fields_holds_dynamics() {
    assert!(Grammar::new(common()).push_str("@\n4c\t4e\t4g\n").is_err());
}

#[test]
fn a_piece_has_at_least_two_spines() {
    assert_eq!(
        refusal("@\n", "4c\n"),
        "line 2, column 3: '\\n' is not allowed here: a piece has at least 2 spines"
    );
}

#[test]
fn a_piece_ends_only_right_after_a_barline() {
    assert!(after("@\n1c\t1e\t.\n").push_str("*-").is_err());
    after("@\n1c\t1e\t.\n@\n*-\t*-\t*-\n");
}

#[test]
fn after_a_piece_ends_a_barline_starts_the_next_with_its_own_spines() {
    let g = after("@\n1c\t1e\t.\n@\n*-\t*-\t*-\n");
    assert_eq!(allowed(&g, "4*@"), "@");
    assert_eq!(after("@\n1c\t1e\t.\n@\n*-\t*-\t*-\n@\n4c\t4e\n").spines(), 2);
}

#[test]
fn at_most_eight_spines() {
    let g = after("@\n*\t*\t*\t*\t*\t*\t*\n");
    assert_eq!(g.spines(), 7);
    assert!(g.clone().push_str("*^\t*^").is_err());
    let g = after("@\n*\t*\t*\t*\t*\t*\t*\n*^\t*\t*\t*\t*\t*\t*\n");
    assert_eq!(g.spines(), 8);
    assert!(g.clone().push_str("*^").is_err());
}

#[test]
fn allowed_mask_says_for_each_character_whether_it_may_come() {
    let g = Grammar::new(common());
    let chars = ['@', '4', '*', '\t', '\n', 'é', '.'];
    let mut out = [true; 7];
    g.allowed_mask(&chars, &mut out);
    assert_eq!(out, [true, true, true, false, false, false, true]);
    let mut short = [false; 2];
    g.allowed_mask(&chars, &mut short);
    assert_eq!(short, [true, true]);
}

#[test]
fn any_character_is_accepted_or_refused_never_a_panic() {
    let g = Grammar::new(common());
    let mut seed = 99u64;
    for _ in 0..20_000 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let c = char::from_u32((seed >> 40) as u32 % 300).unwrap_or('x');
        let _ = g.clone().push(c);
    }
    let mut h = Grammar::new(GrammarOptions { rhythm: false, ..common() });
    for _ in 0..20_000 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let c = char::from_u32((seed >> 40) as u32 % 130).unwrap_or('x');
        let _ = h.push(c);
    }
}

#[test]
fn a_vocabulary_without_0_cannot_write_20() {
    let mozart: Vec<char> = MOZART_CHARS.chars().collect();
    let mut g = Grammar::new(GrammarOptions { vocab: Some(mozart), ..common() });
    g.push_str("@\n4c\t2").unwrap();
    assert!(!g.allows('0') && g.allows('4'), "2 leads to 2, 22, 24, 28 only");
    assert!(after("@\n4c\t2").allows('0'));
}

#[test]
fn grace_lines_are_capped_in_a_measure() {
    let mut g = after("@\n4c\t4e\t.\n");
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
    g.push_str("4d\t4f\t.\n4d\t4f\t.\n@\n").unwrap();
    g.push_str(".\t16ffq\t.\n").expect("a new measure may have grace lines again");
}

#[test]
fn at_a_full_measure_after_capped_grace_lines_only_the_barline_is_left() {
    let mut g = after("@\n2c\t2e\t.\n");
    for _ in 0..MAX_GRACE_LINES_PER_MEASURE {
        g.push_str(".\t16ffq\t.\n").unwrap();
    }
    g.push_str("2c\t2e\t.\n").unwrap();
    assert_eq!(allowed(&g, CORPUS_CHARS), "*@");
}

#[test]
fn grace_lines_across_empty_measures_are_capped_too() {
    let mut g = after("@\n1c\t1e\t.\n@\n");
    let mut n = 0;
    while g.push_str(".\t16ffq\t.\n@\n").is_ok() {
        n += 1;
        assert!(n < 10_000, "grace lines and barlines go on forever");
    }
    assert_eq!(n, MAX_GRACE_LINES);
}

#[test]
fn interpretation_lines_are_capped_between_notes() {
    let mut g = after("@\n4c\t4e\t.\n");
    for _ in 0..MAX_INTERP_LINES {
        g.push_str("*clefG2\t*\t*\n").unwrap();
    }
    assert!(!g.allows('*'));
    g.push_str("4c\t4e\t.\n*clefG2\t*\t*\n").expect("a timed line resets the count");
}

#[test]
fn at_a_barline_capped_interpretation_lines_leave_only_the_piece_end() {
    let mut g = after("@\n1c\t1e\t.\n@\n");
    for _ in 0..MAX_INTERP_LINES {
        g.push_str("*\t*\t*\n").unwrap();
    }
    assert!(g.allows('*') && g.allows('1'));
    assert!(g.clone().push_str("*\t").is_err());
    assert!(g.clone().push_str("*clefG2").is_err());
    g.push_str("*-\t*-\t*-\n@\n").unwrap();
    assert!(!g.allows('*'), "the new piece's first line must take time");
}

#[test]
fn interpretation_lines_across_empty_measures_are_capped_too() {
    let mut g = after("@\n1c\t1e\t.\n@\n");
    let mut n = 0;
    while g.push_str("*\t*\t*\n@\n").is_ok() {
        n += 1;
        assert!(n < 10_000, "interpretation lines and barlines go on forever");
    }
    assert!(n <= MAX_INTERP_LINES, "{n}");
}

#[test]
fn interpretation_lines_are_capped_in_a_measure() {
    let mut g = after("@\n");
    let mut n = 0;
    while g.push_str("*clefG2\t*\t*\n16c\t16e\t.\n").is_ok() {
        n += 1;
    }
    assert_eq!(n, MAX_INTERP_LINES_PER_MEASURE);
    assert!(!g.allows('*'));
    g.push_str("4.c\t4.e\t.\n@\n").unwrap();
    assert!(g.allows('*'), "a new measure");
}

#[test]
fn beams_and_signs_are_capped_on_each_note_of_a_line() {
    let g = after("@\n");
    for runaway in ["128bLJJLLLLLJJJJq", "16cLJ", "16cLLLLLLL"] {
        assert!(g.clone().push_str(runaway).is_err(), "{runaway}");
    }
    after("@\n(128AQ\\LLLLLL\t.\t.\n");
}

/// The structural characters every vocabulary must have (see [`Grammar::supports`]).
const BASICS: &str = "\t\n@.*-";

#[test]
fn the_grammar_offers_only_durations_the_vocabulary_can_write_and_fill() {
    let v: Vec<char> = format!("{BASICS}48cr").chars().collect();
    // after a 48th, 47/48 are left: the grammar only offers what 4 and 8 can fill
    let mut g = Grammar::new(GrammarOptions { vocab: Some(v.clone()), ..common() });
    g.push_str("@\n48c\t4c\t.\n").unwrap();
    assert!(v.iter().any(|&c| g.allows(c)));
}

#[test]
fn supports_accepts_a_vocabulary_whose_durations_fill_the_meter() {
    let v: Vec<char> = format!("{BASICS}48cr").chars().collect();
    assert_eq!(Grammar::supports(&v, fixed(4, 4)), Ok(()));
    assert_eq!(Grammar::supports(&v, fixed(5, 32)), Ok(()), "48. and 8");
    assert_eq!(
        Grammar::supports(&v, fixed(1, 64)),
        Err("the durations the vocabulary's digits can write cannot fill a measure of 1/64".into())
    );
}

#[test]
fn supports_names_the_structural_characters_a_vocabulary_lacks() {
    let no_tab: Vec<char> = "\n@.*-4c".chars().collect();
    assert_eq!(
        Grammar::supports(&no_tab, fixed(4, 4)),
        Err("the vocabulary lacks ['\\t'], which the **kern grammar needs".into())
    );
    let no_pitch: Vec<char> = format!("{BASICS}4r").chars().collect();
    assert_eq!(
        Grammar::supports(&no_pitch, fixed(4, 4)),
        Err("the vocabulary has no pitch letter (a-g, A-G)".into())
    );
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
        if Grammar::supports(&chars, MeterChoice::Fixed(meter)).is_err() {
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
        let text = random_walk_capped(seed, steps, &chars, meter, caps, false);
        bars += agrees_with_checker(&text, meter, &chars, seed, false);
    }
    eprintln!("random vocabularies: {walked} of {seeds} supported, {bars} measures");
    assert!(walked * 2 > seeds as usize, "{walked}");
}

#[test]
fn with_rhythm_off_problems_are_recorded_instead_of_refused() {
    let mut g = Grammar::new(GrammarOptions { rhythm: false, ..common() });
    g.push_str("@\n4c\t4e\t.\n.\t4e\t.\n@\n").unwrap();
    let lines: Vec<usize> = g.issues().iter().map(|i| i.line).collect();
    assert_eq!(lines, [3, 4], "{:?}", g.issues());
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
    random_walk_capped(seed, steps, chars, meter, None, false)
}

/// A random walk, with other caps on grace-note and interpretation lines if given.
fn random_walk_capped(
    seed: u64,
    steps: usize,
    chars: &[char],
    meter: Meter,
    caps: Option<((u32, u32), (u32, u32))>,
    editions: bool,
) -> String {
    let mut g = Grammar::new(GrammarOptions {
        meter: MeterChoice::Fixed(meter),
        vocab: Some(chars.to_vec()),
        editions,
        ..common()
    });
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
        bars += agrees_with_checker(&text, meter, chars, seed, false);
    }
    eprintln!("random walks: {bars} measures");
}

/// The characters of the prepared corpus-extra (Joplin's rags and the current Beethoven
/// edition) but `…`, which no grammar writes.
const EDITIONS_CHARS: &str =
    "\t\n #%&'()*-./0123456789:;<>@ABCDEFGHIJKLMNSTVXZ[\\]^_`abcdefghijklmnopqrstuvxyz~";

#[test]
fn random_walks_in_the_editions_dialect_never_dead_end_and_pass_its_checker() {
    let editions: Vec<char> = EDITIONS_CHARS.chars().collect();
    let mozart: Vec<char> = MOZART_CHARS.chars().collect();
    let mut bars = 0;
    let seeds: u64 = std::env::var("WALK_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    for seed in 0..seeds {
        let chars = [&editions, &mozart][(seed % 2) as usize];
        let meter = [mt(2, 4), mt(4, 4), mt(3, 4), mt(6, 8), mt(3, 8)][(seed % 5) as usize];
        let steps = if seed / 3 % 3 == 0 { 3000 } else { 8000 };
        let text = random_walk_capped(seed, steps, chars, meter, None, true);
        bars += agrees_with_checker(&text, meter, chars, seed, true);
    }
    eprintln!("random walks in the editions dialect: {bars} measures");
}

/// Cuts a walk at its last complete line, ends the piece after a short last measure, and
/// checks that the checker finds nothing wrong. Returns the measures.
fn agrees_with_checker(
    text: &str,
    meter: Meter,
    chars: &[char],
    seed: u64,
    editions: bool,
) -> usize {
    let cut = text.rfind('\n').map_or(0, |i| i + 1);
    let mut text = text[..cut].to_string();
    let mut g = Grammar::new(GrammarOptions {
        meter: MeterChoice::Fixed(meter),
        vocab: Some(chars.to_vec()),
        editions,
        ..common()
    });
    g.push_str(&text).unwrap();
    if g.must_end() {
        assert!(!g.at_line_start());
        let end = vec!["*-"; g.spines()].join("\t") + "\n";
        g.push_str(&end).unwrap();
        text.push_str(&end);
    }
    let report = super::super::check::check_prepared_in(&text, MeterChoice::Fixed(meter), editions);
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
        let mut g = Grammar::new(GrammarOptions {
            meter: MeterChoice::Fixed(meter),
            vocab: Some(chars.clone()),
            ..common()
        });
        let mut rng = Lcg(seed);
        let mut text = String::new();
        for step in 0..120 {
            let allowed: Vec<char> = chars.iter().copied().filter(|&c| g.allows(c)).collect();
            assert!(!allowed.is_empty(), "seed {seed} step {step}: dead end after {text:?}");
            let c = allowed[(rng.next() % allowed.len() as u64) as usize];
            g.push(c).unwrap();
            text.push(c);
        }
        agrees_with_checker(&text, meter, &chars, seed, false);
    }
}

// ---- the meter from the music, one piece ----------------------------------------------

/// A grammar whose meter comes from the music.
fn from_music() -> GrammarOptions {
    GrammarOptions { meter: MeterChoice::FromMusic, ..GrammarOptions::default() }
}

#[test]
fn from_the_music_the_first_measure_sets_the_meter() {
    let mut g = Grammar::new(from_music());
    g.push_str("@\n2.c\t2.e\t.\n").unwrap();
    assert_eq!(g.meter(), None, "not yet");
    g.push_str("@\n").unwrap();
    assert_eq!(g.meter(), Some(mt(3, 4)));
    assert!(g.push_str("1c\t1e\t.\n").is_err(), "a whole note no longer fits");
}

#[test]
fn from_the_music_the_first_measure_is_one_of_the_corpus_meters_long() {
    let mut g = Grammar::new(from_music());
    g.push_str("@\n2.c\t2.e\t.\n8c\t8e\t.\n").unwrap();
    assert_eq!(
        g.push_str("@").unwrap_err().message,
        "'@' is not allowed here: the first measure sets the meter: it is 3/8, 2/4, 3/4, 4/4, 9/8 or 6/4 long"
    );
}

#[test]
fn from_the_music_a_note_of_the_first_measure_must_leave_a_way_to_one_of_those_lengths() {
    // after 3/4 and a 3/8 note the measure would be 9/8, and 9/8 is a meter; 2.. would reach
    // 3/4 + 7/8 = 13/8, past every one of them
    let g = after_with(from_music(), "@\n2.c\t2.e\t.\n");
    assert!(g.clone().push_str("4.c\t4.e\t.\n").is_ok());
    assert!(g.clone().push_str("2..c").is_err());
}

fn after_with(opts: GrammarOptions, text: &str) -> Grammar {
    let mut g = Grammar::new(opts);
    g.push_str(text).unwrap_or_else(|e| panic!("{e} in {text:?}"));
    g
}

#[test]
fn without_piece_ends_no_measure_is_short_and_no_piece_ends() {
    let opts = GrammarOptions { piece_ends: false, ..common() };
    let g = after_with(opts, "@\n1c\t1e\t.\n@\n2c\t2e\t.\n");
    assert!(!g.allows('@'), "a short measure may only end a piece");
    let g = after_with(GrammarOptions { piece_ends: false, ..common() }, "@\n1c\t1e\t.\n@\n");
    assert!(g.clone().push_str("*-").is_err());
}

#[test]
fn without_a_pickup_the_first_measure_fills_the_meter() {
    let g = after_with(GrammarOptions { pickup: false, ..common() }, "@\n2c\t2e\t.\n");
    assert!(!g.allows('@'));
    assert!(after("@\n2c\t2e\t.\n").allows('@'), "a pickup where one may come");
}

#[test]
fn only_the_kinds_of_line_asked_for_may_start() {
    let mut g = after("@\n1c\t1e\t.\n@\n");
    g.set_line_kinds(LineKinds::TIMED.with(LineKinds::BARLINE));
    assert!(!g.allows('*'), "no interpretation line");
    assert!(g.allows('4'));
    // a `.` in a due spine would make a grace-note line: not one of the kinds asked for
    let mut g = after("@\n4c\t4e\t.\n");
    g.set_line_kinds(LineKinds::TIMED.with(LineKinds::BARLINE));
    assert!(!g.allows('.'));
}

/// Random walks from the music and without piece ends never dead-end either.
#[test]
fn random_walks_from_the_music_and_in_one_piece_never_dead_end() {
    let chars: Vec<char> = CORPUS_CHARS.chars().collect();
    for seed in 0..40u64 {
        let opts = GrammarOptions {
            piece_ends: seed % 2 == 0,
            pickup: seed % 3 == 0,
            vocab: Some(chars.clone()),
            ..from_music()
        };
        let mut g = Grammar::new(opts);
        let mut rng = Lcg(seed);
        let mut text = String::new();
        for step in 0..4000 {
            let allowed: Vec<char> = chars.iter().copied().filter(|&c| g.allows(c)).collect();
            assert!(!allowed.is_empty(), "seed {seed} step {step}: dead end after {text:?}");
            // lean on what moves through measures
            let lean: Vec<char> =
                allowed.iter().copied().filter(|c| "\t\n@.r12468ceg".contains(*c)).collect();
            let pool =
                if lean.is_empty() || rng.next().is_multiple_of(8) { &allowed } else { &lean };
            let c = pool[(rng.next() % pool.len() as u64) as usize];
            g.push(c).unwrap();
            text.push(c);
        }
        let cut = text.rfind('\n').map_or(0, |i| i + 1);
        let report = super::super::check::check_prepared(&text[..cut], MeterChoice::FromMusic);
        let bad: Vec<_> = report.diagnostics.iter().take(3).collect();
        assert!(report.diagnostics.is_empty() || g.must_end(), "seed {seed}: {bad:?}");
    }
}
