//! The key of a sample that writes none: the key signature that needs the fewest accidentals on
//! its notes, and of the major and minor keys of that signature the one whose pitch profile
//! its notes follow best (Krumhansl and Kessler's profiles).

use super::lines::{kern_token, Line, RawLine};

/// Sharps (positive) or flats (negative) of a key signature, -7 to 7.
type Fifths = i32;

/// The letters in the order sharps are added (flats: the reverse).
const SHARP_ORDER: [u8; 7] = *b"fcgdaeb";

/// The accidental a signature of `fifths` gives `letter` (lower case): +1, -1 or 0.
fn signature_accidental(fifths: Fifths, letter: u8) -> i32 {
    let Some(i) = SHARP_ORDER.iter().position(|&l| l == letter) else { return 0 };
    if fifths > 0 && (i as i32) < fifths {
        1
    } else if fifths < 0 && (6 - i as i32) < -fifths {
        -1
    } else {
        0
    }
}

/// The **kern signature token of `fifths`: `*k[f#c#]`, `*k[b-e-]`, `*k[]`.
fn signature_token(fifths: Fifths) -> String {
    let letters: String = if fifths >= 0 {
        SHARP_ORDER.iter().take(fifths as usize).map(|&l| format!("{}#", l as char)).collect()
    } else {
        SHARP_ORDER
            .iter()
            .rev()
            .take((-fifths) as usize)
            .map(|&l| format!("{}-", l as char))
            .collect()
    };
    format!("*k[{letters}]")
}

/// Major keys by signature, -7 to 7.
const MAJOR: [&str; 15] =
    ["C-", "G-", "D-", "A-", "E-", "B-", "F", "C", "G", "D", "A", "E", "B", "F#", "C#"];
/// Their relative minors.
const MINOR: [&str; 15] =
    ["a-", "e-", "b-", "f", "c", "g", "d", "a", "e", "b", "f#", "c#", "g#", "d#", "a#"];

/// Krumhansl and Kessler's key profiles (1982), from the tonic up by semitones.
const MAJOR_PROFILE: [f64; 12] =
    [6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88];
const MINOR_PROFILE: [f64; 12] =
    [6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17];

/// A note's letter (lower case) and accidental (-2 to 2), from a kern token's note.
fn notes_of(token: &str) -> impl Iterator<Item = (u8, i32)> + '_ {
    token.split(' ').filter_map(|note| {
        let b = note.as_bytes();
        let at = b.iter().position(|c| matches!(c, b'a'..=b'g' | b'A'..=b'G'))?;
        let letter = b[at].to_ascii_lowercase();
        let rest = &b[at..];
        let len = rest.iter().take_while(|c| c.to_ascii_lowercase() == letter).count();
        let acc = match rest.get(len..).unwrap_or(&[]) {
            [b'#', b'#', ..] => 2,
            [b'#', ..] => 1,
            [b'-', b'-', ..] => -2,
            [b'-', ..] => -1,
            _ => 0,
        };
        Some((letter, acc))
    })
}

/// The pitch class (C = 0) of a letter and accidental.
fn pitch_class(letter: u8, acc: i32) -> usize {
    let base = match letter {
        b'c' => 0,
        b'd' => 2,
        b'e' => 4,
        b'f' => 5,
        b'g' => 7,
        b'a' => 9,
        _ => 11,
    };
    (base + acc).rem_euclid(12) as usize
}

/// Pearson correlation of a pitch-class histogram with a profile rotated to `tonic`.
fn correlation(hist: &[f64; 12], profile: &[f64; 12], tonic: usize) -> f64 {
    let mean = |v: &dyn Fn(usize) -> f64| (0..12).map(v).sum::<f64>() / 12.0;
    let h = |i: usize| hist[i];
    let p = |i: usize| profile[(i + 12 - tonic) % 12];
    let (mh, mp) = (mean(&h), mean(&p));
    let cov: f64 = (0..12).map(|i| (h(i) - mh) * (p(i) - mp)).sum();
    let vh: f64 = (0..12).map(|i| (h(i) - mh).powi(2)).sum();
    let vp: f64 = (0..12).map(|i| (p(i) - mp).powi(2)).sum();
    if vh == 0.0 || vp == 0.0 {
        0.0
    } else {
        cov / (vh * vp).sqrt()
    }
}

