//! Label and field selectors, parsed, printed and matched as upstream does
//! (`k8s.io/apimachinery/pkg/labels`, `pkg/fields`), with upstream's error messages.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

use k8s_openapi::apimachinery::pkg::apis::meta::v1 as metav1;
use serde_json::{Map, Value};

use crate::validation;

/// A selector that could not be parsed or built. The message is upstream's, ready to go
/// into a `400 BadRequest`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);

// ---------------------------------------------------------------------------------------
// Operator
// ---------------------------------------------------------------------------------------

/// How a requirement relates a label key (or a field) to its values: upstream's
/// `selection.Operator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    DoesNotExist,
    Equals,
    DoubleEquals,
    In,
    NotEquals,
    NotIn,
    Exists,
    GreaterThan,
    LessThan,
}

impl Operator {
    /// Upstream's spelling of the operator (`selection.Operator`'s string value).
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::DoesNotExist => "!",
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::In => "in",
            Operator::NotEquals => "!=",
            Operator::NotIn => "notin",
            Operator::Exists => "exists",
            Operator::GreaterThan => "gt",
            Operator::LessThan => "lt",
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The operators that take values, in upstream's order: the parser lists them in its
/// "expected: ..." message.
const BINARY_OPERATORS: [Operator; 7] = [
    Operator::In,
    Operator::NotIn,
    Operator::Equals,
    Operator::DoubleEquals,
    Operator::NotEquals,
    Operator::GreaterThan,
    Operator::LessThan,
];

// ---------------------------------------------------------------------------------------
// Label requirements
// ---------------------------------------------------------------------------------------

/// One term of a label selector: a key, an operator and the values it relates them to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    operator: Operator,
    /// Kept in the order given; for parsed selectors that is sorted and deduplicated.
    values: Vec<String>,
}

/// How an empty values list is shown in an error. Upstream marshals the Go slice it was
/// given to JSON, so a nil slice (what `LabelSelectorAsSelector` passes) reads `null` and
/// an empty one `[]`.
#[derive(Debug, Clone, Copy)]
enum EmptyValues {
    Null,
    Array,
}

