//! Integration tests of `medilink-consent` (one binary, one module per area).

mod deid;
mod support;
