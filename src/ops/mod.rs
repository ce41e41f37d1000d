//! Running the service well: metrics, pruning, and keeping addresses out of the logs.

pub mod files;
pub mod metric_names;
pub mod metrics;
pub mod retention;

/// Replaces anything shaped like an email address with `<address>`. SMTP servers often
/// quote the recipient in their replies ("550 5.1.1 <rosa@example.org>: Recipient
/// address rejected"), and those replies are worth logging — without the address.
pub fn redact_addresses(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&redact_word(word));
    }
    out
}

/// One space-separated word: the part between the delimiters that usually wrap an
/// address (`<`, `>`, quotes, `:` and friends) is replaced if it holds an `@`.
fn redact_word(word: &str) -> String {
    let is_delimiter = |c: char| "<>\"'(),;:[]".contains(c);
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while !rest.is_empty() {
        let end = rest.find(is_delimiter).unwrap_or(rest.len());
        let (part, tail) = rest.split_at(end);
        let at = part.find('@');
        if at.is_some_and(|i| i > 0 && i + 1 < part.len()) {
            out.push_str("<address>");
        } else {
            out.push_str(part);
        }
        let mut chars = tail.chars();
        if let Some(delimiter) = chars.next() {
            out.push(delimiter);
        }
        rest = chars.as_str();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact_addresses;

    #[test]
    fn addresses_leave_smtp_replies() {
        assert_eq!(
            redact_addresses("550 5.1.1 <rosa@example.org>: Recipient address rejected"),
            "550 5.1.1 <<address>>: Recipient address rejected"
        );
        assert_eq!(
            redact_addresses("to clara@example.org failed"),
            "to <address> failed"
        );
        assert_eq!(
            redact_addresses("451 4.3.0 try again later"),
            "451 4.3.0 try again later"
        );
        assert_eq!(redact_addresses("@ alone and a@"), "@ alone and a@");
    }
}