impl Requirement {
    /// Build and validate a requirement, as upstream's `NewRequirement`: the key must be a
    /// qualified name, every value a valid label value, and the number of values must
    /// suit the operator (`gt`/`lt` take one integer).
    pub fn new(key: &str, operator: Operator, values: Vec<String>) -> Result<Self, SelectorError> {
        new_requirement(key, operator, values, EmptyValues::Array)
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn operator(&self) -> Operator {
        self.operator
    }

    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether the requirement holds for a label set in which its key has `value`
    /// (`None`: the key is absent). `!=` and `notin` hold when the key is absent.
    pub fn matches_value(&self, value: Option<&str>) -> bool {
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                value.is_some_and(|v| self.has_value(v))
            }
            Operator::NotIn | Operator::NotEquals => value.is_none_or(|v| !self.has_value(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                // A label that is not an integer never matches, rather than failing the list.
                let Some(have) = value.and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                let [want] = self.values.as_slice() else {
                    return false;
                };
                let Ok(want) = want.parse::<i64>() else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }

    fn has_value(&self, value: &str) -> bool {
        self.values.iter().any(|v| v == value)
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let (op, parens) = match self.operator {
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
            Operator::Equals => ("=", false),
            Operator::DoubleEquals => ("==", false),
            Operator::NotEquals => ("!=", false),
            Operator::GreaterThan => (">", false),
            Operator::LessThan => ("<", false),
            Operator::In => (" in ", true),
            Operator::NotIn => (" notin ", true),
        };
        f.write_str(op)?;
        if parens {
            f.write_str("(")?;
        }
        // Values print sorted, so the same selector always prints the same way whatever
        // order a structured selector listed them in.
        let mut values: Vec<&str> = self.values.iter().map(String::as_str).collect();
        values.sort_unstable();
        f.write_str(&values.join(","))?;
        if parens {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// Upstream's `NewRequirement` with no field path: each problem becomes one field error,
/// and they are reported together as an aggregate.
fn new_requirement(
    key: &str,
    operator: Operator,
    values: Vec<String>,
    empty: EmptyValues,
) -> Result<Requirement, SelectorError> {
    let mut errs = Vec::new();
    if let Some(err) = validate_label_key(key, "key") {
        errs.push(err);
    }
    match operator {
        Operator::In | Operator::NotIn if values.is_empty() => errs.push(invalid(
            "values",
            &go_json_list(&values, empty),
            "for 'in', 'notin' operators, values set can't be empty",
        )),
        Operator::Equals | Operator::DoubleEquals | Operator::NotEquals if values.len() != 1 => {
            errs.push(invalid(
                "values",
                &go_json_list(&values, empty),
                "exact-match compatibility requires one single value",
            ));
        }
        Operator::Exists | Operator::DoesNotExist if !values.is_empty() => errs.push(invalid(
            "values",
            &go_json_list(&values, empty),
            "values set must be empty for exists and does not exist",
        )),
        Operator::GreaterThan | Operator::LessThan => {
            if values.len() != 1 {
                errs.push(invalid(
                    "values",
                    &go_json_list(&values, empty),
                    "for 'Gt', 'Lt' operators, exactly one value is required",
                ));
            }
            for (i, value) in values.iter().enumerate() {
                if value.parse::<i64>().is_err() {
                    errs.push(invalid(
                        &format!("values[{i}]"),
                        &go_quote(value),
                        "for 'Gt', 'Lt' operators, the value must be an integer",
                    ));
                }
            }
        }
        _ => {}
    }
    for (i, value) in values.iter().enumerate() {
        let msgs = validation::is_label_value(value);
        if !msgs.is_empty() {
            errs.push(invalid(
                &format!("values[{i}][{key}]"),
                &go_quote(value),
                &msgs.join("; "),
            ));
        }
    }
    if errs.is_empty() {
        Ok(Requirement {
            key: key.to_string(),
            operator,
            values,
        })
    } else {
        Err(SelectorError(aggregate(errs)))
    }
}

// ---------------------------------------------------------------------------------------
// LabelSelector
// ---------------------------------------------------------------------------------------

/// A parsed label selector: the AND of its requirements, kept sorted by key.
///
/// `Default` is the selector that matches everything. A selector built from a missing
/// structured selector ([`LabelSelector::nothing`]) matches nothing, as upstream's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    /// Upstream's `labels.Nothing()`: what a nil `metav1.LabelSelector` means.
    nothing: bool,
}

impl LabelSelector {
    /// Parse the string form (`?labelSelector=`), as upstream's `labels.Parse`; `""`
    /// selects everything.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut requirements = Parser::new(s).parse().map_err(SelectorError)?;
        // Sorted so that equal selectors print and compare equal whatever the input order.
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector {
            requirements,
            nothing: false,
        })
    }

    /// The selector that matches every object.
    pub fn everything() -> Self {
        Self::default()
    }

    /// The selector that matches no object (upstream's `labels.Nothing()`).
    pub fn nothing() -> Self {
        LabelSelector {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// True when the selector does not restrict anything (upstream's `Empty()`); false
    /// for [`LabelSelector::nothing`].
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// True for [`LabelSelector::nothing`].
    pub fn is_nothing(&self) -> bool {
        self.nothing
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether an object with these labels (the JSON object at `metadata.labels`; `None`
    /// for no labels) is selected.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        self.matches_with(|key| {
            // A label whose value is not a string (not valid in an object) reads as "",
            // as a JSON null would upstream.
            labels
                .and_then(|m| m.get(key))
                .map(|v| v.as_str().unwrap_or(""))
        })
    }

    /// [`LabelSelector::matches`] for labels held as a typed map (`ObjectMeta.labels`).
    pub fn matches_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_with(|key| labels.get(key).map(String::as_str))
    }

    /// [`LabelSelector::matches`] for any label source: `lookup(key)` gives the label's
    /// value, `None` when the object lacks it.
    pub fn matches_with<'a>(&self, lookup: impl Fn(&str) -> Option<&'a str>) -> bool {
        !self.nothing
            && self
                .requirements
                .iter()
                .all(|r| r.matches_value(lookup(&r.key)))
    }

    /// If the selector pins `key` to one value (`key=v`, `key==v` or `key in (v)`),
    /// that value, as upstream's `RequiresExactMatch`: only the first requirement on
    /// `key` is considered.
    pub fn required_value(&self, key: &str) -> Option<&str> {
        let r = self.requirements.iter().find(|r| r.key == key)?;
        match (r.operator, r.values.as_slice()) {
            (Operator::Equals | Operator::DoubleEquals | Operator::In, [value]) => Some(value),
            _ => None,
        }
    }

    /// From the structured `meta/v1 LabelSelector` (matchLabels and matchExpressions with
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`), as upstream's
    /// `metav1.LabelSelectorAsSelector`. An empty selector matches everything; for a
    /// missing (nil) one, which matches nothing, use [`LabelSelector::from_structured_opt`].
    pub fn from_structured(sel: &metav1::LabelSelector) -> Result<Self, SelectorError> {
        let labels = sel.match_labels.as_ref();
        let expressions = sel.match_expressions.as_deref().unwrap_or_default();
        if labels.map_or(0, BTreeMap::len) + expressions.len() == 0 {
            return Ok(Self::everything());
        }
        let mut requirements =
            Vec::with_capacity(labels.map_or(0, BTreeMap::len) + expressions.len());
        for (key, value) in labels.into_iter().flatten() {
            requirements.push(new_requirement(
                key,
                Operator::Equals,
                vec![value.clone()],
                EmptyValues::Null,
            )?);
        }
        for expr in expressions {
            let operator = match expr.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => {
                    return Err(SelectorError(format!(
                        "{} is not a valid label selector operator",
                        go_quote(other)
                    )));
                }
            };
            let values = expr.values.clone().unwrap_or_default();
            requirements.push(new_requirement(
                &expr.key,
                operator,
                values,
                EmptyValues::Null,
            )?);
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector {
            requirements,
            nothing: false,
        })
    }

    /// [`LabelSelector::from_structured`] for an optional selector: `None` (a nil
    /// selector upstream) matches nothing.
    pub fn from_structured_opt(sel: Option<&metav1::LabelSelector>) -> Result<Self, SelectorError> {
        match sel {
            Some(sel) => Self::from_structured(sel),
            None => Ok(Self::nothing()),
        }
    }
}

impl fmt::Display for LabelSelector {
    /// Upstream's `String()`: requirements joined by `,`; `""` for everything and nothing.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Label selector lexer and parser
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// Kept for fidelity with upstream's lexer; every special symbol on its own is a
    /// token, so the lexer never actually produces it.
    Error,
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

/// The token a literal stands for, when it is one (upstream's `string2token`).
fn literal_token(s: &str) -> Option<Token> {
    Some(match s {
        ")" => Token::ClosedPar,
        "," => Token::Comma,
        "!" => Token::DoesNotExist,
        "==" => Token::DoubleEquals,
        "=" => Token::Equals,
        ">" => Token::GreaterThan,
        "in" => Token::In,
        "<" => Token::LessThan,
        "!=" => Token::NotEquals,
        "notin" => Token::NotIn,
        "(" => Token::OpenPar,
        _ => return None,
    })
}

/// Only these four separate tokens; any other byte (`\v`, non-ASCII, ...) belongs to an
/// identifier and is left for validation to reject.
fn is_whitespace(ch: u8) -> bool {
    matches!(ch, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special_symbol(ch: u8) -> bool {
    matches!(ch, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Upstream's byte-wise lexer. A NUL byte reads like the end of the input to the token
/// being scanned (upstream uses 0 as its end marker), and is then skipped; we keep that,
/// so that `a\0b` and `\0a` select what they select upstream.
struct Lexer<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn read(&mut self) -> u8 {
        match self.s.as_bytes().get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                b
            }
            None => 0,
        }
    }

    fn unread(&mut self) {
        self.pos = self.pos.saturating_sub(1);
    }

    /// `s[start..end]`; token boundaries are always ASCII bytes, so the slice is
    /// always on character boundaries.
    fn slice(&self, start: usize, end: usize) -> &'a str {
        self.s.get(start..end).unwrap_or_default()
    }

    fn lex(&mut self) -> (Token, String) {
        let mut ch = self.read();
        while is_whitespace(ch) {
            ch = self.read();
        }
        if ch == 0 {
            return (Token::EndOfString, String::new());
        }
        self.unread();
        if is_special_symbol(ch) {
            self.scan_special_symbol()
        } else {
            self.scan_id_or_keyword()
        }
    }

    fn scan_id_or_keyword(&mut self) -> (Token, String) {
        let start = self.pos;
        let end = loop {
            let before = self.pos;
            let ch = self.read();
            if ch == 0 {
                break before;
            }
            if is_special_symbol(ch) || is_whitespace(ch) {
                self.unread();
                break before;
            }
        };
        let lit = self.slice(start, end);
        (
            literal_token(lit).unwrap_or(Token::Identifier),
            lit.to_string(),
        )
    }

    /// The longest operator at this point: `!=` and `==` win over `!` and `=`, but
    /// `!==` is `!=` then `=`.
    fn scan_special_symbol(&mut self) -> (Token, String) {
        let start = self.pos;
        let mut last: Option<(Token, usize)> = None;
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if !is_special_symbol(ch) {
                self.unread();
                break;
            }
            match literal_token(self.slice(start, self.pos)) {
                Some(tok) => last = Some((tok, self.pos)),
                None if last.is_some() => {
                    self.unread();
                    break;
                }
                None => {}
            }
        }
        match last {
            Some((tok, end)) => (tok, self.slice(start, end).to_string()),
            None => (
                Token::Error,
                format!(
                    "error expected: keyword found '{}'",
                    self.slice(start, self.pos)
                ),
            ),
        }
    }
}

/// Where the parser is: `in` and `notin` are operators after a key, but plain values
/// (or keys) anywhere else, as in `in in (in)`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

/// Upstream's recursive-descent parser over the whole token list, scanned up front.
struct Parser {
    items: Vec<(Token, String)>,
    position: usize,
}

impl Parser {
    fn new(s: &str) -> Self {
        let mut lexer = Lexer { s, pos: 0 };
        let mut items = Vec::new();
        loop {
            let item = lexer.lex();
            let end = item.0 == Token::EndOfString;
            items.push(item);
            if end {
                break;
            }
        }
        Parser { items, position: 0 }
    }

    fn lookahead(&self, context: Context) -> (Token, String) {
        let (tok, lit) = self
            .items
            .get(self.position)
            .cloned()
            .unwrap_or((Token::EndOfString, String::new()));
        match (context, tok) {
            (Context::Values, Token::In | Token::NotIn) => (Token::Identifier, lit),
            _ => (tok, lit),
        }
    }

    fn consume(&mut self, context: Context) -> (Token, String) {
        let item = self.lookahead(context);
        self.position += 1;
        item
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut requirements = Vec::new();
        loop {
            let (tok, lit) = self.lookahead(Context::Values);
            match tok {
                Token::Identifier | Token::DoesNotExist => {
                    let r = self
                        .parse_requirement()
                        .map_err(|err| format!("unable to parse requirement: {err}"))?;
                    requirements.push(r);
                    let (tok, lit) = self.consume(Context::Values);
                    match tok {
                        Token::EndOfString => return Ok(requirements),
                        Token::Comma => {
                            let (tok, lit) = self.lookahead(Context::Values);
                            if tok != Token::Identifier && tok != Token::DoesNotExist {
                                return Err(format!(
                                    "found '{lit}', expected: identifier after ','"
                                ));
                            }
                        }
                        _ => {
                            return Err(format!("found '{lit}', expected: ',' or 'end of string'"));
                        }
                    }
                }
                Token::EndOfString => return Ok(requirements),
                _ => {
                    return Err(format!(
                        "found '{lit}', expected: !, identifier, or 'end of string'"
                    ));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, String> {
        let (key, operator) = self.parse_key_and_infer_operator()?;
        if let Some(op @ (Operator::Exists | Operator::DoesNotExist)) = operator {
            return new_requirement(&key, op, Vec::new(), EmptyValues::Array).map_err(|e| e.0);
        }
        let operator = self.parse_operator()?;
        let values = match operator {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        new_requirement(
            &key,
            operator,
            values.into_iter().collect(),
            EmptyValues::Array,
        )
        .map_err(|e| e.0)
    }

    /// The key, with `!` before it meaning does-not-exist and a key alone meaning exists;
    /// `None` when an operator follows.
    fn parse_key_and_infer_operator(&mut self) -> Result<(String, Option<Operator>), String> {
        let mut operator = None;
        let (mut tok, mut lit) = self.consume(Context::Values);
        if tok == Token::DoesNotExist {
            operator = Some(Operator::DoesNotExist);
            (tok, lit) = self.consume(Context::Values);
        }
        if tok != Token::Identifier {
            return Err(format!("found '{lit}', expected: identifier"));
        }
        // Upstream validates the key with a nil field path, which prints as "<nil>".
        if let Some(err) = validate_label_key(&lit, "<nil>") {
            return Err(err);
        }
        let (next, _) = self.lookahead(Context::Values);
        if matches!(next, Token::EndOfString | Token::Comma) && operator.is_none() {
            operator = Some(Operator::Exists);
        }
        Ok((lit, operator))
    }

    fn parse_operator(&mut self) -> Result<Operator, String> {
        let (tok, lit) = self.consume(Context::KeyAndOperator);
        Ok(match tok {
            Token::In => Operator::In,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::NotIn => Operator::NotIn,
            Token::NotEquals => Operator::NotEquals,
            _ => {
                let expected: Vec<&str> = BINARY_OPERATORS.iter().map(|op| op.as_str()).collect();
                return Err(format!("found '{lit}', expected: {}", expected.join(", ")));
            }
        })
    }

    /// `(a,b,...)`. Empty entries are the empty value: `()` is `{""}`, `(a,)` is `{"a",""}`.
    fn parse_values(&mut self) -> Result<BTreeSet<String>, String> {
        let (tok, lit) = self.consume(Context::Values);
        if tok != Token::OpenPar {
            // Upstream's message lacks the comma the others have.
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (tok, lit) = self.lookahead(Context::Values);
        match tok {
            Token::Identifier | Token::Comma => {
                let values = self.parse_identifiers_list()?;
                let (tok, _) = self.consume(Context::Values);
                if tok != Token::ClosedPar {
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                Ok(values)
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                Ok(BTreeSet::from([String::new()]))
            }
            _ => Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        }
    }

    /// The inside of `(...)`, up to (not including) the `)`.
    fn parse_identifiers_list(&mut self) -> Result<BTreeSet<String>, String> {
        let mut values = BTreeSet::new();
        loop {
            let (tok, lit) = self.consume(Context::Values);
            match tok {
                Token::Identifier => {
                    values.insert(lit);
                    let (next, next_lit) = self.lookahead(Context::Values);
                    match next {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(values),
                        _ => return Err(format!("found '{next_lit}', expected: ',' or ')'")),
                    }
                }
                Token::Comma => {
                    // A comma first, before `)` or before another comma stands for an
                    // empty value.
                    if values.is_empty() {
                        values.insert(String::new());
                    }
                    let (next, _) = self.lookahead(Context::Values);
                    if next == Token::ClosedPar {
                        values.insert(String::new());
                        return Ok(values);
                    }
                    if next == Token::Comma {
                        // Left for the next round, which sees it as the comma case again.
                        values.insert(String::new());
                    }
                }
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
    }

    /// The one value after `=`, `==`, `!=`, `>` or `<`; nothing there is the empty value.
    fn parse_exact_value(&mut self) -> Result<BTreeSet<String>, String> {
        let (tok, _) = self.lookahead(Context::Values);
        if matches!(tok, Token::EndOfString | Token::Comma) {
            return Ok(BTreeSet::from([String::new()]));
        }
        let (tok, lit) = self.consume(Context::Values);
        if tok == Token::Identifier {
            Ok(BTreeSet::from([lit]))
        } else {
            Err(format!("found '{lit}', expected: identifier"))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Label key and value validation (upstream's validation.IsQualifiedName, IsValidLabelValue)
// ---------------------------------------------------------------------------------------

/// `None` when `key` is a valid qualified name; otherwise upstream's field error for it,
/// at field path `path`.
fn validate_label_key(key: &str, path: &str) -> Option<String> {
    let msgs = validation::is_qualified_name(key);
    (!msgs.is_empty()).then(|| invalid(path, &go_quote(key), &msgs.join("; ")))
}

// ---------------------------------------------------------------------------------------
// Upstream's error rendering (field.Error, aggregates, Go quoting)
// ---------------------------------------------------------------------------------------

/// A `field.Invalid` error's text; `value` is already rendered as upstream renders it.
fn invalid(path: &str, value: &str, detail: &str) -> String {
    format!("{path}: Invalid value: {value}: {detail}")
}

/// Upstream's aggregate of errors: repeats dropped, one error alone, several in `[a, b]`.
fn aggregate(errs: Vec<String>) -> String {
    let mut unique: Vec<String> = Vec::with_capacity(errs.len());
    for err in errs {
        if !unique.contains(&err) {
            unique.push(err);
        }
    }
    if unique.len() == 1 {
        unique.pop().unwrap_or_default()
    } else {
        format!("[{}]", unique.join(", "))
    }
}

/// Go's `strconv.Quote` (`%q`): printable characters as they are, the rest escaped.
/// Go's notion of printable is approximated by excluding control, space-like and
/// invisible formatting characters.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

fn is_go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c,
            '\u{ad}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{feff}'
            | '\u{e000}'..='\u{f8ff}'))
}

/// A list of strings as Go's `json.Marshal` writes it (what upstream shows for a bad
/// values list).
fn go_json_list(values: &[String], empty: EmptyValues) -> String {
    if values.is_empty() {
        return match empty {
            EmptyValues::Null => "null".to_string(),
            EmptyValues::Array => "[]".to_string(),
        };
    }
    let items: Vec<String> = values.iter().map(|v| go_json_string(v)).collect();
    format!("[{}]", items.join(","))
}

/// A string as Go's `json.Marshal` writes it: HTML-sensitive characters and the JS line
/// separators escaped too.
fn go_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------------
// FieldSelector
// ---------------------------------------------------------------------------------------

/// One term of a field selector: `field=value` (also written `==`) or `field!=value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    field: String,
    /// [`Operator::Equals`] or [`Operator::NotEquals`]; upstream folds `==` into `=`.
    operator: Operator,
    value: String,
}

