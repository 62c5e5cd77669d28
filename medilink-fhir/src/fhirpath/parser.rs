//! A Pratt parser from tokens to the expression tree ([`Ast`]), with FHIRPath operator
//! precedence: invocation and indexer, unary sign, `* / div mod`, `+ - &`, `is as`, `|`,
//! comparisons, equality, `in contains`, `and`, `or xor`, `implies`.

use super::FhirPathError;
use super::lexer::Token;

/// A literal value in the source.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    /// `{}`.
    Empty,
    Boolean(bool),
    String(String),
    Integer(i64),
    /// A decimal, as written.
    Decimal(String),
    /// `@2014-01-01` (text after `@`).
    Date(String),
    /// `@2014-01-01T10:00` (text after `@`).
    DateTime(String),
    /// `@T10:00` (text after `@T`).
    Time(String),
    /// `4.5 'mg'` or `3 days`: value text and unit.
    Quantity(String, String),
}

/// A parsed expression tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ast {
    Literal(Literal),
    /// An identifier evaluated on the input (`name`, or a type name at the root).
    Ident(String),
    /// `$this`, `$index`, `$total`.
    Var(String),
    /// `%resource`, `%context`, `%ucum`, …
    Env(String),
    /// `base.name`.
    Member(Box<Ast>, String),
    /// `base.name(args)`, or `name(args)` on the input when the base is `None`.
    Call(Option<Box<Ast>>, String, Vec<Ast>),
    /// `base[index]`.
    Index(Box<Ast>, Box<Ast>),
    /// Unary minus.
    Negate(Box<Ast>),
    /// A binary operator (`and`, `=`, `|`, `+`, …).
    Binary(&'static str, Box<Ast>, Box<Ast>),
    /// `base is Type` / `base as Type` (`true` for `is`).
    TypeTest(bool, Box<Ast>, String),
}

/// Binary operators with their binding power.
const BINARY: [(&str, u8); 22] = [
    ("implies", 1),
    ("or", 2),
    ("xor", 2),
    ("and", 3),
    ("in", 4),
    ("contains", 4),
    ("=", 5),
    ("~", 5),
    ("!=", 5),
    ("!~", 5),
    ("<", 6),
    ("<=", 6),
    (">", 6),
    (">=", 6),
    ("|", 7),
    ("+", 9),
    ("-", 9),
    ("&", 9),
    ("*", 10),
    ("/", 10),
    ("div", 10),
    ("mod", 10),
];

const CALENDAR_UNITS: [&str; 16] = [
    "year",
    "years",
    "month",
    "months",
    "week",
    "weeks",
    "day",
    "days",
    "hour",
    "hours",
    "minute",
    "minutes",
    "second",
    "seconds",
    "millisecond",
    "milliseconds",
];

