//! The message catalogues (Project Fluent, `ftl/{en,es,hi}.ftl`, embedded at build time) and
//! [`render`]: a notice as an e-mail's subject, plain-text and HTML bodies in the recipient's
//! language, with a link back to the portal page.
//!
//! Every kind has `<kind>-subject` and `<kind>-body` in every catalogue (a test renders each
//! one); subjects name no person and no result, only what kind of thing happened.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};

use super::kind::NotificationKind;
use super::preferences::Language;

/// A rendered notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The e-mail subject (no PHI); the inbox's title.
    pub subject: String,
    /// The message alone, plain text, without link or footer (the inbox's body).
    pub body: String,
    /// The plain-text e-mail body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

/// Why a notice did not render: a catalogue misses a message or a parameter (a bug).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("notification template {message} ({language}) did not render: {problem}")]
pub struct TemplateError {
    /// The message id.
    pub message: String,
    /// The catalogue.
    pub language: &'static str,
    /// What went wrong.
    pub problem: String,
}

type Bundle = FluentBundle<FluentResource>;

fn source(language: Language) -> &'static str {
    match language {
        Language::En => include_str!("ftl/en.ftl"),
        Language::Es => include_str!("ftl/es.ftl"),
        Language::Hi => include_str!("ftl/hi.ftl"),
    }
}

fn bundles() -> &'static BTreeMap<Language, Result<Bundle, String>> {
    static BUNDLES: OnceLock<BTreeMap<Language, Result<Bundle, String>>> = OnceLock::new();
    BUNDLES.get_or_init(|| {
        Language::ALL
            .into_iter()
            .map(|language| (language, bundle(language)))
            .collect()
    })
}

fn bundle(language: Language) -> Result<Bundle, String> {
    let tag = language
        .as_str()
        .parse()
        .map_err(|_| "invalid language tag".to_owned())?;
    let resource = FluentResource::try_new(source(language).to_owned())
        .map_err(|(_, errors)| format!("{} syntax errors", errors.len()))?;
    let mut bundle = FluentBundle::new_concurrent(vec![tag]);
    bundle.set_use_isolating(false);
    bundle
        .add_resource(resource)
        .map_err(|errors| format!("{} duplicate messages", errors.len()))?;
    Ok(bundle)
}

fn message(
    language: Language,
    id: &str,
    args: Option<&FluentArgs<'_>>,
) -> Result<String, TemplateError> {
    let fail = |problem: String| TemplateError {
        message: id.to_owned(),
        language: language.as_str(),
        problem,
    };
    let bundle = bundles()
        .get(&language)
        .ok_or_else(|| fail("no catalogue".into()))?
        .as_ref()
        .map_err(|problem| fail(problem.clone()))?;
    let pattern = bundle
        .get_message(id)
        .and_then(|message| message.value())
        .ok_or_else(|| fail("missing message".into()))?;
    let mut errors = Vec::new();
    let text = bundle.format_pattern(pattern, args, &mut errors);
    match errors.first() {
        Some(error) => Err(fail(error.to_string())),
        None => Ok(text.into_owned()),
    }
}

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders a notice of `kind` with its `parameters` in `language`, linking to `portal_url`
/// (the portal's base URL, no trailing slash needed) joined with `link` (a path).
pub fn render(
    kind: NotificationKind,
    parameters: &BTreeMap<String, String>,
    language: Language,
    portal_url: &str,
    link: &str,
) -> Result<Rendered, TemplateError> {
    let mut args = FluentArgs::new();
    for (name, value) in parameters {
        args.set(name.as_str(), value.as_str());
    }
    let id = kind.message_id();
    let subject = message(language, &format!("{id}-subject"), None)?;
    let body = message(language, &format!("{id}-body"), Some(&args))?;
    let open = message(language, "open-portal", None)?;
    let footer = message(language, "footer", None)?;
    let url = format!("{}{}", portal_url.trim_end_matches('/'), link);
    let text = format!("{body}\n\n{open}: {url}\n\n-- \n{footer}\n");
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{subject_html}</title></head>\
         <body><p>{body_html}</p><p><a href=\"{url_html}\">{open_html}</a></p>\
         <hr><p><small>{footer_html}</small></p></body></html>\n",
        lang = language.as_str(),
        subject_html = escape(&subject),
        body_html = escape(&body),
        url_html = escape(&url),
        open_html = escape(&open),
        footer_html = escape(&footer),
    );
    Ok(Rendered {
        subject,
        body,
        text,
        html,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(kind: NotificationKind) -> BTreeMap<String, String> {
        kind.parameters()
            .iter()
            .map(|name| ((*name).to_owned(), format!("<{name}>")))
            .collect()
    }

    #[test]
    fn every_kind_renders_in_every_language() {
        for language in Language::ALL {
            for kind in NotificationKind::ALL {
                let rendered = render(
                    kind,
                    &sample(kind),
                    language,
                    "https://medilink.example/",
                    kind.default_link(),
                )
                .unwrap_or_else(|err| panic!("{err}"));
                assert!(!rendered.subject.is_empty(), "{kind} {language:?}");
                assert!(!rendered.subject.contains('{'), "{kind} {language:?}");
                for name in kind.parameters() {
                    assert!(rendered.text.contains(&format!("<{name}>")), "{kind}");
                    assert!(rendered.html.contains(&format!("&lt;{name}&gt;")), "{kind}");
                    assert!(!rendered.subject.contains(&format!("<{name}>")), "{kind}");
                }
                let url = format!("https://medilink.example{}", kind.default_link());
                assert!(rendered.text.contains(&url), "{kind}");
                assert!(rendered.html.contains(&url), "{kind}");
            }
        }
    }

    #[test]
    fn a_missing_parameter_is_an_error() {
        let err = render(
            NotificationKind::BreakGlass,
            &BTreeMap::new(),
            Language::Es,
            "https://x",
            "/",
        )
        .expect_err("no `at`");
        assert_eq!(err.language, "es");
    }

    #[test]
    fn catalogues_have_the_same_messages() {
        let ids = |language| -> Vec<String> {
            source(language)
                .lines()
                .filter(|line| !line.starts_with('#') && line.contains(" = "))
                .filter_map(|line| line.split(" = ").next().map(str::to_owned))
                .collect()
        };
        assert_eq!(ids(Language::En), ids(Language::Es));
        assert_eq!(ids(Language::En), ids(Language::Hi));
    }
}
