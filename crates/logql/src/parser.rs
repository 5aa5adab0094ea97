//! A recursive-descent parser from tokens to [`Expr`], following the grammar
//! of Loki's `syntax.y` (written here from its documented semantics).

use crate::ast::*;
use crate::error::ParseError;
use crate::lexer::{tokenize, Kind, Token};

/// Deepest nesting of parentheses and aggregations accepted.
pub const MAX_DEPTH: usize = 64;

/// Parses a LogQL query.
pub fn parse(text: &str) -> Result<Expr, ParseError> {
    let tokens = tokenize(text)?;
    let mut p = QueryParser {
        tokens,
        pos: 0,
        depth: 0,
    };
    let expr = p.expr(0)?;
    if p.peek() != &Kind::Eof {
        return Err(p.unexpected("an operator or the end of the query"));
    }
    Ok(match expr {
        Parsed::Log(l) => Expr::Log(l),
        Parsed::Metric(m) => Expr::Metric(m),
    })
}

/// Parses a stream selector alone (`{a="b"}`), as metadata endpoints take.
pub fn parse_selector(text: &str) -> Result<Selector, ParseError> {
    let tokens = tokenize(text)?;
    let mut p = QueryParser {
        tokens,
        pos: 0,
        depth: 0,
    };
    let selector = p.selector()?;
    if p.peek() != &Kind::Eof {
        return Err(p.unexpected("the end of the selector"));
    }
    Ok(selector)
}

enum Parsed {
    Log(LogExpr),
    Metric(MetricExpr),
}

struct QueryParser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

const LINE_FILTER_OPS: [(Kind, LineOp); 6] = [
    (Kind::PipeExact, LineOp::Contains),
    (Kind::Neq, LineOp::NotContains),
    (Kind::PipeMatch, LineOp::Matches),
    (Kind::Nre, LineOp::NotMatches),
    (Kind::PipePattern, LineOp::Pattern),
    (Kind::NotPattern, LineOp::NotPattern),
];

impl QueryParser {
    fn peek(&self) -> &Kind {
        &self.tokens[self.pos].kind
    }

    fn peek_at(&self, ahead: usize) -> &Kind {
        let i = (self.pos + ahead).min(self.tokens.len() - 1);
        &self.tokens[i].kind
    }

    fn offset(&self) -> usize {
        self.tokens[self.pos].offset
    }

    fn next(&mut self) -> Kind {
        let kind = self.tokens[self.pos].kind.clone();
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        kind
    }

    fn is_ident(&self, word: &str) -> bool {
        matches!(self.peek(), Kind::Ident(w) if w == word)
    }

    fn unexpected(&self, wanted: &str) -> ParseError {
        ParseError::new(
            self.offset(),
            format!("expected {wanted}, found {}", self.peek().describe()),
        )
    }

    fn expect(&mut self, kind: Kind, wanted: &str) -> Result<(), ParseError> {
        if self.peek() == &kind {
            self.next();
            Ok(())
        } else {
            Err(self.unexpected(wanted))
        }
    }

    fn string(&mut self, wanted: &str) -> Result<String, ParseError> {
        match self.peek() {
            Kind::Str(_) => match self.next() {
                Kind::Str(s) => Ok(s),
                _ => unreachable!("peeked a string"),
            },
            _ => Err(self.unexpected(wanted)),
        }
    }