impl FieldRequirement {
    pub fn field(&self) -> &str {
        &self.field
    }

    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The value, unescaped.
    pub fn value(&self) -> &str {
        &self.value
    }

    fn matches(&self, actual: &str) -> bool {
        match self.operator {
            Operator::NotEquals => actual != self.value,
            _ => actual == self.value,
        }
    }
}

impl fmt::Display for FieldRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = if self.operator == Operator::NotEquals {
            "!="
        } else {
            "="
        };
        write!(f, "{}{op}{}", self.field, escape_field_value(&self.value))
    }
}

/// A parsed field selector: the AND of its terms, in upstream's order (sorted by the
/// terms' text).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parse the string form (`?fieldSelector=`), as upstream's `fields.ParseSelector`:
    /// comma-separated `f=v`, `f==v`, `f!=v`; in values `\\`, `\,` and `\=` stand for
    /// `\`, `,` and `=` (the field name takes no escapes). `""` selects everything.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut terms = split_terms(s);
        // Sorted, as upstream does, so equal selectors print alike; this also decides
        // which bad term is reported first.
        terms.sort_unstable();
        let mut requirements = Vec::new();
        for term in terms.into_iter().filter(|t| !t.is_empty()) {
            let Some((field, op, raw_value)) = split_term(term) else {
                return Err(SelectorError(format!(
                    "invalid selector: '{s}'; can't understand '{term}'"
                )));
            };
            let value = unescape_field_value(raw_value)?;
            // Upstream drops a term whose field and value are both empty (`=`, `!=`):
            // its transform step turns such a term into "everything".
            if field.is_empty() && value.is_empty() {
                continue;
            }
            let operator = if op == "!=" {
                Operator::NotEquals
            } else {
                Operator::Equals
            };
            requirements.push(FieldRequirement {
                field: field.to_string(),
                operator,
                value,
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// The selector that matches every object.
    pub fn everything() -> Self {
        Self::default()
    }

    /// True when the selector does not restrict anything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The terms, in upstream's order.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// The field paths the selector uses (repeats included), so callers can reject
    /// fields the resource does not support.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.requirements.iter().map(|r| r.field.as_str())
    }

    /// Whether an object is selected; `value_of(field)` gives the object's value for a
    /// field path, `""` when it has none (as upstream's field sets do).
    pub fn matches<S: AsRef<str>>(&self, value_of: impl Fn(&str) -> S) -> bool {
        self.requirements
            .iter()
            .all(|r| r.matches(value_of(&r.field).as_ref()))
    }

    /// If the selector requires `field` to equal one value (`metadata.name=foo`), that
    /// value: the first such term, as upstream's `RequiresExactMatch`.
    pub fn required_value(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator == Operator::Equals)
            .map(|r| r.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    /// Upstream's `String()`: terms joined by `,`, values escaped again.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// The comma-separated terms; an escaped comma (`\,`) stays inside its term, backslash
/// and all.
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(s.get(start..i).unwrap_or_default());
            start = i + 1;
        }
    }
    terms.push(s.get(start..).unwrap_or_default());
    terms
}

