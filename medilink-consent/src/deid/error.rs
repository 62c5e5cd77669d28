//! [`DeidError`]: why a resource is refused for research export.

use medilink_fhir::ErrorKind;

/// Why [`super::Deidentifier::deidentify`] refused a resource. Messages name element paths and
/// resource types only, never resource content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeidError {
    /// The input is not a JSON object with a `resourceType`.
    #[error("not a FHIR resource: no resourceType")]
    NotAResource,
    /// The resource type is identifying by nature or not reviewed for export.
    #[error("resource type {resource_type} is not exported for research")]
    UnsupportedType {
        /// The refused type (`"(invalid)"` when it is not a type name).
        resource_type: String,
    },
    /// A `modifierExtension`: dropping it would change the meaning of the resource.
    #[error("modifier extension at {path}: it cannot be removed without changing the meaning")]
    ModifierExtension {
        /// Where it is, e.g. `Observation.component[0].modifierExtension`.
        path: String,
    },
    /// `implicitRules` (a modifier element): the resource cannot be safely interpreted.
    #[error("implicitRules at {path}: it cannot be removed without changing the meaning")]
    ImplicitRules {
        /// Where it is.
        path: String,
    },
    /// What is left after de-identification is not valid R4 (for example a required element
    /// that held only free text).
    #[error("the de-identified {resource_type} is not valid FHIR at {expression}")]
    InvalidOutput {
        /// The resource type.
        resource_type: String,
        /// The first failing element.
        expression: String,
    },
}

impl DeidError {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DeidError::NotAResource => ErrorKind::Invalid,
            DeidError::UnsupportedType { .. }
            | DeidError::ModifierExtension { .. }
            | DeidError::ImplicitRules { .. }
            | DeidError::InvalidOutput { .. } => ErrorKind::Unprocessable,
        }
    }
}

/// A type name fit for an error message: the input's `resourceType` only when it looks like one.
pub(super) fn type_name(resource_type: &str) -> String {
    let is_name = !resource_type.is_empty()
        && resource_type.len() <= 64
        && resource_type.starts_with(|c: char| c.is_ascii_uppercase())
        && resource_type.chars().all(|c| c.is_ascii_alphanumeric());
    if is_name {
        resource_type.to_owned()
    } else {
        "(invalid)".to_owned()
    }
}
