//! Names, titles and e-mail addresses, drawn from the word lists.

use fastrand::Rng;

use super::super::words::{ADJECTIVES, EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES, NOUNS, VERBS};

fn pick<'a>(rng: &mut Rng, words: &[&'a str]) -> &'a str {
    words[rng.usize(..words.len())]
}

fn person(rng: &mut Rng) -> String {
    format!("{} {}", pick(rng, &FIRST_NAMES), pick(rng, &LAST_NAMES))
}

pub(super) fn title(rng: &mut Rng) -> String {
    match rng.u32(..6) {
        0 => format!("{} {}", pick(rng, &ADJECTIVES), pick(rng, &NOUNS)),
        1 => pick(rng, &NOUNS).to_owned(),
        2 => format!("The {} {}", pick(rng, &ADJECTIVES), pick(rng, &NOUNS)),
        3 => format!("{} the {}", pick(rng, &VERBS), pick(rng, &NOUNS)),
        4 => format!("{} of the {}", pick(rng, &NOUNS), pick(rng, &NOUNS)),
        _ => format!("{} Me", pick(rng, &VERBS)),
    }
}

pub(super) fn album(rng: &mut Rng) -> String {
    match rng.u32(..4) {
        0 => format!("{} {}s", pick(rng, &ADJECTIVES), pick(rng, &NOUNS)),
        1 => pick(rng, &NOUNS).to_owned(),
        2 => format!("The {} Sessions", pick(rng, &NOUNS)),
        _ => format!("{} {}", pick(rng, &ADJECTIVES), pick(rng, &NOUNS)),
    }
}

pub(super) fn artist_name(rng: &mut Rng) -> String {
    match rng.u32(..4) {
        0 | 1 => person(rng),
        2 => format!("The {} {}s", pick(rng, &ADJECTIVES), pick(rng, &NOUNS)),
        _ => format!("{} {}", pick(rng, &ADJECTIVES), pick(rng, &NOUNS)),
    }
}

pub(super) fn songwriters(rng: &mut Rng) -> String {
    let n = rng.usize(1..=3);
    (0..n).map(|_| person(rng)).collect::<Vec<_>>().join(", ")
}

pub(super) fn duration(rng: &mut Rng) -> String {
    let secs = 90 + rng.u32(..=180) + rng.u32(..=150);
    format!("{:02}:{:02}", secs / 60, secs % 60)
}

pub(super) fn email(rng: &mut Rng, first: &str, last: &str) -> String {
    let (f, l) = (first.to_lowercase(), last.to_lowercase());
    let local = match rng.u32(..4) {
        0 => format!("{f}.{l}"),
        1 => format!("{}{l}", &f[..1]),
        2 => format!("{f}{}", rng.u32(1..100)),
        _ => format!("{f}.{l}{}", rng.u32(1..1000)),
    };
    format!("{local}@{}", pick(rng, &EMAIL_DOMAINS))
}