/// The key of the notes of `seg` up to its first key signature: the signature token
/// (`*k[f#]`) and the key (`*G:` or `*e:`); `None` when it has no notes.
pub(super) fn infer_key(seg: &[Line<'_>], editions: bool) -> Option<(String, String)> {
    let mut notes: Vec<(u8, i32)> = Vec::new();
    for l in seg {
        match &l.raw {
            RawLine::Interp(f) if f.iter().any(|t| t.trim().starts_with("*k[")) => break,
            RawLine::Data(f) => {
                for t in f {
                    if let Some(k) = kern_token(t, editions).filter(|k| k != ".") {
                        notes.extend(notes_of(&k));
                    }
                }
            }
            _ => {}
        }
    }
    if notes.is_empty() {
        return None;
    }
    // the signature that leaves the fewest accidentals to write; the fewer its own, the better
    let cost = |fifths: Fifths| {
        let shown = notes.iter().filter(|&&(l, a)| a != signature_accidental(fifths, l)).count();
        (shown, fifths.unsigned_abs())
    };
    let fifths = (-7..=7).min_by_key(|&f| cost(f)).unwrap_or(0);
    let mut hist = [0.0f64; 12];
    for &(l, a) in &notes {
        hist[pitch_class(l, a)] += 1.0;
    }
    let i = (fifths + 7) as usize;
    let major_tonic = (7 * fifths).rem_euclid(12) as usize;
    let minor_tonic = (major_tonic + 9) % 12;
    let major = correlation(&hist, &MAJOR_PROFILE, major_tonic);
    let minor = correlation(&hist, &MINOR_PROFILE, minor_tonic);
    let name = if minor > major { MINOR[i] } else { MAJOR[i] };
    Some((signature_token(fifths), format!("*{name}:")))
}

#[cfg(test)]
mod tests {
    use super::super::lines::split_lines;
    use super::*;

    fn key(text: &str) -> Option<(String, String)> {
        infer_key(&split_lines(text), false)
    }

    #[test]
    fn signatures_are_written_in_the_order_of_their_accidentals() {
        assert_eq!(signature_token(3), "*k[f#c#g#]");
        assert_eq!(signature_token(-2), "*k[b-e-]");
        assert_eq!(signature_token(0), "*k[]");
    }

    #[test]
    fn notes_with_f_sharp_and_c_sharp_are_in_two_sharps() {
        let text = "@\n4d\t4f#\t.\n4a\t4cc#\t.\n4d\t4b\t.\n4e\t4g\t.\n";
        assert_eq!(key(text).map(|k| k.0).as_deref(), Some("*k[f#c#]"));
    }

    #[test]
    fn notes_of_d_major_are_d_major_and_of_b_minor_b_minor() {
        let d_major = "@\n4D\t4d\t.\n4F#\t4f#\t.\n4A\t4a\t.\n4D\t4dd\t.\n4A\t4cc#\t.\n4D\t4dd\t.\n";
        assert_eq!(key(d_major), Some(("*k[f#c#]".into(), "*D:".into())));
        let b_minor = "@\n4B\t4b\t.\n4D\t4d\t.\n4F#\t4f#\t.\n4B\t4b\t.\n4F#\t4a#\t.\n4B\t4b\t.\n4E\t4g\t.\n4F#\t4c#\t.\n4B\t4b\t.\n";
        assert_eq!(key(b_minor), Some(("*k[f#c#]".into(), "*b:".into())));
    }

    #[test]
    fn flats_make_a_flat_signature_and_naturals_none() {
        let text = "@\n4B-\t4b-\t.\n4E-\t4e-\t.\n4F\t4f\t.\n";
        assert_eq!(key(text).map(|k| k.0).as_deref(), Some("*k[b-e-]"));
        let text = "@\n4C\t4c\t.\n4E\t4e\t.\n4G\t4g\t.\n";
        assert_eq!(key(text), Some(("*k[]".into(), "*C:".into())));
    }

    #[test]
    fn rests_and_dynamics_are_no_notes_and_a_sample_without_notes_has_no_key() {
        assert_eq!(key("@\n4r\t4r\tff\n"), None);
    }

    #[test]
    fn only_the_notes_before_the_samples_own_key_signature_count() {
        let text = "@\n4c\t4e\t.\n*k[b-]\t*k[b-]\t*k[b-]\n4b-\t4b-\t.\n4b-\t4b-\t.\n";
        assert_eq!(key(text).map(|k| k.0).as_deref(), Some("*k[]"));
    }
}