/// Split a term at its first operator. Field names take no escapes, so the first `!=`,
/// `==` or `=` (tried in that order, so `==` leaves no `=` on the value) is the split.
fn split_term(term: &str) -> Option<(&str, &'static str, &str)> {
    for (i, _) in term.char_indices() {
        let rest = term.get(i..).unwrap_or_default();
        for op in ["!=", "==", "="] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((term.get(..i).unwrap_or_default(), op, value));
            }
        }
    }
    None
}

/// Upstream's `EscapeValue`.
fn escape_field_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Upstream's `UnescapeValue`: only `\\`, `\,` and `\=` are escapes, and `,` or `=`
/// unescaped is an error.
fn unescape_field_value(s: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(SelectorError(format!(
                    "invalid field selector: invalid escape sequence: \\{c}"
                )));
            }
            out.push(c);
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            // Upstream prints the rune with %v, i.e. as its code point number.
            ',' | '=' => {
                return Err(SelectorError(format!(
                    "invalid field selector: unescaped character in value: {}",
                    c as u32
                )));
            }
            c => out.push(c),
        }
    }
    if in_slash {
        return Err(SelectorError(
            "invalid field selector: invalid escape sequence: \\".to_string(),
        ));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// (selector, labels or fields, whether it matches)
    type MatchCase = (&'static str, &'static [(&'static str, &'static str)], bool);

    fn labels(pairs: &[(&str, &str)]) -> Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect()
    }

    fn parse_err(s: &str) -> String {
        match LabelSelector::parse(s) {
            Ok(sel) => panic!("{s:?}: expected an error, parsed as {sel}"),
            Err(e) => e.0,
        }
    }

    const KEY_REGEX_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    const VALUE_REGEX_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
    const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    const BINARY_OPS: &str = "in, notin, =, ==, !=, gt, lt";

    // --- lexer (upstream's TestLexer, TestLexerSequence) ---

    fn tokens(s: &str) -> Vec<Token> {
        let mut lexer = Lexer { s, pos: 0 };
        let mut out = Vec::new();
        loop {
            let (tok, _) = lexer.lex();
            if tok == Token::EndOfString {
                return out;
            }
            out.push(tok);
        }
    }

    #[test]
    fn lexer_single_tokens() {
        use Token::*;
        let cases = [
            ("", EndOfString),
            (",", Comma),
            ("notin", NotIn),
            ("in", In),
            ("=", Equals),
            ("==", DoubleEquals),
            (">", GreaterThan),
            ("<", LessThan),
            ("!", DoesNotExist),
            ("!=", NotEquals),
            ("(", OpenPar),
            (")", ClosedPar),
            ("~", Identifier),
            ("||", Identifier),
        ];
        for (s, want) in cases {
            let (tok, lit) = Lexer { s, pos: 0 }.lex();
            assert_eq!(tok, want, "{s:?}");
            assert_eq!(lit, s, "{s:?}");
        }
    }

    #[test]
    fn lexer_sequences() {
        use Token::*;
        let cases: &[(&str, &[Token])] = &[
            (
                "key in ( value )",
                &[Identifier, In, OpenPar, Identifier, ClosedPar],
            ),
            (
                "key notin ( value )",
                &[Identifier, NotIn, OpenPar, Identifier, ClosedPar],
            ),
            (
                "key in ( value1, value2 )",
                &[
                    Identifier, In, OpenPar, Identifier, Comma, Identifier, ClosedPar,
                ],
            ),
            ("key", &[Identifier]),
            ("!key", &[DoesNotExist, Identifier]),
            ("()", &[OpenPar, ClosedPar]),
            (
                "x in (),y",
                &[Identifier, In, OpenPar, ClosedPar, Comma, Identifier],
            ),
            (
                "== != (), = notin",
                &[
                    DoubleEquals,
                    NotEquals,
                    OpenPar,
                    ClosedPar,
                    Comma,
                    Equals,
                    NotIn,
                ],
            ),
            ("key>2", &[Identifier, GreaterThan, Identifier]),
            ("key<1", &[Identifier, LessThan, Identifier]),
            // Longest operator first, but no further than a known one.
            ("!==", &[NotEquals, Equals]),
            ("!!x", &[DoesNotExist, DoesNotExist, Identifier]),
            ("=<", &[Equals, LessThan]),
        ];
        for (s, want) in cases {
            assert_eq!(tokens(s), *want, "{s:?}");
        }
    }

    // --- parsing and printing (upstream's TestSelectorParse, TestSetSelectorParser) ---

    #[test]
    fn parse_restring_upstream_good_strings() {
        for s in [
            "x=a,y=b,z=c",
            "",
            "x!=a,y=b",
            "x=",
            "x= ",
            "x=,z= ",
            "x= ,z= ",
            "!x",
            "x>1",
            "x>1,z<5",
        ] {
            let sel = LabelSelector::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
            assert_eq!(sel.to_string(), s.replace(' ', ""), "{s:?}");
        }
    }

    #[test]
    fn parse_to_canonical_string() {
        let cases = [
            ("", ""),
            ("\rx", "x"),
            (
                "this-is-a-dns.domain.com/key-with-dash",
                "this-is-a-dns.domain.com/key-with-dash",
            ),
            (
                "this-is-another-dns.domain.com/key-with-dash in (so,what)",
                "this-is-another-dns.domain.com/key-with-dash in (so,what)",
            ),
            (
                "0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
                "0.1.2.domain/99 notin (10.10.100.1,tick.tack.clock)",
            ),
            ("foo  in\t (abc)", "foo in (abc)"),
            ("x notin\n (abc)", "x notin (abc)"),
            ("x  notin\t\t\t(abc,def)", "x notin (abc,def)"),
            ("x in (abc,def)", "x in (abc,def)"),
            ("x in (def,abc)", "x in (abc,def)"),
            ("x in (abc,)", "x in (,abc)"),
            ("x in (abc,abc)", "x in (abc)"),
            ("x in ()", "x in ()"),
            ("x in (a,,)", "x in (,a)"),
            ("x in (a,,,)", "x in (,a)"),
            ("x in (a,,,,,,)", "x in (,a)"),
            ("x in (a,,a,,a,,a,,)", "x in (,a)"),
            (
                "x notin (abc,,def),bar,z in (),w",
                "bar,w,x notin (,abc,def),z in ()",
            ),
            ("x,y in (a)", "x,y in (a)"),
            ("y in (a),x", "x,y in (a)"),
            ("x=a", "x=a"),
            ("x==a", "x==a"),
            ("x>1", "x>1"),
            ("x<7", "x<7"),
            ("x=a,y!=b", "x=a,y!=b"),
            ("x=a,y!=b,z in (h,i,j)", "x=a,y!=b,z in (h,i,j)"),
            ("x notin ( )", "x notin ()"),
            ("x notin (, a)", "x notin (,a)"),
            ("a ", "a"),
            ("a in (x,y,notin, z,in)", "a in (in,notin,x,y,z)"),
            // `in` and `notin` are keys and values outside operator position.
            ("notin=in", "notin=in"),
            ("in in (in)", "in in (in)"),
            ("!in", "!in"),
            // Deterministic: the same requirements in any order print the same.
            ("x=a,a=x", "a=x,x=a"),
            ("a=x,x=a", "a=x,x=a"),
            // Upstream reads a NUL byte as the end of the token being scanned.
            ("\0a", ""),
            ("a=\0b", "a=b"),
        ];
        for (input, want) in cases {
            let sel = LabelSelector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(sel.to_string(), want, "{input:?}");
        }
    }

    #[test]
    fn parse_requirements_structure() {
        let sel = LabelSelector::parse("x notin (abc,,def),bar,z in (),w,!v,k>3").expect("parses");
        let got: Vec<(&str, Operator, Vec<&str>)> = sel
            .requirements()
            .iter()
            .map(|r| {
                (
                    r.key(),
                    r.operator(),
                    r.values().iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("bar", Operator::Exists, vec![]),
                ("k", Operator::GreaterThan, vec!["3"]),
                ("v", Operator::DoesNotExist, vec![]),
                ("w", Operator::Exists, vec![]),
                ("x", Operator::NotIn, vec!["", "abc", "def"]),
                ("z", Operator::In, vec![""]),
            ]
        );
    }

    #[test]
    fn parse_errors_match_upstream() {
        let long_name = "a".repeat(64);
        let long_value = "b".repeat(64);
        let cases: Vec<(String, String)> = vec![
            // The value is validated before what follows it is looked at.
            (
                "x=a||y=b".into(),
                format!("unable to parse requirement: values[0][x]: Invalid value: \"a||y\": {VALUE_REGEX_MSG}"),
            ),
            ("x=a|y=b".into(), format!("unable to parse requirement: values[0][x]: Invalid value: \"a|y\": {VALUE_REGEX_MSG}")),
            ("x=a y=b".into(), "found 'y', expected: ',' or 'end of string'".into()),
            ("x==a==b".into(), "found '==', expected: ',' or 'end of string'".into()),
            ("!x=a".into(), "found '=', expected: ',' or 'end of string'".into()),
            (
                "x<a".into(),
                "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an integer".into(),
            ),
            (
                "x>".into(),
                "unable to parse requirement: values[0]: Invalid value: \"\": for 'Gt', 'Lt' operators, the value must be an integer".into(),
            ),
            (
                "x>-1".into(),
                format!("unable to parse requirement: values[0][x]: Invalid value: \"-1\": {VALUE_REGEX_MSG}"),
            ),
            (
                "x>99999999999999999999".into(),
                "unable to parse requirement: values[0]: Invalid value: \"99999999999999999999\": for 'Gt', 'Lt' operators, the value must be an integer".into(),
            ),
            ("x,,y".into(), "found ',', expected: identifier after ','".into()),
            (",x,y".into(), "found ',', expected: !, identifier, or 'end of string'".into()),
            ("a in (xyz),".into(), "found '', expected: identifier after ','".into()),
            ("a in (xyz)b notin ()".into(), "found 'b', expected: ',' or 'end of string'".into()),
            ("(".into(), "found '(', expected: !, identifier, or 'end of string'".into()),
            ("=a".into(), "found '=', expected: !, identifier, or 'end of string'".into()),
            ("x nott in (y)".into(), format!("unable to parse requirement: found 'nott', expected: {BINARY_OPS}")),
            ("a (".into(), format!("unable to parse requirement: found '(', expected: {BINARY_OPS}")),
            ("x !".into(), format!("unable to parse requirement: found '!', expected: {BINARY_OPS}")),
            ("x exists".into(), format!("unable to parse requirement: found 'exists', expected: {BINARY_OPS}")),
            ("a in (xyz abc)".into(), "unable to parse requirement: found 'abc', expected: ',' or ')'".into()),
            ("a notin(".into(), "unable to parse requirement: found '', expected: ',', ')' or identifier".into()),
            ("a in =".into(), "unable to parse requirement: found '=' expected: '('".into()),
            ("x in".into(), "unable to parse requirement: found '' expected: '('".into()),
            ("x in (a".into(), "unable to parse requirement: found '', expected: ',' or ')'".into()),
            ("x in (a,".into(), "unable to parse requirement: found '', expected: ',', or identifier".into()),
            ("x in (a,=".into(), "unable to parse requirement: found '=', expected: ',', or identifier".into()),
            ("!".into(), "unable to parse requirement: found '', expected: identifier".into()),
            ("!=a".into(), "found '!=', expected: !, identifier, or 'end of string'".into()),
            ("!(".into(), "unable to parse requirement: found '(', expected: identifier".into()),
            ("x=(".into(), "unable to parse requirement: found '(', expected: identifier".into()),
            (
                "a$b".into(),
                format!("unable to parse requirement: <nil>: Invalid value: \"a$b\": name part {KEY_REGEX_MSG}"),
            ),
            (
                "-a=b".into(),
                format!("unable to parse requirement: <nil>: Invalid value: \"-a\": name part {KEY_REGEX_MSG}"),
            ),
            (
                "Example.com/a".into(),
                format!("unable to parse requirement: <nil>: Invalid value: \"Example.com/a\": prefix part {SUBDOMAIN_MSG}"),
            ),
            (
                "/a".into(),
                "unable to parse requirement: <nil>: Invalid value: \"/a\": prefix part must be non-empty".into(),
            ),
            (
                "a/".into(),
                format!("unable to parse requirement: <nil>: Invalid value: \"a/\": name part must be non-empty; name part {KEY_REGEX_MSG}"),
            ),
            (
                "a/b/c".into(),
                format!("unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a valid label key {KEY_REGEX_MSG} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"),
            ),
            (
                long_name.clone(),
                format!("unable to parse requirement: <nil>: Invalid value: \"{long_name}\": name part must be no more than 63 bytes"),
            ),
            (
                format!("{}/a", "a".repeat(254)),
                format!("unable to parse requirement: <nil>: Invalid value: \"{}/a\": prefix part must be no more than 253 bytes", "a".repeat(254)),
            ),
            (
                "x=a$".into(),
                format!("unable to parse requirement: values[0][x]: Invalid value: \"a$\": {VALUE_REGEX_MSG}"),
            ),
            (
                format!("x={long_value}"),
                format!("unable to parse requirement: values[0][x]: Invalid value: \"{long_value}\": must be no more than 63 bytes"),
            ),
            (
                "x in (a$,b$)".into(),
                format!("unable to parse requirement: [values[0][x]: Invalid value: \"a$\": {VALUE_REGEX_MSG}, values[1][x]: Invalid value: \"b$\": {VALUE_REGEX_MSG}]"),
            ),
            (
                "k\u{b}=v".into(),
                format!("unable to parse requirement: <nil>: Invalid value: \"k\\v\": name part {KEY_REGEX_MSG}"),
            ),
            (
                "k\"é=v".into(),
                format!("unable to parse requirement: <nil>: Invalid value: \"k\\\"é\": name part {KEY_REGEX_MSG}"),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse_err(&input), want, "{input:?}");
        }
    }

    // --- matching (upstream's TestSelectorMatches, TestRequirementSelectorMatching) ---

    #[test]
    fn matches_upstream_cases() {
        const FOO_BAZ: &[(&str, &str)] = &[("foo", "bar"), ("baz", "blah")];
        let cases: &[MatchCase] = &[
            ("", &[("x", "y")], true),
            ("x=y", &[("x", "y")], true),
            ("x=y,z=w", &[("x", "y"), ("z", "w")], true),
            ("x!=y,z!=w", &[("x", "z"), ("z", "a")], true),
            ("notin=in", &[("notin", "in")], true),
            ("x", &[("x", "z")], true),
            ("!x", &[("y", "z")], true),
            ("x>1", &[("x", "2")], true),
            ("x<1", &[("x", "0")], true),
            ("x=z", &[], false),
            ("x=y", &[("x", "z")], false),
            ("x=y,z=w", &[("x", "w"), ("z", "w")], false),
            ("x!=y,z!=w", &[("x", "z"), ("z", "w")], false),
            ("x", &[("y", "z")], false),
            ("!x", &[("x", "z")], false),
            ("x>1", &[("x", "0")], false),
            ("x<1", &[("x", "2")], false),
            ("foo=bar", FOO_BAZ, true),
            ("baz=blah", FOO_BAZ, true),
            ("foo=bar,baz=blah", FOO_BAZ, true),
            ("foo=blah", FOO_BAZ, false),
            ("baz=bar", FOO_BAZ, false),
            ("foo=bar,foobar=bar,baz=blah", FOO_BAZ, false),
            (
                "x in (foo),y notin (alpha)",
                &[("x", "foo"), ("y", "baz")],
                true,
            ),
            (
                "x in (foo),y in (alpha)",
                &[("x", "foo"), ("y", "baz")],
                false,
            ),
            ("x notin (),y", &[("y", "")], true),
            ("!x,y", &[("y", "")], true),
            ("x notin (),!y", &[("y", "")], false),
            ("x in ()", &[("y", "baz")], false),
            ("x in ()", &[("x", "")], true),
            ("x=", &[("x", "")], true),
            ("z>1", &[("z", "2")], true),
            ("z>1", &[("z", "v2")], false),
            ("z<10", &[], false),
            ("x!=a", &[], true),
            ("x notin (a)", &[], true),
            ("x notin (a,b)", &[("x", "b")], false),
            ("x in (a,b)", &[("x", "b")], true),
        ];
        for (sel, set, want) in cases {
            let parsed = LabelSelector::parse(sel).unwrap_or_else(|e| panic!("{sel:?}: {e}"));
            let map = labels(set);
            assert_eq!(parsed.matches(Some(&map)), *want, "{sel:?} on {set:?}");
            let btree: BTreeMap<String, String> = set
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(
                parsed.matches_labels(&btree),
                *want,
                "{sel:?} on {set:?} (typed)"
            );
        }
    }

    #[test]
    fn matches_without_labels() {
        let cases = [
            ("", true),
            ("x", false),
            ("!x", true),
            ("x!=a", true),
            ("x=a", false),
            ("x notin (a)", true),
        ];
        for (sel, want) in cases {
            let parsed = LabelSelector::parse(sel).expect("parses");
            assert_eq!(parsed.matches(None), want, "{sel:?}");
        }
    }

    #[test]
    fn everything_and_nothing() {
        let all = LabelSelector::everything();
        assert!(all.is_empty());
        assert!(all.matches(Some(&labels(&[("x", "y")]))));
        assert!(all.matches(None));
        assert_eq!(all, LabelSelector::default());
        assert_eq!(all, LabelSelector::parse("").expect("parses"));
        assert_eq!(all.to_string(), "");

        let none = LabelSelector::nothing();
        assert!(!none.is_empty());
        assert!(none.is_nothing());
        assert!(!none.matches(Some(&labels(&[("x", "y")]))));
        assert!(!none.matches(None));
        assert_eq!(none.to_string(), "");
    }

    #[test]
    fn required_value_upstream_cases() {
        let cases = [
            ("key in (value)", "key", Some("value")),
            ("key in (value,value2)", "key", None),
            (
                "key in (value,value1),key2 in (value2)",
                "key2",
                Some("value2"),
            ),
            ("key=value", "key", Some("value")),
            ("key==value", "key", Some("value")),
            ("key!=value", "key", None),
            ("key in (value),key2 in (value2)", "key", Some("value")),
            ("key=", "key", Some("")),
            ("key", "key", None),
            ("other=x", "key", None),
            // Only the first requirement on the key counts, as upstream.
            ("key,key=v", "key", None),
        ];
        for (sel, key, want) in cases {
            let parsed = LabelSelector::parse(sel).expect("parses");
            assert_eq!(parsed.required_value(key), want, "{sel:?} / {key}");
        }
    }

    // --- requirements built directly (upstream's TestRequirementConstructor, TestToString) ---

    #[test]
    fn requirement_constructor() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let long = "a".repeat(254);
        let cases: Vec<(String, Operator, Vec<String>, Option<String>)> = vec![
            ("x1".into(), Operator::In, vec![], Some("values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty".into())),
            ("x2".into(), Operator::NotIn, vec![], Some("values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty".into())),
            ("x3".into(), Operator::In, s(&["foo"]), None),
            ("x4".into(), Operator::NotIn, s(&["foo"]), None),
            ("x5".into(), Operator::Equals, s(&["bar", "foo"]), Some("values: Invalid value: [\"bar\",\"foo\"]: exact-match compatibility requires one single value".into())),
            ("x6".into(), Operator::Exists, vec![], None),
            ("x7".into(), Operator::DoesNotExist, vec![], None),
            ("x8".into(), Operator::Exists, s(&["foo"]), Some("values: Invalid value: [\"foo\"]: values set must be empty for exists and does not exist".into())),
            ("x11".into(), Operator::GreaterThan, s(&["1"]), None),
            ("x12".into(), Operator::LessThan, s(&["6"]), None),
            ("x13".into(), Operator::GreaterThan, vec![], Some("values: Invalid value: []: for 'Gt', 'Lt' operators, exactly one value is required".into())),
            ("x14".into(), Operator::GreaterThan, s(&["bar"]), Some("values[0]: Invalid value: \"bar\": for 'Gt', 'Lt' operators, the value must be an integer".into())),
            ("x15".into(), Operator::LessThan, s(&["bar"]), Some("values[0]: Invalid value: \"bar\": for 'Gt', 'Lt' operators, the value must be an integer".into())),
            (long.clone(), Operator::Exists, vec![], Some(format!("key: Invalid value: \"{long}\": name part must be no more than 63 bytes"))),
            ("x16".into(), Operator::Equals, vec![long.clone()], Some(format!("values[0][x16]: Invalid value: \"{long}\": must be no more than 63 bytes"))),
            ("x17".into(), Operator::Equals, s(&["a b"]), Some(format!("values[0][x17]: Invalid value: \"a b\": {VALUE_REGEX_MSG}"))),
            (
                "x18".into(),
                Operator::GreaterThan,
                s(&["1", "x"]),
                Some("[values: Invalid value: [\"1\",\"x\"]: for 'Gt', 'Lt' operators, exactly one value is required, values[1]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer]".into()),
            ),
            ("x19".into(), Operator::Exists, s(&["<&>"]), Some(format!("[values: Invalid value: [\"\\u003c\\u0026\\u003e\"]: values set must be empty for exists and does not exist, values[0][x19]: Invalid value: \"<&>\": {VALUE_REGEX_MSG}]"))),
        ];
        for (key, op, values, want) in cases {
            let got = Requirement::new(&key, op, values).err().map(|e| e.0);
            assert_eq!(got, want, "{key} {op}");
        }
    }

    #[test]
    fn requirement_to_string() {
        let req = |k: &str, op, v: &[&str]| {
            Requirement::new(k, op, v.iter().map(|x| x.to_string()).collect()).expect("valid")
        };
        let sel = |reqs: Vec<Requirement>| LabelSelector {
            requirements: reqs,
            nothing: false,
        };
        let cases = [
            (
                sel(vec![
                    req("x", Operator::In, &["abc", "def"]),
                    req("y", Operator::NotIn, &["jkl"]),
                    req("z", Operator::Exists, &[]),
                ]),
                "x in (abc,def),y notin (jkl),z",
            ),
            (
                sel(vec![
                    req("x", Operator::NotIn, &["abc", "def"]),
                    req("y", Operator::NotEquals, &["jkl"]),
                    req("z", Operator::DoesNotExist, &[]),
                ]),
                "x notin (abc,def),y!=jkl,!z",
            ),
            (
                sel(vec![
                    req("x", Operator::NotIn, &["abc"]),
                    req("y", Operator::In, &["jkl", "mno"]),
                    req("z", Operator::NotIn, &[""]),
                ]),
                "x notin (abc),y in (jkl,mno),z notin ()",
            ),
            (
                sel(vec![
                    req("x", Operator::Equals, &["abc"]),
                    req("y", Operator::DoubleEquals, &["jkl"]),
                    req("z", Operator::NotEquals, &["a"]),
                    req("z", Operator::Exists, &[]),
                ]),
                "x=abc,y==jkl,z!=a,z",
            ),
            (
                sel(vec![
                    req("x", Operator::GreaterThan, &["2"]),
                    req("y", Operator::LessThan, &["8"]),
                    req("z", Operator::Exists, &[]),
                ]),
                "x>2,y<8,z",
            ),
            // Values print sorted without being reordered in the requirement.
            (
                sel(vec![req("x", Operator::In, &["b", "a", "b"])]),
                "x in (a,b,b)",
            ),
        ];
        for (selector, want) in cases {
            assert_eq!(selector.to_string(), want);
        }
        let unsorted = req("x", Operator::In, &["b", "a"]);
        assert_eq!(unsorted.values(), ["b", "a"]);
    }

    // --- structured selectors (metav1.LabelSelectorAsSelector) ---

    fn expr(key: &str, op: &str, values: Option<&[&str]>) -> metav1::LabelSelectorRequirement {
        metav1::LabelSelectorRequirement {
            key: key.to_string(),
            operator: op.to_string(),
            values: values.map(|v| v.iter().map(|x| x.to_string()).collect()),
        }
    }

    #[test]
    fn from_structured_selectors() {
        let match_labels = |pairs: &[(&str, &str)]| {
            Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
            )
        };
        let cases: Vec<(metav1::LabelSelector, Result<&str, String>)> = vec![
            (metav1::LabelSelector::default(), Ok("")),
            (
                metav1::LabelSelector {
                    match_labels: Some(BTreeMap::new()),
                    match_expressions: Some(vec![]),
                },
                Ok(""),
            ),
            (
                metav1::LabelSelector {
                    match_labels: match_labels(&[("b", "2"), ("a", "1")]),
                    match_expressions: None,
                },
                Ok("a=1,b=2"),
            ),
            (
                metav1::LabelSelector {
                    match_labels: match_labels(&[("app", "web")]),
                    match_expressions: Some(vec![
                        expr("tier", "In", Some(&["front", "back"])),
                        expr("env", "NotIn", Some(&["prod"])),
                        expr("canary", "DoesNotExist", None),
                        expr("release", "Exists", Some(&[])),
                    ]),
                },
                Ok("app=web,!canary,env notin (prod),release,tier in (back,front)"),
            ),
            (
                metav1::LabelSelector {
                    match_labels: None,
                    match_expressions: Some(vec![expr("a", "Gt", Some(&["1"]))]),
                },
                Err("\"Gt\" is not a valid label selector operator".to_string()),
            ),
            (
                metav1::LabelSelector {
                    match_labels: None,
                    match_expressions: Some(vec![expr("a", "in", Some(&["1"]))]),
                },
                Err("\"in\" is not a valid label selector operator".to_string()),
            ),
            (
                metav1::LabelSelector {
                    match_labels: None,
                    match_expressions: Some(vec![expr("a", "In", Some(&[]))]),
                },
                Err("values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"
                    .to_string()),
            ),
            (
                metav1::LabelSelector {
                    match_labels: None,
                    match_expressions: Some(vec![expr("a", "NotIn", None)]),
                },
                Err("values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"
                    .to_string()),
            ),
            (
                metav1::LabelSelector {
                    match_labels: None,
                    match_expressions: Some(vec![expr("a", "Exists", Some(&["x"]))]),
                },
                Err("values: Invalid value: [\"x\"]: values set must be empty for exists and does not exist"
                    .to_string()),
            ),
            (
                metav1::LabelSelector {
                    match_labels: match_labels(&[("a b", "x")]),
                    match_expressions: None,
                },
                Err(format!("key: Invalid value: \"a b\": name part {KEY_REGEX_MSG}")),
            ),
            (
                metav1::LabelSelector {
                    match_labels: match_labels(&[("a", "x y")]),
                    match_expressions: None,
                },
                Err(format!("values[0][a]: Invalid value: \"x y\": {VALUE_REGEX_MSG}")),
            ),
        ];
        for (sel, want) in cases {
            let got = LabelSelector::from_structured(&sel)
                .map(|s| s.to_string())
                .map_err(|e| e.0);
            assert_eq!(got, want.map(str::to_string), "{sel:?}");
        }
    }

    #[test]
    fn from_structured_matching_and_nil() {
        let sel = metav1::LabelSelector {
            match_labels: Some(BTreeMap::from([("app".to_string(), "web".to_string())])),
            match_expressions: Some(vec![expr("env", "NotIn", Some(&["prod"]))]),
        };
        let parsed = LabelSelector::from_structured(&sel).expect("valid");
        assert!(parsed.matches(Some(&labels(&[("app", "web")]))));
        assert!(parsed.matches(Some(&labels(&[("app", "web"), ("env", "dev")]))));
        assert!(!parsed.matches(Some(&labels(&[("app", "web"), ("env", "prod")]))));
        assert!(!parsed.matches(None));

        let empty = LabelSelector::from_structured_opt(Some(&metav1::LabelSelector::default()))
            .expect("valid");
        assert!(empty.is_empty());
        assert!(empty.matches(None));

        let nil = LabelSelector::from_structured_opt(None).expect("valid");
        assert!(nil.is_nothing());
        assert!(!nil.matches(Some(&labels(&[("app", "web")]))));
    }

    // --- Go rendering helpers ---

    #[test]
    fn go_quote_cases() {
        let cases = [
            ("abc", "\"abc\""),
            ("a\"b\\c", "\"a\\\"b\\\\c\""),
            ("\n\t\r\u{7}\u{b}", "\"\\n\\t\\r\\a\\v\""),
            ("\u{1}\u{7f}", "\"\\x01\\x7f\""),
            ("é日本", "\"é日本\""),
            ("\u{a0}\u{feff}", "\"\\u00a0\\ufeff\""),
        ];
        for (input, want) in cases {
            assert_eq!(go_quote(input), want, "{input:?}");
        }
    }

    // --- field selectors (upstream's pkg/fields tests) ---

    #[test]
    fn field_split_terms() {
        let cases: &[(&str, &[&str])] = &[
            ("a", &["a"]),
            ("a=avalue", &["a=avalue"]),
            ("a=avalue,b=bvalue", &["a=avalue", "b=bvalue"]),
            (
                "a=avalue,b==bvalue,c!=cvalue",
                &["a=avalue", "b==bvalue", "c!=cvalue"],
            ),
            ("", &[]),
            ("a=a,", &["a=a", ""]),
            (",a=a", &["", "a=a"]),
            (r"k=\,,k2=v2", &[r"k=\,", "k2=v2"]),
            (r"k=\\,k2=v2", &[r"k=\\", "k2=v2"]),
            (r"k=\\\,,k2=v2", &[r"k=\\\,", "k2=v2"]),
            (r"k=\a\b\", &[r"k=\a\b\"]),
            (r"k=\", &[r"k=\"]),
            ("함=수,목=록", &["함=수", "목=록"]),
        ];
        for (input, want) in cases {
            assert_eq!(split_terms(input), *want, "{input:?}");
        }
    }

    #[test]
    fn field_split_term() {
        let cases = [
            ("a=value", Some(("a", "=", "value"))),
            ("b==value", Some(("b", "==", "value"))),
            ("c!=value", Some(("c", "!=", "value"))),
            ("", None),
            ("a", None),
            (r"k=\,", Some(("k", "=", r"\,"))),
            (r"k=\=", Some(("k", "=", r"\="))),
            (r"k=\\\a\b\=\,\", Some(("k", "=", r"\\\a\b\=\,\"))),
            ("함=수", Some(("함", "=", "수"))),
            ("a!b=c", Some(("a!b", "=", "c"))),
        ];
        for (input, want) in cases {
            assert_eq!(split_term(input), want, "{input:?}");
        }
    }

    #[test]
    fn field_escape_round_trip() {
        let cases = [
            ("", ""),
            ("a", "a"),
            ("=", r"\="),
            (",", r"\,"),
            (r"\", r"\\"),
            (r"\=\,\", r"\\\=\\\,\\"),
        ];
        for (raw, escaped) in cases {
            assert_eq!(escape_field_value(raw), escaped, "{raw:?}");
            assert_eq!(
                unescape_field_value(escaped).as_deref(),
                Ok(raw),
                "{escaped:?}"
            );
        }
    }

    #[test]
    fn field_parse_restring() {
        let cases = [
            ("x=a,y=b,z=c", "x=a,y=b,z=c"),
            ("", ""),
            ("x!=a,y=b", "x!=a,y=b"),
            (r"x=a||y\=b", r"x=a||y\=b"),
            (r"x=a\=\=b", r"x=a\=\=b"),
            ("x=a,a=x", "a=x,x=a"),
            ("a=x,x=a", "a=x,x=a"),
            ("x==a", "x=a"),
            ("a=x,,b=y,", "a=x,b=y"),
            ("=", ""),
            ("!=,a=b", "a=b"),
            ("=v", "=v"),
            ("f=", "f="),
            (
                "metadata.name=foo,status.phase!=Running",
                "metadata.name=foo,status.phase!=Running",
            ),
            (r"a=\,b", r"a=\,b"),
            ("a= b", "a= b"),
        ];
        for (input, want) in cases {
            let sel = FieldSelector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(sel.to_string(), want, "{input:?}");
        }
    }

    #[test]
    fn field_parse_errors() {
        let cases = [
            (
                "x=a||y=b",
                "invalid field selector: unescaped character in value: 61",
            ),
            (
                "x==a==b",
                "invalid field selector: unescaped character in value: 61",
            ),
            ("x=a,b", "invalid selector: 'x=a,b'; can't understand 'b'"),
            (
                "x in (a)",
                "invalid selector: 'x in (a)'; can't understand 'x in (a)'",
            ),
            (
                "x in (a,b,c)",
                "invalid selector: 'x in (a,b,c)'; can't understand 'b'",
            ),
            ("x", "invalid selector: 'x'; can't understand 'x'"),
            (
                r"a=\a",
                r"invalid field selector: invalid escape sequence: \a",
            ),
            (
                r"a=\!",
                r"invalid field selector: invalid escape sequence: \!",
            ),
            (
                r"a=b\",
                r"invalid field selector: invalid escape sequence: \",
            ),
            (
                r"a=\\\",
                r"invalid field selector: invalid escape sequence: \",
            ),
            // Terms are checked in sorted order, so the first bad one in that order wins.
            (
                "z,a=b=c",
                "invalid field selector: unescaped character in value: 61",
            ),
            ("z,b", "invalid selector: 'z,b'; can't understand 'b'"),
        ];
        for (input, want) in cases {
            assert_eq!(
                FieldSelector::parse(input).map_err(|e| e.0),
                Err(want.to_string()),
                "{input:?}"
            );
        }
    }

    #[test]
    fn field_matches() {
        let set = |pairs: &'static [(&'static str, &'static str)]| {
            move |field: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == field)
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_default()
            }
        };
        const FIELDS: &[(&str, &str)] =
            &[("foo", "bar"), ("baz", "blah"), ("complex", r"=value\,\")];
        let cases: &[MatchCase] = &[
            ("", &[("x", "y")], true),
            ("x=y", &[("x", "y")], true),
            ("x=y,z=w", &[("x", "y"), ("z", "w")], true),
            ("x!=y,z!=w", &[("x", "z"), ("z", "a")], true),
            ("notin=in", &[("notin", "in")], true),
            ("x=y", &[("x", "z")], false),
            ("x=y,z=w", &[("x", "w"), ("z", "w")], false),
            ("x!=y,z!=w", &[("x", "z"), ("z", "w")], false),
            ("foo=bar", FIELDS, true),
            ("baz=blah", FIELDS, true),
            ("foo=bar,baz=blah", FIELDS, true),
            (r"foo=bar,baz=blah,complex=\=value\\\,\\", FIELDS, true),
            ("foo=blah", FIELDS, false),
            ("baz=bar", FIELDS, false),
            ("foo=bar,foobar=bar,baz=blah", FIELDS, false),
            // An absent field reads as "".
            ("missing=", FIELDS, true),
            ("missing!=", FIELDS, false),
            ("missing!=x", FIELDS, true),
        ];
        for (sel, fields, want) in cases {
            let parsed = FieldSelector::parse(sel).unwrap_or_else(|e| panic!("{sel:?}: {e}"));
            assert_eq!(parsed.matches(set(fields)), *want, "{sel:?}");
        }
    }

    #[test]
    fn field_required_value_and_fields() {
        let cases = [
            ("", "test", None),
            ("a=b", "test", None),
            ("test=b", "test", Some("b")),
            ("test=", "test", Some("")),
            ("test!=b", "test", None),
            ("test!=", "test", None),
            ("a=x,test=b", "test", Some("b")),
            ("test!=a,test=b", "test", Some("b")),
            ("test=b,test=a", "test", Some("a")),
        ];
        for (sel, field, want) in cases {
            let parsed = FieldSelector::parse(sel).expect("parses");
            assert_eq!(parsed.required_value(field), want, "{sel:?}");
        }

        let sel = FieldSelector::parse("status.phase!=Running,metadata.name=foo,metadata.name=bar")
            .expect("parses");
        assert_eq!(
            sel.fields().collect::<Vec<_>>(),
            ["metadata.name", "metadata.name", "status.phase"]
        );
        assert!(!sel.is_empty());
        assert!(FieldSelector::parse("").expect("parses").is_empty());
        assert!(FieldSelector::parse(",=,").expect("parses").is_empty());
        assert_eq!(FieldSelector::everything(), FieldSelector::default());
    }

    #[test]
    fn selector_error_displays_message() {
        let err = SelectorError("found ',', expected: identifier after ','".to_string());
        assert_eq!(err.to_string(), "found ',', expected: identifier after ','");
    }
}