    fn ident(&mut self, wanted: &str) -> Result<String, ParseError> {
        match self.peek() {
            Kind::Ident(_) => match self.next() {
                Kind::Ident(s) => Ok(s),
                _ => unreachable!("peeked a name"),
            },
            _ => Err(self.unexpected(wanted)),
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::new(
                self.offset(),
                format!("the query nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    // ---- Expressions and binary operators ----

    fn expr(&mut self, min_precedence: u8) -> Result<Parsed, ParseError> {
        self.enter()?;
        let mut lhs = self.unary()?;
        while let Some(op) = self.binary_op() {
            if op.precedence() < min_precedence {
                break;
            }
            let at = self.offset();
            self.next();
            let modifier = self.binary_modifier(op)?;
            let next_min = if op == BinaryOp::Pow {
                op.precedence()
            } else {
                op.precedence() + 1
            };
            let rhs = self.expr(next_min)?;
            let (Parsed::Metric(l), Parsed::Metric(r)) = (lhs, rhs) else {
                return Err(ParseError::new(
                    at,
                    format!(
                        "operator {:?} needs metric queries on both sides, not log queries \
                         (wrap a log query in a range aggregation such as count_over_time(…[5m]))",
                        op.symbol()
                    ),
                ));
            };
            check_operands(op, &modifier, &l, &r, at)?;
            lhs = Parsed::Metric(MetricExpr::Binary(Box::new(BinaryExpr {
                op,
                lhs: l,
                rhs: r,
                modifier,
            })));
        }
        self.leave();
        Ok(lhs)
    }

    fn binary_op(&self) -> Option<BinaryOp> {
        Some(match self.peek() {
            Kind::Add => BinaryOp::Add,
            Kind::Sub => BinaryOp::Sub,
            Kind::Mul => BinaryOp::Mul,
            Kind::Div => BinaryOp::Div,
            Kind::Mod => BinaryOp::Mod,
            Kind::Pow => BinaryOp::Pow,
            Kind::EqEq => BinaryOp::Eq,
            Kind::Neq => BinaryOp::Ne,
            Kind::Gt => BinaryOp::Gt,
            Kind::Gte => BinaryOp::Gte,
            Kind::Lt => BinaryOp::Lt,
            Kind::Lte => BinaryOp::Lte,
            Kind::Ident(w) if w == "or" => BinaryOp::Or,
            Kind::Ident(w) if w == "and" => BinaryOp::And,
            Kind::Ident(w) if w == "unless" => BinaryOp::Unless,
            _ => return None,
        })
    }

    fn binary_modifier(&mut self, op: BinaryOp) -> Result<BinaryModifier, ParseError> {
        let mut m = BinaryModifier::default();
        if self.is_ident("bool") {
            if !op.is_comparison() {
                return Err(ParseError::new(
                    self.offset(),
                    "bool is only allowed after a comparison operator",
                ));
            }
            self.next();
            m.return_bool = true;
        }
        if self.is_ident("on") || self.is_ident("ignoring") {
            let on = self.is_ident("on");
            self.next();
            m.matching = Some(VectorMatching {
                on,
                labels: self.label_list()?,
            });
            if self.is_ident("group_left") || self.is_ident("group_right") {
                if op.is_set() {
                    return Err(ParseError::new(
                        self.offset(),
                        format!("no grouping is allowed for operator {:?}", op.symbol()),
                    ));
                }
                let left = self.is_ident("group_left");
                self.next();
                let labels = if self.peek() == &Kind::LParen {
                    self.label_list()?
                } else {
                    Vec::new()
                };
                m.group = Some(GroupSide { left, labels });
            }
        }
        Ok(m)
    }

    fn label_list(&mut self) -> Result<Vec<String>, ParseError> {
        self.expect(Kind::LParen, "\"(\" and a list of label names")?;
        let mut labels = Vec::new();
        while self.peek() != &Kind::RParen {
            labels.push(self.ident("a label name")?);
            if self.peek() == &Kind::Comma {
                self.next();
            } else if self.peek() != &Kind::RParen {
                return Err(self.unexpected("\",\" or \")\""));
            }
        }
        self.next();
        Ok(labels)
    }

    fn unary(&mut self) -> Result<Parsed, ParseError> {
        if matches!(self.peek(), Kind::Add | Kind::Sub) {
            let negative = self.peek() == &Kind::Sub;
            let at = self.offset();
            self.next();
            return match self.unary()? {
                Parsed::Metric(MetricExpr::Literal(n)) => {
                    Ok(Parsed::Metric(MetricExpr::Literal(if negative {
                        -n
                    } else {
                        n
                    })))
                }
                Parsed::Metric(m) if negative => {
                    // `-x` is `-1 * x`, as PromQL reads it.
                    Ok(Parsed::Metric(MetricExpr::Binary(Box::new(BinaryExpr {
                        op: BinaryOp::Mul,
                        lhs: MetricExpr::Literal(-1.0),
                        rhs: m,
                        modifier: BinaryModifier::default(),
                    }))))
                }
                Parsed::Metric(m) => Ok(Parsed::Metric(m)),
                Parsed::Log(_) => Err(ParseError::new(at, "a sign cannot apply to a log query")),
            };
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Parsed, ParseError> {
        match self.peek().clone() {
            Kind::LBrace => {
                let selector = self.selector()?;
                let log = self.pipeline(selector, false)?.0;
                if self.peek() == &Kind::LBracket {
                    return Err(ParseError::new(
                        self.offset(),
                        "a range [..] needs a range aggregation around it, such as count_over_time({…}[5m])",
                    ));
                }
                Ok(Parsed::Log(log))
            }
            Kind::LParen => {
                self.next();
                let inner = self.expr(0)?;
                self.expect(Kind::RParen, "\")\"")?;
                Ok(match inner {
                    Parsed::Log(l) => Parsed::Log(l),
                    Parsed::Metric(m) => Parsed::Metric(MetricExpr::Paren(Box::new(m))),
                })
            }
            Kind::Number(n) => {
                self.next();
                Ok(Parsed::Metric(MetricExpr::Literal(n)))
            }
            Kind::Ident(name) => self.function(&name).map(Parsed::Metric),
            _ => Err(self.unexpected("a stream selector {…}, a number or a function")),
        }
    }

    fn function(&mut self, name: &str) -> Result<MetricExpr, ParseError> {
        let at = self.offset();
        if let Some(op) = RangeOp::ALL.iter().find(|o| o.name() == name) {
            self.next();
            return self.range_aggregation(*op, at);
        }
        if let Some(op) = VectorOp::ALL.iter().find(|o| o.name() == name) {
            self.next();
            return self.vector_aggregation(*op, at);
        }
        match name {
            "vector" => {
                self.next();
                self.expect(Kind::LParen, "\"(\"")?;
                let n = self.number("a number")?;
                self.expect(Kind::RParen, "\")\"")?;
                Ok(MetricExpr::VectorLiteral(n))
            }
            "label_replace" => {
                self.next();
                self.expect(Kind::LParen, "\"(\"")?;
                self.enter()?;
                let inner = match self.expr(0)? {
                    Parsed::Metric(m) => m,
                    Parsed::Log(_) => {
                        return Err(ParseError::new(at, "label_replace needs a metric query"))
                    }
                };
                self.leave();
                let mut args = Vec::new();
                for _ in 0..4 {
                    self.expect(Kind::Comma, "\",\"")?;
                    args.push(self.string("a string argument of label_replace")?);
                }
                self.expect(Kind::RParen, "\")\"")?;
                let regex = args.pop().unwrap_or_default();
                let src = args.pop().unwrap_or_default();
                let replacement = args.pop().unwrap_or_default();
                let dst = args.pop().unwrap_or_default();
                if let Err(e) = regex::Regex::new(&format!("^(?:{regex})$")) {
                    return Err(ParseError::new(at, format!("label_replace: invalid regex {regex:?}: {e}")));
                }
                Ok(MetricExpr::LabelReplace(Box::new(LabelReplace {
                    inner,
                    dst,
                    replacement,
                    src,
                    regex,
                })))
            }
            "count_values" | "approx_topk" | "absent" | "histogram_quantile" | "label_join"
            | "sqrt" | "abs" | "ceil" | "floor" | "round" | "clamp" | "clamp_min" | "clamp_max" => {
                Err(ParseError::new(at, format!("{name} is not supported by Periscope's LogQL")))
            }
            _ => Err(ParseError::new(
                at,
                format!("unknown function {name:?}: expected a range aggregation (count_over_time, rate, …), a vector aggregation (sum, topk, …), vector() or label_replace()"),
            )),
        }
    }

    fn number(&mut self, wanted: &str) -> Result<f64, ParseError> {
        let negative = if self.peek() == &Kind::Sub {
            self.next();
            true
        } else {
            false
        };
        match self.peek() {
            Kind::Number(n) => {
                let n = *n;
                self.next();
                Ok(if negative { -n } else { n })
            }
            _ => Err(self.unexpected(wanted)),
        }
    }

    fn grouping(&mut self) -> Result<Option<Grouping>, ParseError> {
        if self.is_ident("by") || self.is_ident("without") {
            let without = self.is_ident("without");
            self.next();
            Ok(Some(Grouping {
                without,
                labels: self.label_list()?,
            }))
        } else {
            Ok(None)
        }
    }

    fn range_aggregation(&mut self, op: RangeOp, at: usize) -> Result<MetricExpr, ParseError> {
        self.expect(Kind::LParen, "\"(\"")?;
        let parameter = if op == RangeOp::QuantileOverTime {
            let q = self.number("the quantile (a number) first")?;
            self.expect(Kind::Comma, "\",\"")?;
            Some(q)
        } else {
            None
        };
        let range = self.log_range()?;
        self.expect(Kind::RParen, "\")\"")?;
        let grouping = self.grouping()?;
        match (&range.unwrap, op.needs_unwrap()) {
            (None, true) => {
                return Err(ParseError::new(
                    at,
                    format!(
                        "{} needs an unwrapped range: add | unwrap <label> before the range",
                        op.name()
                    ),
                ))
            }
            (Some(_), false) if op != RangeOp::Rate && op != RangeOp::AbsentOverTime => {
                return Err(ParseError::new(
                    at,
                    format!("{} counts lines and takes no unwrap", op.name()),
                ))
            }
            _ => {}
        }
        if grouping.is_some() && range.unwrap.is_none() {
            return Err(ParseError::new(
                at,
                format!(
                    "{} takes no by/without (group with an outer aggregation: sum by (…) ({}(…)))",
                    op.name(),
                    op.name()
                ),
            ));
        }
        Ok(MetricExpr::Range(RangeAggregation {
            op,
            parameter,
            range,
            grouping,
        }))
    }

    fn log_range(&mut self) -> Result<LogRange, ParseError> {
        if self.peek() != &Kind::LBrace {
            return Err(self.unexpected("a stream selector {…} with a range"));
        }
        let selector = self.selector()?;
        let (mut log, mut unwrap) = self.pipeline(selector, true)?;
        self.expect(Kind::LBracket, "a range such as [5m]")?;
        let range = match self.next() {
            Kind::Duration(d) if d > 0 => d,
            _ => {
                self.pos -= 1;
                return Err(self.unexpected("a positive duration such as 5m"));
            }
        };
        self.expect(Kind::RBracket, "\"]\"")?;
        let offset = if self.is_ident("offset") {
            self.next();
            match self.next() {
                Kind::Duration(d) => d,
                _ => {
                    self.pos -= 1;
                    return Err(self.unexpected("a duration after offset"));
                }
            }
        } else {
            0
        };
        // The pipeline may also follow the range: `{…}[5m] | json`.
        if matches!(self.peek(), Kind::Pipe) || is_line_filter(self.peek()) {
            let (more, more_unwrap) = self.pipeline(log.selector.clone(), true)?;
            if unwrap.is_some() && !more.pipeline.is_empty() {
                return Err(ParseError::new(
                    self.offset(),
                    "the pipeline must come before the unwrap",
                ));
            }
            log.pipeline.extend(more.pipeline);
            unwrap = unwrap.or(more_unwrap);
        }
        Ok(LogRange {
            log,
            range,
            offset,
            unwrap,
        })
    }

    fn vector_aggregation(&mut self, op: VectorOp, at: usize) -> Result<MetricExpr, ParseError> {
        let mut grouping = self.grouping()?;
        self.expect(Kind::LParen, "\"(\"")?;
        let parameter = if matches!(op, VectorOp::Topk | VectorOp::Bottomk) {
            let k = self.number("k (a number) first")?;
            if k < 1.0 || k.fract() != 0.0 {
                return Err(ParseError::new(
                    at,
                    format!(
                        "{}: k must be a whole number of at least 1, not {k}",
                        op.name()
                    ),
                ));
            }
            self.expect(Kind::Comma, "\",\"")?;
            Some(k)
        } else {
            None
        };
        let inner = match self.expr(0)? {
            Parsed::Metric(m) => m,
            Parsed::Log(_) => {
                return Err(ParseError::new(
                    at,
                    format!(
                        "{} needs a metric query, such as {}(count_over_time({{…}}[5m]))",
                        op.name(),
                        op.name()
                    ),
                ))
            }
        };
        self.expect(Kind::RParen, "\")\"")?;
        if grouping.is_none() {
            grouping = self.grouping()?;
        }
        if grouping.is_some() && matches!(op, VectorOp::Sort | VectorOp::SortDesc) {
            return Err(ParseError::new(
                at,
                format!("{} takes no by/without", op.name()),
            ));
        }
        Ok(MetricExpr::Vector(VectorAggregation {
            op,
            parameter,
            grouping,
            inner: Box::new(inner),
        }))
    }

    // ---- Selectors and pipelines ----

    fn selector(&mut self) -> Result<Selector, ParseError> {
        self.expect(Kind::LBrace, "\"{\"")?;
        let mut matchers = Vec::new();
        while self.peek() != &Kind::RBrace {
            matchers.push(self.matcher()?);
            if self.peek() == &Kind::Comma {
                self.next();
            } else if self.peek() != &Kind::RBrace {
                return Err(self.unexpected("\",\" or \"}\""));
            }
        }
        self.next();
        Ok(Selector { matchers })
    }

    fn matcher(&mut self) -> Result<Matcher, ParseError> {
        let name = self.ident("a label name")?;
        let op = self.match_op()?;
        let at = self.offset();
        let value = self.string("a quoted value")?;
        check_regex(op, &value, at)?;
        Ok(Matcher { name, op, value })
    }

    fn match_op(&mut self) -> Result<MatchOp, ParseError> {
        let op = match self.peek() {
            Kind::Eq => MatchOp::Eq,
            Kind::Neq => MatchOp::Ne,
            Kind::Re => MatchOp::Re,
            Kind::Nre => MatchOp::Nre,
            _ => return Err(self.unexpected("=, !=, =~ or !~")),
        };
        self.next();
        Ok(op)
    }

    /// The stages after a selector; `unwrap` is accepted when `in_range`.
    fn pipeline(
        &mut self,
        selector: Selector,
        in_range: bool,
    ) -> Result<(LogExpr, Option<Unwrap>), ParseError> {
        let mut pipeline = Vec::new();
        let mut unwrap: Option<Unwrap> = None;
        loop {
            if let Some(op) = LINE_FILTER_OPS
                .iter()
                .find(|(k, _)| k == self.peek())
                .map(|(_, o)| *o)
            {
                if unwrap.is_some() {
                    return Err(ParseError::new(
                        self.offset(),
                        "a line filter cannot follow unwrap",
                    ));
                }
                // `!=` after a metric is an operator; after a log query it
                // must be followed by a string.
                if !matches!(self.peek_at(1), Kind::Str(_)) {
                    if op == LineOp::NotContains {
                        break;
                    }
                    self.next();
                    if self.is_ident("ip") {
                        return Err(ParseError::new(
                            self.offset(),
                            "the ip() line filter is not supported by Periscope's LogQL",
                        ));
                    }
                    return Err(self.unexpected("a quoted string to filter lines by"));
                }
                self.next();
                let at = self.offset();
                let mut values = vec![self.string("a quoted string")?];
                while self.is_ident("or") && matches!(self.peek_at(1), Kind::Str(_)) {
                    self.next();
                    values.push(self.string("a quoted string")?);
                }
                for v in &values {
                    match op {
                        LineOp::Matches | LineOp::NotMatches => {
                            if let Err(e) = regex::Regex::new(v) {
                                return Err(ParseError::new(
                                    at,
                                    format!("invalid regex {v:?}: {e}"),
                                ));
                            }
                        }
                        LineOp::Pattern | LineOp::NotPattern => {
                            crate::pattern::Pattern::parse(v)
                                .map_err(|e| ParseError::new(at, e))?;
                        }
                        _ => {}
                    }
                }
                pipeline.push(Stage::LineFilter(LineFilter { op, values }));
                continue;
            }
            if self.peek() != &Kind::Pipe {
                break;
            }
            self.next();
            let at = self.offset();
            if self.is_ident("unwrap") {
                if !in_range {
                    return Err(ParseError::new(at, "unwrap is only allowed inside a range aggregation such as sum_over_time(…| unwrap x [5m])"));
                }
                if unwrap.is_some() {
                    return Err(ParseError::new(at, "only one unwrap is allowed"));
                }
                self.next();
                unwrap = Some(self.unwrap()?);
                continue;
            }
            if let Some(u) = &mut unwrap {
                // After unwrap only label filters are allowed.
                if matches!(self.peek(), Kind::Ident(_)) && self.stage_keyword().is_some() {
                    return Err(ParseError::new(at, "only label filters may follow unwrap"));
                }
                u.filters.push(self.label_predicate()?);
                continue;
            }
            pipeline.push(self.stage()?);
        }
        Ok((LogExpr { selector, pipeline }, unwrap))
    }

    fn stage_keyword(&self) -> Option<&'static str> {
        const WORDS: [&str; 11] = [
            "json",
            "logfmt",
            "regexp",
            "pattern",
            "unpack",
            "line_format",
            "label_format",
            "drop",
            "keep",
            "decolorize",
            "unwrap",
        ];
        match self.peek() {
            Kind::Ident(w) => WORDS.iter().find(|k| *k == w).copied().filter(|_| {
                // `json="x"` is a label filter on a label named json.
                !matches!(
                    self.peek_at(1),
                    Kind::Eq
                        | Kind::Neq
                        | Kind::Re
                        | Kind::Nre
                        | Kind::EqEq
                        | Kind::Gt
                        | Kind::Gte
                        | Kind::Lt
                        | Kind::Lte
                )
            }),
            _ => None,
        }
    }

    fn stage(&mut self) -> Result<Stage, ParseError> {
        let at = self.offset();
        let Some(word) = self.stage_keyword() else {
            if let Kind::Ident(w) = self.peek() {
                if ["line_format_json", "ip", "distinct", "logfmt_json"].contains(&w.as_str()) {
                    return Err(ParseError::new(
                        at,
                        format!("| {w} is not supported by Periscope's LogQL"),
                    ));
                }
            }
            return Ok(Stage::LabelFilter(self.label_predicate()?));
        };
        self.next();
        Ok(match word {
            "json" => Stage::Parser(Parser::Json(self.extractions()?)),
            "logfmt" => {
                let mut strict = false;
                let mut keep_empty = false;
                while let Kind::Flag(f) = self.peek().clone() {
                    match f.as_str() {
                        "strict" => strict = true,
                        "keep-empty" => keep_empty = true,
                        other => {
                            return Err(ParseError::new(
                                self.offset(),
                                format!(
                                    "logfmt has no flag --{other} (only --strict and --keep-empty)"
                                ),
                            ))
                        }
                    }
                    self.next();
                }
                Stage::Parser(Parser::Logfmt {
                    strict,
                    keep_empty,
                    extractions: self.extractions()?,
                })
            }
            "regexp" => {
                let at = self.offset();
                let re = self.string("a quoted regular expression")?;
                crate::pipeline::check_regexp_parser(&re).map_err(|e| ParseError::new(at, e))?;
                Stage::Parser(Parser::Regexp(re))
            }
            "pattern" => {
                let at = self.offset();
                let p = self.string("a quoted pattern")?;
                let parsed =
                    crate::pattern::Pattern::parse(&p).map_err(|e| ParseError::new(at, e))?;
                if parsed.captures().next().is_none() {
                    return Err(ParseError::new(
                        at,
                        "a pattern parser needs at least one named capture <name>",
                    ));
                }
                Stage::Parser(Parser::Pattern(p))
            }
            "unpack" => Stage::Parser(Parser::Unpack),
            "decolorize" => Stage::Decolorize,
            "line_format" => {
                let at = self.offset();
                let t = self.string("a quoted template")?;
                crate::template::Template::parse(&t).map_err(|e| ParseError::new(at, e))?;
                Stage::LineFormat(t)
            }
            "label_format" => {
                let mut items = Vec::new();
                loop {
                    let dst = self.ident("a label name")?;
                    self.expect(Kind::Eq, "\"=\"")?;
                    let at = self.offset();
                    let value = match self.next() {
                        Kind::Ident(src) => LabelFormatValue::Rename(src),
                        Kind::Str(t) => {
                            crate::template::Template::parse(&t)
                                .map_err(|e| ParseError::new(at, e))?;
                            LabelFormatValue::Template(t)
                        }
                        _ => {
                            self.pos -= 1;
                            return Err(self.unexpected("a label name or a quoted template"));
                        }
                    };
                    items.push(LabelFormat { dst, value });
                    if self.peek() == &Kind::Comma {
                        self.next();
                    } else {
                        break;
                    }
                }
                Stage::LabelFormat(items)
            }
            "drop" | "keep" => {
                let mut items = Vec::new();
                loop {
                    let name = self.ident("a label name")?;
                    if matches!(self.peek(), Kind::Eq | Kind::Neq | Kind::Re | Kind::Nre) {
                        let op = self.match_op()?;
                        let at = self.offset();
                        let value = self.string("a quoted value")?;
                        check_regex(op, &value, at)?;
                        items.push(LabelSelection::Matcher(Matcher { name, op, value }));
                    } else {
                        items.push(LabelSelection::Name(name));
                    }
                    if self.peek() == &Kind::Comma {
                        self.next();
                    } else {
                        break;
                    }
                }
                if word == "drop" {
                    Stage::Drop(items)
                } else {
                    Stage::Keep(items)
                }
            }
            _ => unreachable!("stage keywords are handled above"),
        })
    }

    fn extractions(&mut self) -> Result<Vec<Extraction>, ParseError> {
        let mut out = Vec::new();
        while let Kind::Ident(_) = self.peek() {
            // A following `|`, line filter or operator ends the list.
            let name = self.ident("a label name")?;
            let path = if self.peek() == &Kind::Eq {
                self.next();
                Some(self.string("a quoted path")?)
            } else {
                None
            };
            out.push(Extraction { name, path });
            if self.peek() == &Kind::Comma {
                self.next();
            } else {
                break;
            }
        }
        Ok(out)
    }

    fn unwrap(&mut self) -> Result<Unwrap, ParseError> {
        let name = self.ident("a label name to unwrap")?;
        let (label, conversion) = match name.as_str() {
            "duration" | "duration_seconds" | "bytes" if self.peek() == &Kind::LParen => {
                self.next();
                let label = self.ident("a label name")?;
                self.expect(Kind::RParen, "\")\"")?;
                let c = if name == "bytes" {
                    Conversion::Bytes
                } else {
                    Conversion::Duration
                };
                (label, c)
            }
            _ => (name, Conversion::None),
        };
        Ok(Unwrap {
            label,
            conversion,
            filters: Vec::new(),
        })
    }

    fn label_predicate(&mut self) -> Result<LabelPredicate, ParseError> {
        self.enter()?;
        let mut lhs = self.label_and()?;
        while self.is_ident("or") {
            self.next();
            let rhs = self.label_and()?;
            lhs = LabelPredicate::Or(Box::new(lhs), Box::new(rhs));
        }
        self.leave();
        Ok(lhs)
    }

    fn label_and(&mut self) -> Result<LabelPredicate, ParseError> {
        let mut lhs = self.label_atom()?;
        loop {
            let joined = if self.is_ident("and") || self.peek() == &Kind::Comma {
                self.next();
                true
            } else {
                // `a="b" c="d"`: a space joins as `and`.
                matches!(self.peek(), Kind::Ident(w) if w != "or" && w != "and" && w != "offset" && w != "by" && w != "without")
                    && is_label_op(self.peek_at(1))
            };
            if !joined {
                break;
            }
            let rhs = self.label_atom()?;
            lhs = LabelPredicate::And(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn label_atom(&mut self) -> Result<LabelPredicate, ParseError> {
        if self.peek() == &Kind::LParen {
            self.next();
            let inner = self.label_predicate()?;
            self.expect(Kind::RParen, "\")\"")?;
            return Ok(inner);
        }
        let name = self.ident(
            "a label filter such as level=\"error\", a parser (json, logfmt, …) or a formatter",
        )?;
        let at = self.offset();
        let op = self.next();
        let compare = match op {
            Kind::Eq | Kind::Neq | Kind::Re | Kind::Nre if matches!(self.peek(), Kind::Str(_)) => {
                let op = match op {
                    Kind::Eq => MatchOp::Eq,
                    Kind::Neq => MatchOp::Ne,
                    Kind::Re => MatchOp::Re,
                    _ => MatchOp::Nre,
                };
                let at = self.offset();
                let value = self.string("a quoted value")?;
                check_regex(op, &value, at)?;
                return Ok(LabelPredicate::Matcher(Matcher { name, op, value }));
            }
            Kind::EqEq if matches!(self.peek(), Kind::Str(_)) => {
                let value = self.string("a quoted value")?;
                return Ok(LabelPredicate::Matcher(Matcher {
                    name,
                    op: MatchOp::Eq,
                    value,
                }));
            }
            Kind::Eq | Kind::EqEq => CompareOp::Eq,
            Kind::Neq => CompareOp::Ne,
            Kind::Gt => CompareOp::Gt,
            Kind::Gte => CompareOp::Gte,
            Kind::Lt => CompareOp::Lt,
            Kind::Lte => CompareOp::Lte,
            _ => {
                return Err(ParseError::new(
                    at,
                    format!(
                        "expected a comparison after label {name:?} (=, !=, =~, !~, >, >=, <, <=)"
                    ),
                ))
            }
        };
        if self.is_ident("ip") {
            return Err(ParseError::new(
                self.offset(),
                "the ip() label filter is not supported by Periscope's LogQL",
            ));
        }
        let negative = if self.peek() == &Kind::Sub {
            self.next();
            true
        } else {
            false
        };
        let value = match self.next() {
            Kind::Number(n) => Literal::Number(if negative { -n } else { n }),
            Kind::Duration(d) => Literal::Duration(if negative { -d } else { d }),
            Kind::Bytes(b) if !negative => Literal::Bytes(b),
            _ => {
                self.pos -= 1;
                return Err(self.unexpected("a number, a duration or a byte size"));
            }
        };
        Ok(LabelPredicate::Compare {
            name,
            op: compare,
            value,
        })
    }
}

fn is_line_filter(kind: &Kind) -> bool {
    LINE_FILTER_OPS.iter().any(|(k, _)| k == kind)
}

fn is_label_op(kind: &Kind) -> bool {
    matches!(
        kind,
        Kind::Eq
            | Kind::Neq
            | Kind::Re
            | Kind::Nre
            | Kind::EqEq
            | Kind::Gt
            | Kind::Gte
            | Kind::Lt
            | Kind::Lte
    )
}

fn check_regex(op: MatchOp, value: &str, at: usize) -> Result<(), ParseError> {
    if matches!(op, MatchOp::Re | MatchOp::Nre) {
        if let Err(e) = regex::Regex::new(&format!("^(?:{value})$")) {
            return Err(ParseError::new(at, format!("invalid regex {value:?}: {e}")));
        }
    }
    Ok(())
}

/// PromQL's rules for operands: set operators need vectors on both sides,
/// comparisons of two scalars need `bool`.
fn check_operands(
    op: BinaryOp,
    modifier: &BinaryModifier,
    lhs: &MetricExpr,
    rhs: &MetricExpr,
    at: usize,
) -> Result<(), ParseError> {
    let scalar = |e: &MetricExpr| is_scalar(e);
    if op.is_set() && (scalar(lhs) || scalar(rhs)) {
        return Err(ParseError::new(
            at,
            format!(
                "operator {:?} is not allowed between a scalar and a vector",
                op.symbol()
            ),
        ));
    }
    if op.is_comparison() && scalar(lhs) && scalar(rhs) && !modifier.return_bool {
        return Err(ParseError::new(
            at,
            "comparisons between scalars must use bool",
        ));
    }
    if (modifier.matching.is_some() || modifier.group.is_some()) && (scalar(lhs) || scalar(rhs)) {
        return Err(ParseError::new(
            at,
            "vector matching (on, ignoring, group_left, group_right) needs vectors on both sides",
        ));
    }
    Ok(())
}

/// Whether an expression is a scalar (a number, or numbers combined).
pub(crate) fn is_scalar(e: &MetricExpr) -> bool {
    match e {
        MetricExpr::Literal(_) => true,
        MetricExpr::Paren(inner) => is_scalar(inner),
        MetricExpr::Binary(b) => is_scalar(&b.lhs) && is_scalar(&b.rhs),
        _ => false,
    }
}
