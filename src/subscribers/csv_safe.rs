//! CSV cells that a spreadsheet would run as formulas. A name or an address that
//! starts with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to Excel,
//! LibreOffice and Google Sheets ("CSV injection"), and our exports hold text that
//! strangers typed into a sign-up form. Every CSV the service writes passes its cells
//! through [`neutralise`]; import undoes it with [`restore`], so an export still
//! round-trips through import unchanged.

use std::borrow::Cow;

/// The first characters that make a spreadsheet read a cell as a formula.
const TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// The cell as a spreadsheet shows it literally: prefixed with `'` when it would
/// otherwise start a formula.
/// The rule itself lives in [`crate::domain::spreadsheet::safe_cell`].
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    crate::domain::spreadsheet::safe_cell(cell)
}

/// Undoes [`neutralise`]: a `'` followed by a trigger character is dropped.
pub fn restore(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(TRIGGERS) => rest,
        _ => cell,
    }
}

/// Writes one record with every cell neutralised.
pub fn write_record<W: std::io::Write>(
    out: &mut csv::Writer<W>,
    cells: &[&str],
) -> csv::Result<()> {
    out.write_record(cells.iter().map(|c| neutralise(c).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_quoted_and_come_back() {
        for cell in ["=1+1", "+31 6", "-2", "@SUM(A1)", "\tx", "\rx"] {
            let safe = neutralise(cell);
            assert!(safe.starts_with('\''), "{cell:?}");
            assert_eq!(restore(&safe), cell);
        }
        assert_eq!(neutralise("ana@example.org"), "ana@example.org");
        assert_eq!(restore("'quoted"), "'quoted");
    }
}
