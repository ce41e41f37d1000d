//! Text that leaves the service as a spreadsheet cell.
//!
//! A CSV export is opened in a spreadsheet, which runs any cell starting with `=`, `+`,
//! `-` or `@` (and, in some, a tab or carriage return) as a formula — `=HYPERLINK(…)` or
//! `+cmd|…` typed into a sign-up form by a stranger. Every CSV the service writes passes
//! its cells through [`safe_cell`]; this is the one place the rule lives.

use std::borrow::Cow;

/// The cell as text a spreadsheet shows rather than evaluates: a leading apostrophe
/// before anything that would start a formula (OWASP's advice for CSV injection).
pub fn safe_cell(cell: &str) -> Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_are_neutralised() {
        for bad in [
            "=HYPERLINK(\"http://x\")",
            "+cmd|' /C calc'!A0",
            "-2+3",
            "@SUM(1+1)",
            "\t=1",
            "\r=1",
        ] {
            assert_eq!(safe_cell(bad), format!("'{bad}"), "{bad:?}");
        }
        for fine in ["Ada Lovelace", "ada@example.org", "", "2026-06-01", "a=b"] {
            assert_eq!(safe_cell(fine), fine);
        }
    }
}
