//! E-mail addresses as account keys: one normalisation for every path that takes an address
//! (register, login, the admin user search, `user add`), so that look-alike spellings of an
//! address reach the same account or are refused, and never create a second one (issue #11).
//!
//! [`normalize_email`] trims, applies Unicode NFKC (full-width `ａｌｉｃｅ＠ｅｘａｍｐｌｅ．ｏｒｇ`
//! becomes `alice@example.org`), lowercases fully (`str::to_lowercase`, the Unicode default
//! lowercase mapping rather than case folding, so `ß` stays `ß`) and applies NFKC once more
//! (lowercasing may leave a string that is not NFKC). It then refuses what no address needs and
//! look-alikes use: control (Cc) and format (Cf: zero-width space, joiner and non-joiner, soft
//! hyphen, BOM, bidi controls, tags) characters, separators (Zs, Zl, Zp), private-use,
//! surrogate and unassigned code points, and the other invisible ones (variation selectors, the
//! combining grapheme joiner, Hangul fillers, the blank Braille pattern). What remains must be
//! one `local@domain`. A new account's address ([`new_account_email`]) must moreover have a
//! dot-atom local part and a domain of at least two labels of letters, digits and hyphens
//! whose last label is not numeric; lookups do not ask that of accounts made before the rule.
//!
//! For an ASCII address the result is exactly the earlier `trim().to_lowercase()`, so the
//! lookup hashes of existing accounts are unchanged. A domain's Unicode and `xn--` spellings are
//! not unified.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

/// The longest address (RFC 5321's path limit less the angle brackets), in bytes.
pub const MAX_LENGTH: usize = 254;
const MAX_LOCAL: usize = 64;
const MAX_LABEL: usize = 63;

/// Why an address is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidEmail {
    /// Empty after trimming.
    Empty,
    /// Longer than [`MAX_LENGTH`] bytes (or a part longer than its limit).
    TooLong,
    /// Contains an invisible, control, format or separator character (the code point).
    Invisible(char),
    /// Not exactly one `@` between a non-empty local part and a domain.
    NotOneAddress,
    /// The local part is not a dot-atom.
    BadLocalPart,
    /// The domain is not a plausible host name.
    BadDomain,
}

impl InvalidEmail {
    /// A message for the client (names the field, never echoes the address).
    pub fn message(&self) -> String {
        match self {
            InvalidEmail::Empty => "email is empty".to_owned(),
            InvalidEmail::TooLong => {
                format!("email is longer than {MAX_LENGTH} bytes or has an over-long part")
            }
            InvalidEmail::Invisible(c) => format!(
                "email contains an invisible, control or formatting character (U+{:04X})",
                u32::from(*c)
            ),
            InvalidEmail::NotOneAddress => {
                "email must be one address of the form local@domain".to_owned()
            }
            InvalidEmail::BadLocalPart => {
                "email has an invalid part before the @ (letters, digits, single dots and \
                 !#$%&'*+-/=?^_`{|}~ only)"
                    .to_owned()
            }
            InvalidEmail::BadDomain => {
                "email has an implausible domain (labels of letters, digits and hyphens, \
                 at least two, the last not numeric)"
                    .to_owned()
            }
        }
    }
}

/// Code points that render as nothing but are neither Cc nor Cf (default-ignorable letters and
/// marks, and the blank Braille pattern).
fn invisible_non_format(c: char) -> bool {
    matches!(
        c,
        '\u{034F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{2800}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FFA0}'
            | '\u{E0100}'..='\u{E01EF}'
    )
}

/// Whether `c` is refused anywhere in an address.
fn refused(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::SpaceSeparator
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::PrivateUse
            | GeneralCategory::Surrogate
            | GeneralCategory::Unassigned
    ) || invisible_non_format(c)
}

/// RFC 5322 `atext` in ASCII; any other (already screened) character beyond ASCII (RFC 6531).
fn local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

fn plausible_local(local: &str) -> bool {
    !local.is_empty()
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(local_char))
}

