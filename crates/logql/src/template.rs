//! The subset of Go's text/template that `line_format` and `label_format`
//! take: text, `{{ .label }}`, `{{ __line__ }}`, `{{ __timestamp__ }}`,
//! string and number literals, and Loki's string functions called directly
//! (`{{ ToUpper .level }}`) or through pipes (`{{ .msg | trunc 20 }}`).
//! Control actions (`if`, `range`, `with`, …) are refused with their name.

use regex::Regex;

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    /// Commands; the value of each is passed as the last argument of the next.
    Action(Vec<Command>),
}

#[derive(Debug, Clone)]
struct Command {
    function: Option<Function>,
    args: Vec<Arg>,
}

#[derive(Debug, Clone)]
enum Arg {
    Field(String),
    Str(String),
    Number(f64),
    Line,
    Timestamp,
}

#[derive(Debug, Clone)]
enum Function {
    Lower,
    Upper,
    Title,
    Trim,
    TrimAll,
    TrimPrefix,
    TrimSuffix,
    Trunc,
    Substr,
    Replace,
    Default,
    RegexReplaceAll(Option<Regex>),
    RegexReplaceAllLiteral(Option<Regex>),
    Printf,
}

const FUNCTIONS: [(&str, usize); 17] = [
    ("ToLower", 1),
    ("lower", 1),
    ("ToUpper", 1),
    ("upper", 1),
    ("title", 1),
    ("trim", 1),
    ("trimSpace", 1),
    ("trimAll", 2),
    ("trimPrefix", 2),
    ("trimSuffix", 2),
    ("trunc", 2),
    ("substr", 3),
    ("replace", 3),
    ("default", 2),
    ("regexReplaceAll", 3),
    ("regexReplaceAllLiteral", 3),
    ("printf", usize::MAX),
];

/// What a template reads when it runs.
pub trait Context {
    fn label(&self, name: &str) -> Option<&str>;
    fn line(&self) -> &str;
    /// Unix nanoseconds.
    fn timestamp(&self) -> i64;
}

impl Template {
    /// Parses `text`; the error names the action that is not supported.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| format!("template {text:?}: unclosed action {{{{"))?;
            let action = after[..close]
                .trim_start_matches('-')
                .trim_end_matches('-')
                .trim();
            parts.push(Part::Action(parse_action(action)?));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// Runs the template.
    pub fn render(&self, ctx: &dyn Context) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Action(commands) => {
                    let mut piped: Option<String> = None;
                    for c in commands {
                        piped = Some(c.run(ctx, piped));
                    }
                    out.push_str(piped.as_deref().unwrap_or_default());
                }
            }
        }
        out
    }
}

fn parse_action(action: &str) -> Result<Vec<Command>, String> {
    if action.is_empty() {
        return Err("template: empty action {{}}".into());
    }
    let mut commands = Vec::new();
    for piece in split_pipes(action) {
        let words = words(piece.trim())?;
        let Some(first) = words.first() else {
            return Err(format!("template: empty command in {{{{{action}}}}}"));
        };
        let command = match first {
            Word::Bare(name) => {
                if let Some((_, arity)) = FUNCTIONS.iter().find(|(f, _)| f == name) {
                    let args = words[1..].iter().map(arg).collect::<Result<Vec<_>, _>>()?;
                    let given = args.len() + usize::from(!commands.is_empty());
                    if *arity != usize::MAX && given != *arity {
                        return Err(format!(
                            "template: {name} takes {arity} argument(s), {given} given"
                        ));
                    }
                    Command {
                        function: Some(function(name, &args)?),
                        args,
                    }
                } else if [
                    "if", "else", "end", "range", "with", "define", "template", "block", "break",
                    "continue",
                ]
                .contains(&name.as_str())
                {
                    return Err(format!("template: the action {{{{{name}}}}} is not supported by Periscope's LogQL (only values and functions)"));
                } else if words.len() == 1 {
                    Command {
                        function: None,
                        args: vec![arg(first)?],
                    }
                } else {
                    return Err(format!("template: unknown function {name:?}"));
                }
            }
            _ if words.len() == 1 => Command {
                function: None,
                args: vec![arg(first)?],
            },
            _ => {
                return Err(format!(
                    "template: {{{{{action}}}}} is not a value or a function call"
                ))
            }
        };
        commands.push(command);
    }
    Ok(commands)
}

