//! The openFDA drug label source (stub).

/// Interactions from openFDA drug labels.
#[derive(Debug)]
pub struct OpenFdaSource;