/// Parses a token stream into an expression tree.
pub(crate) fn parse(tokens: Vec<Token>) -> Result<Ast, FhirPathError> {
    let mut parser = Parser { tokens, pos: 0 };
    let ast = parser.expression(0)?;
    if parser.pos != parser.tokens.len() {
        return Err(syntax("unexpected token after expression"));
    }
    Ok(ast)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn eat(&mut self, symbol: &str) -> bool {
        if matches!(self.peek(), Some(Token::Sym(s)) if *s == symbol) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, symbol: &'static str) -> Result<(), FhirPathError> {
        if self.eat(symbol) {
            Ok(())
        } else {
            Err(syntax("missing closing bracket or parenthesis"))
        }
    }

    /// The binary operator at the cursor, if any.
    fn operator(&self) -> Option<(&'static str, u8)> {
        let text = match self.peek()? {
            Token::Sym(s) => *s,
            Token::Ident(word) => match word.as_str() {
                "is" => return Some(("is", 8)),
                "as" => return Some(("as", 8)),
                other => BINARY.iter().find(|(op, _)| *op == other)?.0,
            },
            _ => return None,
        };
        BINARY.iter().find(|(op, _)| *op == text).copied()
    }

    fn expression(&mut self, min_power: u8) -> Result<Ast, FhirPathError> {
        let mut left = self.unary()?;
        while let Some((op, power)) = self.operator() {
            if power <= min_power {
                break;
            }
            self.pos += 1;
            if op == "is" || op == "as" {
                let type_name = self.type_specifier()?;
                left = Ast::TypeTest(op == "is", Box::new(left), type_name);
            } else {
                let right = self.expression(power)?;
                left = Ast::Binary(op, Box::new(left), Box::new(right));
            }
        }
        Ok(left)
    }

    fn type_specifier(&mut self) -> Result<String, FhirPathError> {
        let mut name = self.identifier()?;
        while self.eat(".") {
            name.push('.');
            name.push_str(&self.identifier()?);
        }
        Ok(name)
    }

    fn identifier(&mut self) -> Result<String, FhirPathError> {
        match self.next() {
            Some(Token::Ident(word) | Token::Quoted(word)) => Ok(word),
            _ => Err(syntax("expected an identifier")),
        }
    }

    fn unary(&mut self) -> Result<Ast, FhirPathError> {
        if self.eat("-") {
            return Ok(Ast::Negate(Box::new(self.unary()?)));
        }
        if self.eat("+") {
            return self.unary();
        }
        let mut term = self.term()?;
        loop {
            if self.eat(".") {
                let name = self.identifier()?;
                if self.eat("(") {
                    let args = self.arguments()?;
                    term = Ast::Call(Some(Box::new(term)), name, args);
                } else {
                    term = Ast::Member(Box::new(term), name);
                }
            } else if self.eat("[") {
                let index = self.expression(0)?;
                self.expect("]")?;
                term = Ast::Index(Box::new(term), Box::new(index));
            } else {
                return Ok(term);
            }
        }
    }

    fn arguments(&mut self) -> Result<Vec<Ast>, FhirPathError> {
        let mut args = Vec::new();
        if self.eat(")") {
            return Ok(args);
        }
        loop {
            args.push(self.expression(0)?);
            if self.eat(")") {
                return Ok(args);
            }
            self.expect(",")?;
        }
    }

    fn term(&mut self) -> Result<Ast, FhirPathError> {
        let token = self
            .next()
            .ok_or_else(|| syntax("unexpected end of expression"))?;
        Ok(match token {
            Token::Sym("(") => {
                let inner = self.expression(0)?;
                self.expect(")")?;
                inner
            }
            Token::Sym("{") => {
                self.expect("}")?;
                Ast::Literal(Literal::Empty)
            }
            Token::Str(text) => Ast::Literal(Literal::String(text)),
            Token::Number(text) => self.number(text)?,
            Token::DateTime(text) => Ast::Literal(date_time(text)?),
            Token::Var(name) => Ast::Var(name),
            Token::Env(name) => Ast::Env(name),
            Token::Quoted(name) => self.name(name)?,
            Token::Ident(word) => match word.as_str() {
                "true" => Ast::Literal(Literal::Boolean(true)),
                "false" => Ast::Literal(Literal::Boolean(false)),
                _ => self.name(word)?,
            },
            Token::Sym(_) => return Err(syntax("unexpected symbol")),
        })
    }

    fn name(&mut self, name: String) -> Result<Ast, FhirPathError> {
        if self.eat("(") {
            let args = self.arguments()?;
            Ok(Ast::Call(None, name, args))
        } else {
            Ok(Ast::Ident(name))
        }
    }

    fn number(&mut self, text: String) -> Result<Ast, FhirPathError> {
        let unit = match self.peek() {
            Some(Token::Str(unit)) => Some(unit.clone()),
            Some(Token::Ident(word)) if CALENDAR_UNITS.contains(&word.as_str()) => {
                Some(word.clone())
            }
            _ => None,
        };
        if let Some(unit) = unit {
            self.pos += 1;
            return Ok(Ast::Literal(Literal::Quantity(text, unit)));
        }
        if text.contains('.') {
            return Ok(Ast::Literal(Literal::Decimal(text)));
        }
        match text.parse::<i64>() {
            Ok(n) => Ok(Ast::Literal(Literal::Integer(n))),
            Err(_) => Ok(Ast::Literal(Literal::Decimal(text))),
        }
    }
}

fn date_time(text: String) -> Result<Literal, FhirPathError> {
    Ok(if let Some(time) = text.strip_prefix('T') {
        if time.contains(['Z', '+', '-']) {
            return Err(syntax("a time literal cannot have a timezone"));
        }
        Literal::Time(time.to_owned())
    } else if text.contains('T') {
        Literal::DateTime(text)
    } else {
        Literal::Date(text)
    })
}

fn syntax(message: &'static str) -> FhirPathError {
    FhirPathError::Syntax { message }
}