fn split_pipes(action: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let bytes = action.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'|' if !quoted => {
                out.push(&action[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&action[start..]);
    out
}

enum Word {
    Bare(String),
    Str(String),
}

fn words(text: &str) -> Result<Vec<Word>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    None => return Err(format!("template: unterminated string in {text:?}")),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some(o) => s.push(o),
                        None => return Err(format!("template: unterminated string in {text:?}")),
                    },
                    Some(o) => s.push(o),
                }
            }
            out.push(Word::Str(s));
        } else if c == '`' {
            chars.next();
            let s: String = chars.by_ref().take_while(|c| *c != '`').collect();
            out.push(Word::Str(s));
        } else {
            let mut w = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                w.push(c);
                chars.next();
            }
            out.push(Word::Bare(w));
        }
    }
    Ok(out)
}

fn arg(word: &Word) -> Result<Arg, String> {
    match word {
        Word::Str(s) => Ok(Arg::Str(s.clone())),
        Word::Bare(w) if w == "__line__" => Ok(Arg::Line),
        Word::Bare(w) if w == "__timestamp__" => Ok(Arg::Timestamp),
        Word::Bare(w) if w.starts_with('.') && w.len() > 1 => {
            let name = &w[1..];
            if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                Ok(Arg::Field(name.to_string()))
            } else {
                Err(format!(
                    "template: {w:?} is not a label reference like .name"
                ))
            }
        }
        Word::Bare(w) => w
            .parse::<f64>()
            .map(Arg::Number)
            .map_err(|_| format!("template: {w:?} is not a label (.name), a string or a number")),
    }
}

fn function(name: &str, args: &[Arg]) -> Result<Function, String> {
    let regex = |args: &[Arg]| -> Result<Option<Regex>, String> {
        match args.first() {
            Some(Arg::Str(re)) => Regex::new(re)
                .map(Some)
                .map_err(|e| format!("template: {name}: invalid regex {re:?}: {e}")),
            _ => Ok(None),
        }
    };
    Ok(match name {
        "ToLower" | "lower" => Function::Lower,
        "ToUpper" | "upper" => Function::Upper,
        "title" => Function::Title,
        "trim" | "trimSpace" => Function::Trim,
        "trimAll" => Function::TrimAll,
        "trimPrefix" => Function::TrimPrefix,
        "trimSuffix" => Function::TrimSuffix,
        "trunc" => Function::Trunc,
        "substr" => Function::Substr,
        "replace" => Function::Replace,
        "default" => Function::Default,
        "regexReplaceAll" => Function::RegexReplaceAll(regex(args)?),
        "regexReplaceAllLiteral" => Function::RegexReplaceAllLiteral(regex(args)?),
        _ => Function::Printf,
    })
}

impl Arg {
    fn value(&self, ctx: &dyn Context) -> String {
        match self {
            Arg::Field(name) => ctx.label(name).unwrap_or_default().to_string(),
            Arg::Str(s) => s.clone(),
            Arg::Number(n) => format!("{n}"),
            Arg::Line => ctx.line().to_string(),
            Arg::Timestamp => crate::format_rfc3339(ctx.timestamp()),
        }
    }
}

