//! The public-API guard of the library crates (issue #22): each library's public items — every
//! `pub` item outside test code with its signature, the public fields and variants, the
//! methods of inherent impls, the trait impls of its public types, derives and
//! `#[non_exhaustive]` — listed one per line and compared with the committed `api/<crate>.txt`.
//! A change of the public API therefore shows in review as a change of that file, in the same
//! commit: this test fails with the difference and the command that refreshes the listings.
//!
//! The listing is read from the sources with `syn` (rustdoc's JSON output is nightly-only).
//! Every `pub` item counts, also in private modules: the workspace's `unreachable_pub` lint
//! makes a `pub` item in a private module a re-export's target or a warning. Items under
//! `#[cfg(test)]` are left out; items under other `cfg`s (backend features, `testsuite`) are
//! listed with their condition.
//!
//! The libraries' package metadata (what crates.io and docs.rs show) is checked here too.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use quote::ToTokens;
use serde_json::Value;
use syn::{Attribute, Fields, ImplItem, Item, TraitItem, Visibility};

/// The library crates whose API is guarded (tidy.rs `LIBRARIES`).
const LIBRARIES: &[&str] = &[
    "medilink-fhir",
    "medilink-consent",
    "medilink-ingest",
    "medilink-platform",
    "medilink-clinical",
    "medilink-jobs",
];

/// The package fields every library sets (most inherited from `[workspace.package]`).
const METADATA: &[&str] = &[
    "description",
    "license",
    "repository",
    "readme",
    "rust_version",
    "keywords",
    "categories",
];

const REFRESH: &str = "UPDATE_API=1 cargo test -p xtask --test public_api";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace root")
        .to_path_buf()
}

