//! Scores from CVSS vectors (RustSec's `cvss` crate), and checking published scores against them.

/// The base score of a CVSS 2.0 (bare), 3.0, 3.1 or 4.0 vector; None if the vector does not parse.
pub fn base_score(vector: &str) -> Option<f64> {
    let vector = vector.trim();
    // Some feeds wrap v2 vectors in parentheses: "(AV:N/AC:L/…)".
    let vector = vector
        .strip_prefix('(')
        .and_then(|v| v.strip_suffix(')'))
        .unwrap_or(vector);
    vector.parse::<cvss::Cvss>().ok().map(|c| c.score())
}

/// Parse a published score strictly: a finite number in 0.0..=10.0 (an empty string is not 0).
pub fn parse_score(text: &str) -> Option<f64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    t.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && (0.0..=10.0).contains(v))
}

/// Reconcile a published score with its vector. Returns the value to use and a note when they disagree
/// by more than 0.1 or the vector cannot be read. Disagreement is resolved upwards: the gate fails closed.
pub fn reconcile(published: Option<f64>, vector: Option<&str>) -> (Option<f64>, Option<String>) {
    match vector {
        Some(v) => reconcile_computed(published, v, base_score(v)),
        None => (published, None),
    }
}

/// As [`reconcile`], with the vector's base score already computed (None: it does not parse).
pub fn reconcile_computed(
    published: Option<f64>,
    vector: &str,
    computed: Option<f64>,
) -> (Option<f64>, Option<String>) {
    match (published, computed) {
        (Some(p), Some(c)) if (p - c).abs() > 0.1 + 1e-9 => {
            let used = p.max(c);
            (
                Some(used),
                Some(format!(
                    "published score {p} disagrees with its vector (computes to {c}); using {used}"
                )),
            )
        }
        (Some(p), Some(_)) => (Some(p), None),
        (Some(p), None) => (
            Some(p),
            Some(format!(
                "vector {vector:?} does not parse; using the published score {p}"
            )),
        ),
        (None, Some(c)) => (Some(c), None),
        (None, None) => (
            None,
            Some(format!("vector {vector:?} does not parse and no score is published")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_vector_without_prefix_scores() {
        assert_eq!(base_score("AV:N/AC:M/Au:N/C:C/I:C/A:C"), Some(9.3));
        assert_eq!(base_score("(AV:N/AC:L/Au:N/C:C/I:C/A:C)"), Some(10.0));
    }

    #[test]
    fn v3_and_v4_vectors_score() {
        assert_eq!(base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), Some(9.8));
        assert_eq!(
            base_score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"),
            Some(9.3)
        );
        assert_eq!(base_score("not a vector"), None);
    }

    #[test]
    fn strict_score_parsing() {
        assert_eq!(parse_score("7.5"), Some(7.5));
        assert_eq!(parse_score(" 5 "), Some(5.0));
        assert_eq!(parse_score(""), None);
        assert_eq!(parse_score("11"), None);
        assert_eq!(parse_score("NaN"), None);
        assert_eq!(parse_score("high"), None);
    }

    #[test]
    fn disagreement_is_resolved_upwards_and_noted() {
        let (v, note) = reconcile(Some(5.0), Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"));
        assert_eq!(v, Some(9.8));
        assert!(note.unwrap().contains("disagrees"));
        let (v, note) = reconcile(Some(9.8), Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"));
        assert_eq!((v, note), (Some(9.8), None));
        assert_eq!(reconcile(None, Some("AV:N/AC:L/Au:N/C:P/I:P/A:P")).0, Some(7.5));
    }
}