impl Command {
    fn run(&self, ctx: &dyn Context, piped: Option<String>) -> String {
        let mut args: Vec<String> = self.args.iter().map(|a| a.value(ctx)).collect();
        args.extend(piped);
        let Some(f) = &self.function else {
            return args.into_iter().next().unwrap_or_default();
        };
        let a = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
        let last = args.last().map(String::as_str).unwrap_or_default();
        let int = |s: &str| s.parse::<f64>().map(|n| n as i64).unwrap_or(0);
        match f {
            Function::Lower => last.to_lowercase(),
            Function::Upper => last.to_uppercase(),
            Function::Title => title(last),
            Function::Trim => last.trim().to_string(),
            Function::TrimAll => last.trim_matches(|c| a(0).contains(c)).to_string(),
            Function::TrimPrefix => last.strip_prefix(a(0)).unwrap_or(last).to_string(),
            Function::TrimSuffix => last.strip_suffix(a(0)).unwrap_or(last).to_string(),
            Function::Trunc => {
                let n = int(a(0));
                let chars: Vec<char> = last.chars().collect();
                let len = chars.len() as i64;
                if n >= 0 {
                    chars[..n.min(len) as usize].iter().collect()
                } else {
                    chars[(len + n).max(0) as usize..].iter().collect()
                }
            }
            Function::Substr => {
                let chars: Vec<char> = last.chars().collect();
                let len = chars.len() as i64;
                let start = int(a(0)).clamp(0, len) as usize;
                let end = int(a(1));
                let end = if end < 0 { len } else { end.min(len) } as usize;
                if start >= end {
                    String::new()
                } else {
                    chars[start..end].iter().collect()
                }
            }
            Function::Replace => last.replace(a(0), a(1)),
            Function::Default => {
                if last.is_empty() {
                    a(0).to_string()
                } else {
                    last.to_string()
                }
            }
            Function::RegexReplaceAll(re) => match re {
                Some(re) => re.replace_all(a(1), a(2)).into_owned(),
                None => a(1).to_string(),
            },
            Function::RegexReplaceAllLiteral(re) => match re {
                Some(re) => re.replace_all(a(1), regex::NoExpand(a(2))).into_owned(),
                None => a(1).to_string(),
            },
            Function::Printf => printf(a(0), &args[1.min(args.len())..]),
        }
    }
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric();
    }
    out
}

/// `%s`, `%d`, `%v` and `%%`; other verbs print their argument as text.
fn printf(format: &str, args: &[String]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(_) => out.push_str(args.next().map(String::as_str).unwrap_or("%!(MISSING)")),
            None => out.push('%'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Ctx;
    impl Context for Ctx {
        fn label(&self, name: &str) -> Option<&str> {
            match name {
                "level" => Some("warn"),
                "msg" => Some("  disk almost full  "),
                _ => None,
            }
        }
        fn line(&self) -> &str {
            "the line"
        }
        fn timestamp(&self) -> i64 {
            1_700_000_000_000_000_000
        }
    }

    fn render(t: &str) -> String {
        Template::parse(t).unwrap().render(&Ctx)
    }

    #[test]
    fn values_functions_and_pipes() {
        assert_eq!(
            render("{{.level}}: {{ .msg | trim }}"),
            "warn: disk almost full"
        );
        assert_eq!(render("{{ ToUpper .level }} {{.missing}}|"), "WARN |");
        assert_eq!(render("{{ __line__ | trunc 3 }}"), "the");
        assert_eq!(render(r#"{{ .missing | default "none" }}"#), "none");
        assert_eq!(
            render(r#"{{ regexReplaceAll "a(l+)" .msg "${1}" }}"#),
            "  disk lmost full  "
        );
        assert_eq!(render("{{ __timestamp__ }}"), "2023-11-14T22:13:20Z");
        assert_eq!(render(r#"{{ printf "%s=%s" "a" .level }}"#), "a=warn");
        assert_eq!(render("{{ .level | title }}"), "Warn");
    }

    #[test]
    fn unsupported_actions_are_named() {
        assert!(Template::parse("{{ if .a }}x{{ end }}")
            .unwrap_err()
            .contains("{{if}}"));
        assert!(Template::parse("{{ nope .a }}")
            .unwrap_err()
            .contains("unknown function"));
        assert!(Template::parse("{{ .a").unwrap_err().contains("unclosed"));
        assert!(Template::parse("{{ trunc .a }}")
            .unwrap_err()
            .contains("takes 2"));
    }
}
