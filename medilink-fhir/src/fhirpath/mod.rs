//! A FHIRPath (N1, R4 flavour) evaluator over `serde_json` resources.
//!
//! [`Expression::parse`] compiles the source text once; [`evaluate`] runs it against a
//! resource and returns a collection of [`Item`]s. Nodes of the resource keep their FHIR type
//! (from the vendored R4 model; choice elements such as `Observation.value` report the type of
//! the suffix found, e.g. `valueQuantity` → `Quantity`), so callers such as the search indexer
//! can decide how to index a value by its type.
//!
//! Covered: paths (with the resource type as optional root), indexers, `|`, comparison,
//! equality and equivalence, three-valued boolean logic, arithmetic, `is`/`as`, and the
//! function library of the spec's sections 5 and 6 (existence, filtering, subsetting,
//! combining, conversion, string, math, tree navigation, utility) plus the FHIR additions
//! `extension()`, `resolve()`, `hasValue()`, `getValue()`. `resolve()` does not fetch anything:
//! a reference `Patient/1` yields [`Item::Resolved`] (usable with `is`), a local reference
//! `#x` yields the contained resource.

mod codec;
mod eval;
mod functions;
mod lexer;
mod library;
mod operators;
mod parser;
mod temporal;
mod tree;
mod types;
mod value;

#[cfg(test)]
mod tests;

use serde_json::Value;

pub use eval::evaluate;

/// A parsed FHIRPath expression. Parse once, evaluate many times; cheap to clone and share.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    ast: parser::Ast,
}

impl Expression {
    /// Parses FHIRPath source text.
    pub fn parse(src: &str) -> Result<Expression, FhirPathError> {
        let tokens = lexer::tokenize(src)?;
        let ast = parser::parse(tokens)?;
        Ok(Expression { ast })
    }
}

/// One element of a FHIRPath collection.
#[derive(Debug, Clone)]
pub enum Item<'a> {
    /// A node of the input resource.
    Node {
        /// The JSON value (for a primitive, the primitive itself, not its `_x` companion).
        value: &'a Value,
        /// The FHIR type, e.g. `Quantity`, `CodeableConcept`, `date`, `string`, `Reference`,
        /// `BackboneElement`, or a resource type; `None` when the model does not know it.
        type_name: Option<&'static str>,
        /// Navigation context (model path, primitive companion).
        meta: NodeMeta<'a>,
    },
    /// A `System.Boolean`.
    Boolean(bool),
    /// A `System.Integer`.
    Integer(i64),
    /// A `System.Decimal`, as exact text.
    Decimal(String),
    /// A `System.String`.
    String(String),
    /// A `System.Date`, ISO text without `@` (`2014-01`).
    Date(String),
    /// A `System.DateTime`, ISO text without `@` (`2014-01-01T10:00:00+01:00`).
    DateTime(String),
    /// A `System.Time`, text without `@T` (`10:30`).
    Time(String),
    /// A `System.Quantity`: exact value text and unit (UCUM code or calendar word).
    Quantity {
        /// The numeric value, as text.
        value: String,
        /// The unit (`mg`, `'1'`, `day`).
        unit: String,
    },
    /// What `resolve()` yields for a non-local reference: only its target type is known.
    Resolved {
        /// The resource type of the reference target (`Patient` for `Patient/1`).
        resource_type: String,
    },
}

/// Context kept with a resource node for further navigation.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeMeta<'a> {
    /// Where the model defines this node's children (type name or backbone element path).
    model_path: Option<&'static str>,
    /// The `_name` companion of a primitive (id and extensions).
    companion: Option<&'a Value>,
}

impl NodeMeta<'_> {
    /// Where the model defines this node's children (a type name or a backbone element
    /// path), when known.
    pub(crate) fn model_path(&self) -> Option<&'static str> {
        self.model_path
    }
}

/// Why parsing or evaluating failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FhirPathError {
    /// The source text is not valid FHIRPath.
    #[error("fhirpath syntax error: {message}")]
    Syntax {
        /// What went wrong.
        message: &'static str,
    },
    /// A path names an element the model does not define for that type.
    #[error("fhirpath: unknown element '{name}' on type {type_name}")]
    UnknownElement {
        /// The element name.
        name: String,
        /// The model path it was looked up on.
        type_name: String,
    },
    /// A function the evaluator does not implement.
    #[error("fhirpath: unknown function '{name}'")]
    UnknownFunction {
        /// The function name.
        name: String,
    },
    /// A function was called with the wrong number of arguments.
    #[error("fhirpath: wrong number of arguments for '{name}'")]
    Arity {
        /// The function name.
        name: String,
    },
    /// A runtime error (singleton expected, type mismatch, bad regex, …).
    #[error("fhirpath evaluation error: {message}")]
    Evaluation {
        /// What went wrong.
        message: &'static str,
    },
}

impl FhirPathError {
    /// A runtime error with a static message.
    pub(crate) fn eval(message: &'static str) -> FhirPathError {
        FhirPathError::Evaluation { message }
    }
}
