//! Integration tests of `medilink-clinical`: one binary, one module per area.

mod cds;
mod check;
mod data;
mod fhir;
mod openfda;
mod resolve;
