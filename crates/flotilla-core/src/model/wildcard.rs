//! Matching target names against the globs of the format (`*`, `?`,
//! `[abc]`, `[!a-z]`) without compiling a regular expression per pattern:
//! a repository of tens of thousands of Patch documents with distinct
//! patterns must not cost a regex (and its caches) each.

/// One element of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Char(char),
    AnyChar,
    AnyRun,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A parsed glob of `*`, `?` and `[...]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wildcard {
    tokens: Vec<Token>,
}

impl Wildcard {
    /// Parses `pattern`; `None` when it uses syntax this matcher leaves to
    /// globset (`{a,b}`, `\` escapes) or an unclosed class.
    pub fn parse(pattern: &str) -> Option<Self> {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => {
                    if tokens.last() != Some(&Token::AnyRun) {
                        tokens.push(Token::AnyRun);
                    }
                }
                '?' => tokens.push(Token::AnyChar),
                '[' => {
                    let negated = matches!(chars.peek(), Some('!' | '^'));
                    if negated {
                        chars.next();
                    }
                    let mut ranges = Vec::new();
                    let mut first = true;
                    loop {
                        let c = chars.next()?;
                        if c == ']' && !first {
                            break;
                        }
                        first = false;
                        let mut lookahead = chars.clone();
                        if lookahead.next() == Some('-')
                            && let Some(end) = lookahead.next()
                            && end != ']'
                        {
                            chars.next();
                            chars.next();
                            ranges.push((c, end));
                        } else {
                            ranges.push((c, c));
                        }
                    }
                    tokens.push(Token::Class { negated, ranges });
                }
                '{' | '}' | '\\' | ']' => return None,
                c => tokens.push(Token::Char(c)),
            }
        }
        Some(Self { tokens })
    }

    fn one(token: &Token, c: char) -> bool {
        match token {
            Token::Char(t) => *t == c,
            Token::AnyChar => true,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|(a, b)| (*a..=*b).contains(&c)) != *negated
            }
            Token::AnyRun => false,
        }
    }

    /// Whether `name` matches, in O(pattern x name) time.
    pub fn is_match(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        let (mut p, mut n) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while n < name.len() {
            match self.tokens.get(p) {
                Some(Token::AnyRun) => {
                    star = Some((p, n));
                    p += 1;
                }
                Some(t) if Self::one(t, name[n]) => {
                    p += 1;
                    n += 1;
                }
                _ => match star {
                    Some((sp, sn)) => {
                        p = sp + 1;
                        n = sn + 1;
                        star = Some((sp, sn + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens[p..].iter().all(|t| *t == Token::AnyRun)
    }
}

#[cfg(test)]
mod tests {
    use super::Wildcard;

    #[test]
    fn matches_as_globset_does() {
        let names = ["web", "web-1", "api", "w", "", "web.shop", "a-b-c", "x]y"];
        for pattern in [
            "*", "web*", "*-1", "w?b", "w*b*", "[aw]*", "[!a]*", "[a-c]pi", "*-*-*", "?", "[]]*",
            "web", "*.shop",
        ] {
            let ours = Wildcard::parse(pattern).expect(pattern);
            let theirs = globset::GlobBuilder::new(pattern)
                .literal_separator(false)
                .build()
                .unwrap()
                .compile_matcher();
            for name in names {
                assert_eq!(
                    ours.is_match(name),
                    theirs.is_match(name),
                    "{pattern} on {name:?}"
                );
            }
        }
        assert!(Wildcard::parse("{a,b}").is_none());
        assert!(Wildcard::parse("[ab").is_none());
    }
}