fn label_char(c: char) -> bool {
    c.is_alphanumeric() || c == '-' || c.general_category_group() == GeneralCategoryGroup::Mark
}

fn plausible_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let Some(top) = labels.last() else {
        return false;
    };
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= MAX_LABEL
                && label.chars().all(label_char)
                && label.chars().next().is_some_and(char::is_alphanumeric)
                && !label.ends_with('-')
        })
        && top.chars().count() >= 2
        && !top.chars().all(|c| c.is_ascii_digit())
}

/// The one lookup form of an e-mail address, or why it is refused: every path that takes an
/// address calls this (see the module docs). It checks the characters and that there is one
/// `@` between non-empty parts; [`check_new`] adds the shape rules for a new account.
pub fn normalize_email(raw: &str) -> Result<String, InvalidEmail> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(InvalidEmail::Empty);
    }
    // Bound the work before normalising (NFKC can expand a character up to 18 times).
    if trimmed.len() > 4 * MAX_LENGTH {
        return Err(InvalidEmail::TooLong);
    }
    if let Some(c) = trimmed.chars().find(|c| refused(*c)) {
        return Err(InvalidEmail::Invisible(c));
    }
    let folded: String = trimmed.nfkc().collect::<String>().to_lowercase();
    let email: String = folded.nfkc().collect();
    // NFKC can turn a visible character into a space or a control (e.g. U+3000, U+2028).
    if let Some(c) = email.chars().find(|c| refused(*c)) {
        return Err(InvalidEmail::Invisible(c));
    }
    if email.len() > MAX_LENGTH {
        return Err(InvalidEmail::TooLong);
    }
    let mut parts = email.split('@');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(local), Some(domain), None) if !local.is_empty() && !domain.is_empty() => Ok(email),
        _ => Err(InvalidEmail::NotOneAddress),
    }
}

/// The shape rules an address must also pass to create an account: a dot-atom local part of
/// at most 64 bytes and a plausible domain. Lookups (login, the admin search) skip them, so
/// accounts created before them (say `root@localhost`) still sign in; they cannot create a
/// look-alike, since every spelling is first reduced by [`normalize_email`].
pub fn check_new(email: &str) -> Result<(), InvalidEmail> {
    let Some((local, domain)) = email.split_once('@') else {
        return Err(InvalidEmail::NotOneAddress);
    };
    if local.len() > MAX_LOCAL {
        return Err(InvalidEmail::TooLong);
    }
    if !plausible_local(local) {
        return Err(InvalidEmail::BadLocalPart);
    }
    if !plausible_domain(domain) {
        return Err(InvalidEmail::BadDomain);
    }
    Ok(())
}

