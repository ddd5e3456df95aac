//! Look-alike domains: homoglyph folding and edit distance against the
//! domains a network already knows.

/// The label that identifies a domain's owner: the one left of the public
/// suffix, approximated as the second-level label (third when the last two
/// labels are a common two-part suffix such as `co.uk`).
pub fn owner_label(domain: &str) -> &str {
    let d = domain.trim_end_matches('.');
    let labels: Vec<&str> = d.split('.').collect();
    let n = labels.len();
    if n < 2 {
        return d;
    }
    let two_part = n >= 3
        && matches!(
            labels[n - 2],
            "co" | "com" | "net" | "org" | "gov" | "ac" | "edu"
        )
        && labels[n - 1].len() == 2;
    if two_part {
        labels[n - 3]
    } else {
        labels[n - 2]
    }
}

/// Folds characters that look alike onto one representative: digits that
/// pass for letters, `rn` for `m`, `vv` for `w`, and hyphens dropped.
pub fn fold(label: &str) -> String {
    let lower = label.to_ascii_lowercase();
    let mut s = String::with_capacity(lower.len());
    for c in lower.chars() {
        s.push(match c {
            '0' => 'o',
            '1' | '!' | '|' => 'l',
            'i' => 'l',
            '3' => 'e',
            '4' | '@' => 'a',
            '5' | '$' => 's',
            '7' => 't',
            '8' => 'b',
            '9' => 'g',
            '-' | '_' => continue,
            c => c,
        });
    }
    s.replace("rn", "m").replace("vv", "w").replace("cl", "d")
}

/// Damerau-Levenshtein (optimal string alignment) distance, bounded: returns
/// `max + 1` as soon as the distance must exceed `max`.
pub fn distance(a: &str, b: &str, max: usize) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > max {
        return max + 1;
    }
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, v) in d.iter_mut().enumerate().take(w) {
        *v = j;
    }
    for i in 1..=a.len() {
        let mut row_min = usize::MAX;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return max + 1;
        }
    }
    d[a.len() * w + b.len()]
}

/// If `candidate` looks like `known` without being it, how: `homoglyph`
/// (same after folding) or `edit` (within a small edit distance).
pub fn resembles(candidate: &str, known: &str) -> Option<&'static str> {
    let (c, k) = (owner_label(candidate), owner_label(known));
    if c.eq_ignore_ascii_case(k) || c.len() < 4 || k.len() < 4 {
        return None;
    }
    let (fc, fk) = (fold(c), fold(k));
    if fc == fk {
        return Some("homoglyph");
    }
    let max = if k.len() >= 10 {
        2
    } else if k.len() >= 6 {
        1
    } else {
        0
    };
    if max > 0 && distance(&c.to_ascii_lowercase(), &k.to_ascii_lowercase(), max) <= max {
        return Some("edit");
    }
    if max > 0 && distance(&fc, &fk, max) <= max {
        // Look-alike characters and an edit.
        return Some("homoglyph+edit");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secureonline_lookalikes() {
        // The brief's example: two digits for letters and a dropped "n".
        assert_eq!(
            resembles("s3cure0line.com", "secureonline.com"),
            Some("homoglyph+edit")
        );
        assert_eq!(
            resembles("s3cureonline.com", "secureonline.com"),
            Some("homoglyph")
        );
        assert_eq!(
            resembles("secure-online.com", "secureonline.com"),
            Some("homoglyph")
        );
        assert_eq!(
            resembles("secureonlline.com", "secureonline.com"),
            Some("edit")
        );
        assert_eq!(resembles("secureonline.com", "secureonline.com"), None);
        assert_eq!(
            resembles("mail.secureonline.com", "www.secureonline.com"),
            None
        );
        assert_eq!(resembles("example.org", "secureonline.com"), None);
        assert_eq!(
            resembles("rnicrosoft.com", "microsoft.com"),
            Some("homoglyph")
        );
        assert_eq!(owner_label("www.bbc.co.uk"), "bbc");
    }

    #[test]
    fn distance_is_bounded_and_counts_transpositions() {
        assert_eq!(distance("abcd", "abdc", 2), 1);
        assert_eq!(distance("kitten", "sitting", 3), 3);
        assert_eq!(distance("a", "abcdef", 2), 3);
    }
}
