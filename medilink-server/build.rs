//! Rebuilds the server when the dashboards build (`dashboards/dist`, embedded by
//! `static_files`) appears or changes.

fn main() {
    let dist = std::path::Path::new("../dashboards/dist");
    if dist.is_dir() {
        println!("cargo:rerun-if-changed=../dashboards/dist");
    } else {
        // Not built yet: watch for `dist` appearing (the directory holds only sources then).
        println!("cargo:rerun-if-changed=../dashboards");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
