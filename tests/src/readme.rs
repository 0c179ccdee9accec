//! The README's shell blocks, read as a user reads them: every fenced block tagged `sh`, its
//! commands (continuation lines joined, trailing comments dropped), in order.
//!
//! A block whose first line is `# not run by the tests: <why>` is shown to readers as unchecked;
//! every other command is run by `tests/e2e/readme.rs`.

use std::path::{Path, PathBuf};

/// The marker of a block the tests do not run (its reason follows it).
pub const UNCHECKED: &str = "# not run by the tests:";

/// One fenced `sh` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// The heading the block is under, for messages.
    pub section: String,
    /// 1-based line of the opening fence.
    pub line: usize,
    /// `Some(reason)` for a block marked [`UNCHECKED`].
    pub unchecked: Option<String>,
    pub commands: Vec<Command>,
}

/// One command as a user would type it.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// The command without its comment and without a trailing `&`.
    pub text: String,
    /// Ended with `&`: started in the background, left running for the next commands.
    pub background: bool,
}

/// The README of the checkout `root`.
pub fn path(root: &Path) -> PathBuf {
    root.join("README.md")
}

/// The languages a fenced block may be tagged with: `sh` (run by the tests), or one that holds no
/// command (`sql` is shown, `text` is a diagram or output). An untagged block, or one tagged
/// `bash`, `shell` or `console`, could hold commands the tests never see.
pub const LANGUAGES: &[&str] = &["sh", "sql", "text"];

/// One fenced block of any language.
struct Fenced<'a> {
    section: String,
    line: usize,
    language: String,
    lines: Vec<&'a str>,
}

/// Every fenced block of `markdown`, in order, under its heading.
fn fenced(markdown: &str) -> Vec<Fenced<'_>> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut open: Option<Fenced> = None;
    for (i, line) in markdown.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (None, Some(info)) => {
                let language = info.split_whitespace().next().unwrap_or_default().to_owned();
                open = Some(Fenced { section: section.clone(), line: i + 1, language, lines: Vec::new() });
            }
            (Some(_), Some(_)) => out.extend(open.take()),
            (Some(block), None) => block.lines.push(line),
            (None, None) => {
                if let Some(heading) = line.strip_prefix('#').filter(|_| !line.starts_with("#!")) {
                    section = heading.trim_start_matches('#').trim().to_owned();
                }
            }
        }
    }
    out
}

/// Every `sh` block of `markdown`, in order.
pub fn blocks(markdown: &str) -> Vec<Block> {
    fenced(markdown).iter().filter(|f| f.language == "sh").map(|f| block(&f.section, f.line, &f.lines)).collect()
}

/// `README.md:<line> (<section>)` of every fenced block whose language is not in [`LANGUAGES`].
pub fn untagged(markdown: &str) -> Vec<String> {
    fenced(markdown)
        .iter()
        .filter(|f| !LANGUAGES.contains(&f.language.as_str()))
        .map(|f| format!("README.md:{} ({}): a block tagged `{}`: tag it `sh` (its commands are run by the tests) or `text`/`sql` (no commands)", f.line, f.section, f.language))
        .collect()
}

fn block(section: &str, line: usize, lines: &[&str]) -> Block {
    let unchecked = lines.first().and_then(|l| l.trim().strip_prefix(UNCHECKED)).map(|why| why.trim().to_owned());
    let mut commands = Vec::new();
    let mut pending = String::new();
    for raw in lines {
        let text = strip_comment(raw);
        let (text, continued) = match text.trim_end().strip_suffix('\\') {
            Some(head) => (head.to_owned(), true),
            None => (text.to_owned(), false),
        };
        if !pending.is_empty() && !text.trim().is_empty() {
            pending.push(' ');
        }
        pending.push_str(text.trim());
        if !continued && !pending.trim().is_empty() {
            let text = std::mem::take(&mut pending);
            let (text, background) = match text.trim_end().strip_suffix('&') {
                Some(head) if !head.ends_with('&') => (head.trim_end().to_owned(), true),
                _ => (text.trim_end().to_owned(), false),
            };
            commands.push(Command { text, background });
        }
    }
    Block { section: section.to_owned(), line, unchecked, commands }
}

/// The line without a comment: a `#` at the start or after a blank, outside quotes.
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if previous.is_whitespace() => return &line[..i],
            _ => {}
        }
        previous = c;
    }
    line
}

/// A command's words as the shell splits them (single and double quotes; no expansion).
pub fn words(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote = None;
    for c in command.chars() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (_, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# Title\n\n## Part one\n\n```sh\ncargo run -- run      # today\ncargo run -- simulate &   # in the background\ncargo lambda watch -A 127.0.0.1 \\\n  --env-var A=1 \\\n  --env-var B='x # y'   # a comment\n```\n\n```sql\nSELECT 1;\n```\n\n### Part two\n\n```sh\n# not run by the tests: needs an AWS account\naws lambda invoke --payload '{\"date\": \"2026-11-20\"}' out.json\n```\n";

    #[test]
    fn blocks_commands_continuations_comments_and_markers() {
        let blocks = blocks(SAMPLE);
        assert_eq!(blocks.len(), 2, "{blocks:#?}");
        assert_eq!((blocks[0].section.as_str(), blocks[0].line, &blocks[0].unchecked), ("Part one", 5, &None));
        let texts: Vec<(&str, bool)> = blocks[0].commands.iter().map(|c| (c.text.as_str(), c.background)).collect();
        assert_eq!(
            texts,
            [("cargo run -- run", false), ("cargo run -- simulate", true), ("cargo lambda watch -A 127.0.0.1 --env-var A=1 --env-var B='x # y'", false)]
        );
        assert_eq!(blocks[1].section, "Part two");
        assert_eq!(blocks[1].unchecked.as_deref(), Some("needs an AWS account"));
        assert_eq!(blocks[1].commands.len(), 1);
    }

    #[test]
    fn blocks_without_a_known_language_are_named() {
        let text = "## A\n\n```\ncargo run -- run\n```\n\n```bash\nls\n```\n\n```text\nfetch -> transform\n```\n";
        let found = untagged(text);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].starts_with("README.md:3 (A): a block tagged ``") && found[1].starts_with("README.md:7 (A): a block tagged `bash`"), "{found:#?}");
        assert!(untagged(SAMPLE).is_empty());
    }

    #[test]
    fn words_follow_the_shell_quotes() {
        assert_eq!(words(r#"a --payload '{"date": "x"}' "b c" d"#), ["a", "--payload", r#"{"date": "x"}"#, "b c", "d"]);
        assert_eq!(words("  "), Vec::<String>::new());
    }
}
