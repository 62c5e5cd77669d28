//! Stage 4: FHIR Observations and a DiagnosticReport, as one transaction Bundle.
