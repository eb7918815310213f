//! What playback needs from a score beyond the notes verovio times: how loud each line is, from
//! the dynamics of its **dynam spines, and the tempo the score asks for (`*MM`).
//!
//! Musical content, the top layer: it reads lines and the spines in force ([`ScoreSpines`]).
//! A dynamic holds until the next one, across every staff (the corpus's **dynam spine sits
//! between the staves and marks both); accents (`sf`, `fz`, `rf`...) sound on their line only.

use super::spine::ScoreSpines;

/// How loud a score is before its first dynamic: mezzo-forte's velocity.
pub const DEFAULT_VELOCITY: f32 = 0.62;
/// How much louder an accent (`sf`, `sfz`, `fz`, `rf`, `rfz`) sounds than the dynamic in force,
/// and the least it sounds at.
const ACCENT: f32 = 0.15;
const ACCENT_FLOOR: f32 = 0.75;

/// The velocity (0 to 1, a MIDI velocity over 127) of a dynamic level: steps of about 12 MIDI
/// velocities, as notation programs space them (pp 38, p 54, mf 79, f 96, ff 110).
fn level(letters: &str) -> Option<f32> {
    Some(match letters {
        "pppp" => 0.16,
        "ppp" => 0.22,
        "pp" => 0.3,
        "p" => 0.42,
        "mp" => 0.52,
        "mf" => 0.62,
        "f" => 0.75,
        "ff" => 0.86,
        "fff" => 0.94,
        "ffff" => 1.0,
        _ => return None,
    })
}

/// What one mark of a **dynam field does: (the level from now on, an accent on this line).
fn mark(letters: &str, now: f32) -> (Option<f32>, Option<f32>) {
    let accent = |base: f32| (base + ACCENT).clamp(ACCENT_FLOOR, 1.0);
    match letters {
        "sf" | "sfz" | "sffz" | "fz" | "ffz" | "rf" | "rfz" => (None, Some(accent(now))),
        // forte-piano: struck forte, then piano; sforzando-piano likewise, accented
        "fp" => (level("p"), level("f")),
        "sfp" => (level("p"), Some(accent(level("f").unwrap_or(now)))),
        other => (level(other), None),
    }
}

/// The velocity of the notes of each line of `score` (index 0 is its first line).
pub fn line_velocities(score: &str) -> Vec<f32> {
    let mut spines = ScoreSpines::default();
    let mut now = DEFAULT_VELOCITY;
    let mut out = Vec::new();
    for line in score.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let mut velocity = None;
        if line.starts_with("**") {
            spines.name(&fields);
        } else if line.starts_with('*') {
            spines.apply(&fields);
        } else if !line.starts_with(['!', '=']) {
            for (field, spine) in fields.iter().zip(&spines.0) {
                if spine != "**dynam" {
                    continue;
                }
                for token in field.split(' ') {
                    let letters: String = token.chars().filter(|c| "pfmszr".contains(*c)).collect();
                    let (level, accent) = mark(&letters, now);
                    if let Some(l) = level {
                        now = l;
                    }
                    velocity = accent.or(velocity);
                }
            }
        }
        out.push(velocity.unwrap_or(now));
    }
    out
}

/// The first tempo the score sets (`*MM120`, in quarter notes per minute), if any.
pub fn tempo(score: &str) -> Option<f32> {
    score
        .lines()
        .filter(|l| l.starts_with('*'))
        .flat_map(|l| l.split('\t'))
        .find_map(|t| t.strip_prefix("*MM").and_then(|n| n.parse::<f32>().ok()))
        .filter(|t| t.is_finite() && *t > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCORE: &str = "**kern\t**kern\t**dynam\n*MM96\t*MM96\t*\n=1\t=1\t=1\n\
        4C\t4c\tp\n4D\t4d\t.\n4E\t4e\tsf\n4F\t4f\t.\n=2\t=2\t=2\n*^\t*\t*\n\
        4G\t4g\t4b\tff\n4A\t4a\t4b\tfp\n4B\t4b\t4b\t.\n==\t==\t==\t==\n*-\t*-\t*-\t*-\n";

    #[test]
    fn a_dynamic_holds_until_the_next_and_an_accent_sounds_on_its_line_only() {
        let v = line_velocities(SCORE);
        assert_eq!(v.len(), SCORE.lines().count());
        assert_eq!(v[0], DEFAULT_VELOCITY);
        assert_eq!((v[3], v[4]), (0.42, 0.42), "p, then p still");
        assert_eq!((v[5], v[6]), (0.75, 0.42), "sf accents its line: at least forte");
        assert_eq!(v[9], 0.86, "ff, after a split: the **dynam spine is followed through it");
        assert_eq!((v[10], v[11]), (0.75, 0.42), "fp: forte struck, then piano");
    }

    #[test]
    fn the_tempo_is_the_first_mm_of_the_score() {
        assert_eq!(tempo(SCORE), Some(96.0));
        assert_eq!(tempo("**kern\n*M3/4\n=1\n4c\n*-\n"), None);
    }
}
