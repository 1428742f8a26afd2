//! Escaping for the markdown reports: whatever a fleet repository, a cluster
//! or a revision name holds (backticks, pipes, `<script>`, new lines) is
//! shown as text and never breaks out of its code span, table cell, code
//! block or HTML element, so a pull-request comment cannot be injected.

/// The longest run of backticks in `s`.
fn longest_tick_run(s: &str) -> usize {
    let (mut longest, mut run) = (0, 0);
    for c in s.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest
}

/// An inline code span showing `s` literally: its delimiter is longer than
/// any run of backticks inside, and new lines become spaces.
pub(super) fn code(s: &str) -> String {
    let s = s.replace(['\n', '\r'], " ");
    let ticks = "`".repeat(longest_tick_run(&s) + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{s}{pad}{ticks}")
}

/// [`code`] for a table cell: a `|` would end the cell even inside a code
/// span, so it is escaped (GitHub shows `\|` in a cell's code span as `|`).
pub(super) fn cell_code(s: &str) -> String {
    code(&s.replace('|', "\\|"))
}

/// A fenced code block of `body` with the info string `info`; the fence is
/// longer than any run of backticks in the body, so the body cannot close it.
pub(super) fn fenced(info: &str, body: &str) -> String {
    let fence = "`".repeat(longest_tick_run(body).max(2) + 1);
    let nl = if body.ends_with('\n') { "" } else { "\n" };
    format!("{fence}{info}\n{body}{nl}{fence}")
}

/// Text shown as is inside markdown and HTML: HTML special characters
/// become entities, markdown's inline markers are backslash-escaped, and
/// new lines become spaces.
pub(super) fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' | '\r' => out.push(' '),
            '`' | '*' | '_' | '[' | ']' | '|' | '\\' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_breaks_out() {
        assert_eq!(code("web"), "`web`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(cell_code("a|b"), "`a\\|b`");
        assert_eq!(fenced("diff", "+a\n"), "```diff\n+a\n```");
        assert_eq!(fenced("text", "```\n<x>"), "````text\n```\n<x>\n````");
        assert_eq!(
            text("<script>alert(1)</script> `x`"),
            "&lt;script&gt;alert(1)&lt;/script&gt; \\`x\\`"
        );
    }
}