#[test]
fn public_api_matches_the_committed_listing() {
    let root = root();
    let update = std::env::var_os("UPDATE_API").is_some();
    let mut failures = Vec::new();
    for name in LIBRARIES {
        let listing = listing(&root.join(name).join("src/lib.rs"), &name.replace('-', "_"));
        let file = root.join("api").join(format!("{name}.txt"));
        if update {
            std::fs::create_dir_all(file.parent().expect("api/")).expect("create api/");
            std::fs::write(&file, &listing).expect("write the listing");
            continue;
        }
        let committed = std::fs::read_to_string(&file).unwrap_or_default();
        if committed != listing {
            failures.push(format!(
                "api/{name}.txt: the public API of {name} changed:\n{}",
                difference(&committed, &listing)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n\nIf the change is intended (a release note in CHANGELOG.md says so), refresh \
         the listings in the same commit:\n    {REFRESH}",
        failures.join("\n\n")
    );
}

#[test]
fn libraries_carry_complete_package_metadata() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| String::from("cargo"));
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .arg("--manifest-path")
        .arg(root().join("Cargo.toml"))
        .output()
        .expect("run cargo metadata");
    assert!(output.status.success(), "cargo metadata failed");
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("metadata is JSON");
    let mut missing = Vec::new();
    for package in metadata["packages"].as_array().expect("packages") {
        let name = package["name"].as_str().unwrap_or_default();
        if !LIBRARIES.contains(&name) {
            continue;
        }
        for field in METADATA {
            let set = match &package[*field] {
                Value::String(text) => !text.trim().is_empty(),
                Value::Array(values) => !values.is_empty(),
                _ => false,
            };
            if !set {
                missing.push(format!(
                    "{name}: `{field}` is not set (Cargo.toml `[workspace.package]`)"
                ));
            }
        }
        if let Some(readme) = package["readme"].as_str() {
            let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap_or_default());
            let dir = manifest.parent().expect("manifest dir");
            if !dir.join(readme).is_file() {
                missing.push(format!("{name}: the readme `{readme}` does not exist"));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn the_listing_names_what_is_public_and_leaves_out_the_rest() {
    let source = r#"
        //! docs
        pub mod inner {
            /// A thing.
            #[derive(Debug, Clone)]
            #[non_exhaustive]
            pub struct Thing<T> { pub name: String, secret: T }
            impl<T> Thing<T> {
                pub fn new(name: String, secret: T) -> Self { todo!() }
                fn hidden(&self) {}
                pub(crate) fn crate_only(&self) {}
            }
            impl<T> std::fmt::Display for Thing<T> { }
            pub(crate) fn plumbing() {}
            #[cfg(feature = "extra")]
            pub enum Choice { A, B(u8), C { x: u32 } }
            pub trait Seam: Send { fn go(&self) -> u8; type Out; const N: usize; }
        }
        #[cfg(test)]
        pub mod tests { pub fn helper() {} }
        pub use inner::Thing;
        pub const LIMIT: usize = 3;
    "#;
    let file = syn::parse_file(source).expect("parses");
    let mut public_types = BTreeSet::new();
    collect_type_names(&file.items, Path::new("/nowhere"), &mut public_types);
    let mut lines = BTreeSet::new();
    walk(
        &file.items,
        "c",
        None,
        &public_types,
        &mut lines,
        &mut |_, _| None,
    );
    let expected: BTreeSet<String> = [
        "c::LIMIT: pub const LIMIT: usize",
        "c::inner::Choice: #[cfg(feature = \"extra\")] pub enum Choice",
        "c::inner::Choice::A: #[cfg(feature = \"extra\")] variant A",
        "c::inner::Choice::B: #[cfg(feature = \"extra\")] variant B(u8)",
        "c::inner::Choice::C: #[cfg(feature = \"extra\")] variant C { x: u32 }",
        "c::inner::Seam: pub trait Seam: Send",
        "c::inner::Seam::N: const N: usize",
        "c::inner::Seam::Out: type Out",
        "c::inner::Seam::go: fn go(&self) -> u8",
        "c::inner::Thing: #[derive(Debug, Clone)] #[non_exhaustive] pub struct Thing<T>",
        "c::inner::Thing::name: pub name: String",
        "c::inner::Thing::new: pub fn new(name: String, secret: T) -> Self",
        "c::inner::Thing: impl<T> std::fmt::Display for Thing<T>",
        "c: pub mod inner",
        "c: pub use inner::Thing",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(lines, expected);
}

// ---------------------------------------------------------------------------------------------
// The listing
// ---------------------------------------------------------------------------------------------

/// The sorted listing of the crate whose root is `lib`, one item per line.
fn listing(lib: &Path, crate_name: &str) -> String {
    let file = parse(lib);
    let dir = lib.parent().expect("src").to_path_buf();
    // The public type names of the whole crate: their trait impls are listed.
    let mut public_types = BTreeSet::new();
    collect_type_names(&file.items, &dir, &mut public_types);
    let mut lines = BTreeSet::new();
    walk(
        &file.items,
        crate_name,
        None,
        &public_types,
        &mut lines,
        &mut |module, attrs| module_file(&dir, module, attrs),
    );
    let mut text = String::new();
    for line in lines {
        text.push_str(&line);
        text.push('\n');
    }
    text
}

fn parse(path: &Path) -> syn::File {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("read {}: {err}", path.display()));
    syn::parse_file(&text).unwrap_or_else(|err| panic!("parse {}: {err}", path.display()))
}

/// The file of `mod name;` declared in the module whose directory is `dir`, with its own
/// directory: `#[path]`, `name.rs` or `name/mod.rs`.
fn module_file(dir: &Path, name: &str, attrs: &[Attribute]) -> Option<(syn::File, PathBuf)> {
    let explicit = attrs.iter().find_map(|attr| {
        let syn::Meta::NameValue(pair) = &attr.meta else {
            return None;
        };
        if !pair.path.is_ident("path") {
            return None;
        }
        match &pair.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(path),
                ..
            }) => Some(dir.join(path.value())),
            _ => None,
        }
    });
    let candidates = match explicit {
        Some(path) => vec![path],
        None => vec![
            dir.join(format!("{name}.rs")),
            dir.join(name).join("mod.rs"),
        ],
    };
    let path = candidates.into_iter().find(|path| path.is_file())?;
    let child_dir = if path.file_name().is_some_and(|f| f == "mod.rs") {
        path.parent().expect("dir").to_path_buf()
    } else {
        path.with_extension("")
    };
    Some((parse(&path), child_dir))
}

/// Adds the public type names of `items` (of the module whose directory is `dir`) and of its
/// modules, inline or in files, to `names`.
fn collect_type_names(items: &[Item], dir: &Path, names: &mut BTreeSet<String>) {
    names.extend(public_type_names(items));
    for item in items {
        let Item::Mod(module) = item else { continue };
        if is_test_only(&module.attrs) {
            continue;
        }
        let name = module.ident.to_string();
        match &module.content {
            Some((_, inner)) => collect_type_names(inner, &dir.join(&name), names),
            None => {
                if let Some((file, child_dir)) = module_file(dir, &name, &module.attrs) {
                    collect_type_names(&file.items, &child_dir, names);
                }
            }
        }
    }
}

/// The names of the `pub` structs, enums, unions, traits and type aliases among `items`.
fn public_type_names(items: &[Item]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for item in items {
        let (vis, ident) = match item {
            Item::Struct(item) => (&item.vis, &item.ident),
            Item::Enum(item) => (&item.vis, &item.ident),
            Item::Union(item) => (&item.vis, &item.ident),
            Item::Trait(item) => (&item.vis, &item.ident),
            Item::Type(item) => (&item.vis, &item.ident),
            _ => continue,
        };
        if is_public(vis) {
            names.insert(ident.to_string());
        }
    }
    names
}

type ModuleLoader<'a> = dyn FnMut(&str, &[Attribute]) -> Option<(syn::File, PathBuf)> + 'a;

/// Lists the public items among `items` of module `path` (under `cfg`, the enclosing
/// modules' conditions) into `lines`; `load` reads the file of a `mod name;`.
fn walk(
    items: &[Item],
    path: &str,
    cfg: Option<&str>,
    public_types: &BTreeSet<String>,
    lines: &mut BTreeSet<String>,
    load: &mut ModuleLoader<'_>,
) {
    for item in items {
        let attrs = item_attrs(item);
        if is_test_only(attrs) {
            continue;
        }
        let cfg = join_cfg(cfg, attrs);
        let prefix = cfg
            .as_deref()
            .map_or(String::new(), |cfg| format!("{cfg} "));
        let mut add = |key: String, text: String| {
            lines.insert(format!("{key}: {prefix}{text}"));
        };
        match item {
            Item::Mod(module) => {
                let name = module.ident.to_string();
                if is_public(&module.vis) {
                    add(path.to_owned(), format!("pub mod {name}"));
                }
                let child = format!("{path}::{name}");
                match &module.content {
                    Some((_, inner)) => {
                        walk(inner, &child, cfg.as_deref(), public_types, lines, load)
                    }
                    None => {
                        if let Some((file, child_dir)) = load(&name, &module.attrs) {
                            let mut nested = |name: &str, attrs: &[Attribute]| {
                                module_file(&child_dir, name, attrs)
                            };
                            walk(
                                &file.items,
                                &child,
                                cfg.as_deref(),
                                public_types,
                                lines,
                                &mut nested,
                            );
                        }
                    }
                }
            }
            Item::Fn(function) if is_public(&function.vis) => add(
                format!("{path}::{}", function.sig.ident),
                format!("pub {}", signature(&function.sig)),
            ),
            Item::Const(constant) if is_public(&constant.vis) => add(
                format!("{path}::{}", constant.ident),
                format!("pub const {}: {}", constant.ident, tokens(&constant.ty)),
            ),
            Item::Static(item) if is_public(&item.vis) => add(
                format!("{path}::{}", item.ident),
                format!("pub static {}: {}", item.ident, tokens(&item.ty)),
            ),
            Item::Type(alias) if is_public(&alias.vis) => add(
                format!("{path}::{}", alias.ident),
                format!(
                    "pub type {}{} = {}",
                    alias.ident,
                    tokens(&alias.generics),
                    tokens(&alias.ty)
                ),
            ),
            Item::Use(item) if is_public(&item.vis) => {
                add(path.to_owned(), format!("pub use {}", tokens(&item.tree)))
            }
            Item::Macro(item) if is_exported_macro(item) => add(
                path.to_owned(),
                format!(
                    "macro_rules! {}",
                    item.ident
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                ),
            ),
            Item::Struct(item) if is_public(&item.vis) => {
                let key = format!("{path}::{}", item.ident);
                add(
                    key.clone(),
                    format!(
                        "{}pub struct {}{}",
                        type_attrs(&item.attrs),
                        item.ident,
                        tokens(&item.generics)
                    ),
                );
                for (index, field) in item.fields.iter().enumerate() {
                    if !is_public(&field.vis) {
                        continue;
                    }
                    let name = field
                        .ident
                        .as_ref()
                        .map_or(index.to_string(), ToString::to_string);
                    add(
                        format!("{key}::{name}"),
                        format!("pub {name}: {}", tokens(&field.ty)),
                    );
                }
            }
            Item::Enum(item) if is_public(&item.vis) => {
                let key = format!("{path}::{}", item.ident);
                add(
                    key.clone(),
                    format!(
                        "{}pub enum {}{}",
                        type_attrs(&item.attrs),
                        item.ident,
                        tokens(&item.generics)
                    ),
                );
                for variant in &item.variants {
                    add(
                        format!("{key}::{}", variant.ident),
                        format!("variant {}{}", variant.ident, fields_of(&variant.fields)),
                    );
                }
            }
            Item::Trait(item) if is_public(&item.vis) => {
                let key = format!("{path}::{}", item.ident);
                let bounds = if item.supertraits.is_empty() {
                    String::new()
                } else {
                    format!(": {}", tokens(&item.supertraits))
                };
                add(
                    key.clone(),
                    format!(
                        "pub {}trait {}{}{bounds}",
                        if item.unsafety.is_some() {
                            "unsafe "
                        } else {
                            ""
                        },
                        item.ident,
                        tokens(&item.generics)
                    ),
                );
                for member in &item.items {
                    let (name, text) = match member {
                        TraitItem::Fn(function) => {
                            (function.sig.ident.to_string(), signature(&function.sig))
                        }
                        TraitItem::Type(assoc) => (
                            assoc.ident.to_string(),
                            format!("type {}", assoc.ident) + &bounds_of(&assoc.bounds),
                        ),
                        TraitItem::Const(assoc) => (
                            assoc.ident.to_string(),
                            format!("const {}: {}", assoc.ident, tokens(&assoc.ty)),
                        ),
                        _ => continue,
                    };
                    add(format!("{key}::{name}"), text);
                }
            }
            Item::Impl(block) => {
                let self_type = tokens(&block.self_ty);
                let type_name = last_segment(&block.self_ty);
                let key = format!("{path}::{type_name}");
                match &block.trait_ {
                    Some((negative, trait_path, _)) => {
                        if public_types.contains(&type_name) {
                            add(
                                key,
                                format!(
                                    "impl{} {}{} for {self_type}",
                                    tokens(&block.generics),
                                    if negative.is_some() { "!" } else { "" },
                                    tokens(trait_path)
                                ),
                            );
                        }
                    }
                    None => {
                        for member in &block.items {
                            match member {
                                ImplItem::Fn(function) if is_public(&function.vis) => add(
                                    format!("{key}::{}", function.sig.ident),
                                    format!("pub {}", signature(&function.sig)),
                                ),
                                ImplItem::Const(constant) if is_public(&constant.vis) => add(
                                    format!("{key}::{}", constant.ident),
                                    format!(
                                        "pub const {}: {}",
                                        constant.ident,
                                        tokens(&constant.ty)
                                    ),
                                ),
                                _ => {}
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

fn item_attrs(item: &Item) -> &[Attribute] {
    match item {
        Item::Const(item) => &item.attrs,
        Item::Enum(item) => &item.attrs,
        Item::Fn(item) => &item.attrs,
        Item::Impl(item) => &item.attrs,
        Item::Macro(item) => &item.attrs,
        Item::Mod(item) => &item.attrs,
        Item::Static(item) => &item.attrs,
        Item::Struct(item) => &item.attrs,
        Item::Trait(item) => &item.attrs,
        Item::Type(item) => &item.attrs,
        Item::Union(item) => &item.attrs,
        Item::Use(item) => &item.attrs,
        _ => &[],
    }
}

fn is_public(vis: &Visibility) -> bool {
    matches!(vis, Visibility::Public(_))
}

fn is_exported_macro(item: &syn::ItemMacro) -> bool {
    item.attrs
        .iter()
        .any(|attr| attr.path().is_ident("macro_export"))
}

/// `#[cfg(test)]` (alone or in an `all`), the items the listing leaves out.
fn is_test_only(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg") && {
            let text = tokens(&attr.meta);
            text == "cfg(test)" || text.starts_with("cfg(all(test,")
        }
    })
}

/// The `cfg`s of `attrs` added to the enclosing `cfg`, as they read in the listing.
fn join_cfg(outer: Option<&str>, attrs: &[Attribute]) -> Option<String> {
    let own: Vec<String> = attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"))
        .map(|attr| format!("#[{}]", tokens(&attr.meta)))
        .collect();
    match (outer, own.is_empty()) {
        (None, true) => None,
        (Some(outer), true) => Some(outer.to_owned()),
        (outer, false) => {
            let mut all: Vec<String> = outer.map(str::to_owned).into_iter().collect();
            all.extend(own);
            Some(all.join(" "))
        }
    }
}

/// The derives and `#[non_exhaustive]` of a type: part of its API.
fn type_attrs(attrs: &[Attribute]) -> String {
    let mut text = String::new();
    for attr in attrs {
        if attr.path().is_ident("derive") || attr.path().is_ident("non_exhaustive") {
            text.push_str(&format!("#[{}] ", tokens(&attr.meta)));
        }
    }
    text
}

/// A variant's fields without their attributes: ` { name: Type, … }` or `(Type, …)`.
fn fields_of(fields: &Fields) -> String {
    match fields {
        Fields::Unit => String::new(),
        Fields::Named(named) => {
            let list: Vec<String> = named
                .named
                .iter()
                .map(|field| {
                    let name = field
                        .ident
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    format!("{name}: {}", tokens(&field.ty))
                })
                .collect();
            format!(" {{ {} }}", list.join(", "))
        }
        Fields::Unnamed(unnamed) => {
            let list: Vec<String> = unnamed.unnamed.iter().map(|f| tokens(&f.ty)).collect();
            format!("({})", list.join(", "))
        }
    }
}

/// A function's signature as its callers see it: argument patterns lose `mut`, and no
/// trailing comma.
fn signature(sig: &syn::Signature) -> String {
    let mut sig = sig.clone();
    for input in &mut sig.inputs {
        if let syn::FnArg::Typed(typed) = input
            && let syn::Pat::Ident(ident) = typed.pat.as_mut()
        {
            ident.mutability = None;
        }
    }
    sig.inputs.pop_punct();
    tokens(&sig)
}

fn bounds_of<T: ToTokens, P: ToTokens>(bounds: &syn::punctuated::Punctuated<T, P>) -> String {
    if bounds.is_empty() {
        String::new()
    } else {
        format!(": {}", tokens(bounds))
    }
}

/// The name a type's impls are listed under: the last path segment (`Arc<dyn Foo>` → `Arc`).
fn last_segment(ty: &syn::Type) -> String {
    match ty {
        syn::Type::Path(path) => path
            .path
            .segments
            .last()
            .map(|segment| segment.ident.to_string())
            .unwrap_or_default(),
        syn::Type::Reference(reference) => last_segment(&reference.elem),
        other => tokens(other),
    }
}

/// Rust tokens as text, spaced as a person writes them.
fn tokens<T: ToTokens>(node: &T) -> String {
    let raw = node.to_token_stream().to_string();
    let mut text = raw;
    for (from, to) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" ::", "::"),
        (" , ", ", "),
        (" ,", ","),
        ("( ", "("),
        (" )", ")"),
        ("[ ", "["),
        (" ]", "]"),
        (" < ", "<"),
        ("< ", "<"),
        (" >", ">"),
        ("& ", "&"),
        (" : ", ": "),
        (" ;", ";"),
        ("# [", "#["),
        (" !", "!"),
        ("' ", "'"),
        ("- >", "->"),
    ] {
        while text.contains(from) {
            text = text.replace(from, to);
        }
    }
    // `fn f<T>(…)`, `Vec<u8>`: no space before `(` after a name or `>`.
    let mut spaced = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    for (index, c) in chars.iter().enumerate() {
        if *c == ' ' && chars.get(index + 1) == Some(&'(') {
            let before = index.checked_sub(1).map(|i| chars[i]);
            if before.is_some_and(|b| b.is_alphanumeric() || b == '_' || b == '>') {
                continue;
            }
        }
        spaced.push(*c);
    }
    spaced.replace("->", " -> ").replace("  ", " ")
}

/// Lines only in `old` (`-`) and only in `new` (`+`).
fn difference(old: &str, new: &str) -> String {
    let old: BTreeSet<&str> = old.lines().collect();
    let new: BTreeSet<&str> = new.lines().collect();
    let mut text = String::new();
    for line in old.difference(&new) {
        text.push_str(&format!("  - {line}\n"));
    }
    for line in new.difference(&old) {
        text.push_str(&format!("  + {line}\n"));
    }
    text
}