/// [`normalize_email`] then [`check_new`]: the address of a new account.
pub fn new_account_email(raw: &str) -> Result<String, InvalidEmail> {
    let email = normalize_email(raw)?;
    check_new(&email)?;
    Ok(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alikes_fold_to_one_address() {
        for spelling in [
            "alice@example.org",
            "  alice@example.org\t",
            "ALICE@Example.ORG",
            "ａｌｉｃｅ＠ｅｘａｍｐｌｅ．ｏｒｇ",
            "\u{3000}Alice@example.org\u{3000}",
            "alice\u{FE6B}example.org",
        ] {
            assert_eq!(
                normalize_email(spelling).as_deref(),
                Ok("alice@example.org"),
                "{spelling:?}"
            );
        }
        // Existing ASCII accounts: the same string as the earlier trim + lowercase.
        for ascii in ["root@test.local", " Dr.Who+x@Clinic.Test "] {
            assert_eq!(
                normalize_email(ascii),
                Ok(ascii.trim().to_lowercase()),
                "{ascii}"
            );
        }
        // Non-ASCII addresses stay (lowercased) and normalisation is idempotent.
        let once = normalize_email("Jürgen.Ｍüller@Bücher.example").expect("valid");
        assert_eq!(once, "jürgen.müller@bücher.example");
        assert_eq!(normalize_email(&once), Ok(once.clone()));
        // Decomposed and composed spellings are one address.
        assert_eq!(
            normalize_email("ju\u{0308}rgen@example.org"),
            normalize_email("j\u{00FC}rgen@example.org")
        );
    }

    #[test]
    fn invisible_and_control_characters_are_refused() {
        for (spelling, c) in [
            ("ali\u{200B}ce@example.org", '\u{200B}'),
            ("ali\u{200C}ce@example.org", '\u{200C}'),
            ("ali\u{200D}ce@example.org", '\u{200D}'),
            ("ali\u{00AD}ce@example.org", '\u{00AD}'),
            ("\u{FEFF}alice@example.org", '\u{FEFF}'),
            ("alice@exa\u{202E}mple.org", '\u{202E}'),
            ("alice@example.org\u{2066}", '\u{2066}'),
            ("ali\u{0000}ce@example.org", '\u{0000}'),
            ("ali\nce@example.org", '\n'),
            ("ali\u{034F}ce@example.org", '\u{034F}'),
            ("ali\u{FE0F}ce@example.org", '\u{FE0F}'),
            ("ali\u{3164}ce@example.org", '\u{3164}'),
            ("alice@ex\u{E0041}ample.org", '\u{E0041}'),
            ("ali\u{E000}ce@example.org", '\u{E000}'),
            ("ali ce@example.org", ' '),
            ("ali\u{00A0}ce@example.org", '\u{00A0}'),
            ("ali\u{2028}ce@example.org", '\u{2028}'),
        ] {
            assert_eq!(
                normalize_email(spelling),
                Err(InvalidEmail::Invisible(c)),
                "{spelling:?}"
            );
        }
        let message = InvalidEmail::Invisible('\u{200B}').message();
        assert!(message.contains("U+200B"), "{message}");
    }

    #[test]
    fn only_one_plausible_address_is_accepted() {
        for (spelling, why) in [
            ("", InvalidEmail::Empty),
            ("   ", InvalidEmail::Empty),
            ("alice", InvalidEmail::NotOneAddress),
            ("@example.org", InvalidEmail::NotOneAddress),
            ("alice@", InvalidEmail::NotOneAddress),
            ("a@b@example.org", InvalidEmail::NotOneAddress),
            (
                "alice@example.org,bob@example.org",
                InvalidEmail::NotOneAddress,
            ),
            (".alice@example.org", InvalidEmail::BadLocalPart),
            ("al..ice@example.org", InvalidEmail::BadLocalPart),
            ("\"alice\"@example.org", InvalidEmail::BadLocalPart),
            ("alice@localhost", InvalidEmail::BadDomain),
            ("alice@example..org", InvalidEmail::BadDomain),
            ("alice@-example.org", InvalidEmail::BadDomain),
            ("alice@example-.org", InvalidEmail::BadDomain),
            ("alice@127.0.0.1", InvalidEmail::BadDomain),
            ("alice@[127.0.0.1]", InvalidEmail::BadDomain),
            ("alice@example.o", InvalidEmail::BadDomain),
            ("alice@exa_mple.org", InvalidEmail::BadDomain),
        ] {
            assert_eq!(new_account_email(spelling), Err(why), "{spelling:?}");
        }
        let long_local = format!("{}@example.org", "a".repeat(65));
        assert_eq!(new_account_email(&long_local), Err(InvalidEmail::TooLong));
        let long = format!("a@{}.org", "b".repeat(260));
        assert_eq!(normalize_email(&long), Err(InvalidEmail::TooLong));
        assert_eq!(
            normalize_email(&"ｘ".repeat(2000)),
            Err(InvalidEmail::TooLong)
        );
        assert!(new_account_email("o'brien+tag@mail.example-clinic.org").is_ok());
        // Lookups take any one-@ address, so accounts from before the shape rules still work.
        assert_eq!(
            normalize_email(" Root@LocalHost "),
            Ok("root@localhost".to_owned())
        );
        assert_eq!(
            normalize_email("a@b@example.org"),
            Err(InvalidEmail::NotOneAddress)
        );
    }
}
