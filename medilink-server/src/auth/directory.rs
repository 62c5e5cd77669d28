//! The clinician directory and display names: who a patient can share their records with
//! (active physicians found by name) and the names shown in a patient's access log.
//!
//! Names and e-mails are encrypted at rest, so the store cannot filter them: the directory
//! lists active physicians page by page and matches the decrypted names in memory. The
//! directory never returns an e-mail address: an account without a name is matched by the
//! local part of its e-mail but listed without a name. Only a patient's own consents and
//! access log name a nameless account by its e-mail ([`Auth::names_or_emails`]): people the
//! patient shares with or who read their records.

use std::collections::{BTreeSet, HashMap};

use medilink_platform::{AccountStatus, Role, UserFilter, UserId, UserRecord};
use serde::Serialize;

use super::Auth;
use crate::error::ApiError;

/// Accounts read per page while scanning the physicians (the store's largest page).
const SCAN_PAGE: usize = 1000;

/// A clinician as the directory shows them to any signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Clinician)]
pub struct ClinicianView {
    /// The account id (what a consent names as grantee).
    pub id: String,
    /// The display name (`None` when the account has none).
    #[schema(required = true)]
    pub name: Option<String>,
    /// Always `physician` today.
    #[schema(value_type = crate::api::RoleName)]
    pub role: &'static str,
}

/// Whether `query` (already lowercased) occurs in `name` or, without a name, in the local
/// part of `email`, ignoring case.
fn matches(query: &str, name: Option<&str>, email: Option<&str>) -> bool {
    let haystack = match name {
        Some(name) => name,
        None => email
            .and_then(|email| email.split_once('@'))
            .map_or("", |(local, _)| local),
    };
    haystack.to_lowercase().contains(query)
}

/// Orders clinicians by name (case-insensitive; nameless last), then by id.
fn sort_key(view: &ClinicianView) -> (bool, String, String) {
    (
        view.name.is_none(),
        view.name.as_deref().unwrap_or_default().to_lowercase(),
        view.id.clone(),
    )
}

impl Auth {
    fn open_text(&self, field: &str, sealed: &[u8]) -> Option<String> {
        self.keys
            .open(field, sealed)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The decrypted display name of `user`, when it has a non-blank one.
    fn display_name(&self, user: &UserRecord) -> Option<String> {
        let sealed = user.name_enc.as_deref()?;
        let name = self.open_text("name", sealed)?;
        let name = name.trim();
        (!name.is_empty()).then(|| name.to_owned())
    }

    /// Active physicians whose name (or, without one, e-mail local part) contains `query`
    /// case-insensitively, by name, at most `limit`.
    pub async fn find_clinicians(
        &self,
        query: &str,
        limit: usize,
    ) -> Result<Vec<ClinicianView>, ApiError> {
        let query = query.to_lowercase();
        let mut found = Vec::new();
        let mut offset = 0;
        loop {
            let filter = UserFilter {
                role: Some(Role::Physician),
                status: Some(AccountStatus::Active),
                email_hash: None,
                limit: SCAN_PAGE,
                offset,
            };
            let page = self.accounts.list_users(&filter).await?;
            for user in &page {
                let name = self.display_name(user);
                // The e-mail is opened only to match a nameless account, and never returned.
                let email = match name {
                    Some(_) => None,
                    None => self.open_text("email", &user.email_enc),
                };
                if matches(&query, name.as_deref(), email.as_deref()) {
                    found.push(ClinicianView {
                        id: user.id.to_string(),
                        name,
                        role: Role::Physician.as_str(),
                    });
                }
            }
            if page.len() < SCAN_PAGE {
                break;
            }
            offset += page.len();
        }
        found.sort_by_cached_key(sort_key);
        found.truncate(limit);
        Ok(found)
    }

    /// The display names of the accounts `ids`, each looked up once; accounts that are
    /// unknown or have no name are left out.
    pub async fn display_names<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<HashMap<String, String>, ApiError> {
        let distinct: BTreeSet<&str> = ids.into_iter().collect();
        let mut names = HashMap::with_capacity(distinct.len());
        for id in distinct {
            let user = self.accounts.user(&UserId(id.to_owned())).await?;
            if let Some(name) = user.as_ref().and_then(|user| self.display_name(user)) {
                names.insert(id.to_owned(), name);
            }
        }
        Ok(names)
    }

    /// What a patient is shown for the accounts `ids` (those they share with or who read
    /// their records): the display name, else the e-mail address, never a bare account id
    /// (issue #16); unknown accounts are left out.
    pub async fn names_or_emails<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<HashMap<String, String>, ApiError> {
        let distinct: BTreeSet<&str> = ids.into_iter().collect();
        let mut labels = HashMap::with_capacity(distinct.len());
        for id in distinct {
            let Some(user) = self.accounts.user(&UserId(id.to_owned())).await? else {
                continue;
            };
            let label = self
                .display_name(&user)
                .or_else(|| self.open_text("email", &user.email_enc));
            if let Some(label) = label {
                labels.insert(id.to_owned(), label);
            }
        }
        Ok(labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_name_case_insensitively() {
        assert!(matches("hop", Some("Grace Hopper"), None));
        assert!(matches("grace h", Some("GRACE HOPPER"), Some("gh@x.test")));
        assert!(!matches("lovelace", Some("Grace Hopper"), None));
    }

    #[test]
    fn a_named_account_is_not_matched_by_its_email() {
        assert!(!matches("gh", Some("Grace Hopper"), Some("gh@x.test")));
    }

    #[test]
    fn a_nameless_account_is_matched_by_its_email_local_part_only() {
        assert!(matches("smith", None, Some("J.Smith@clinic.test")));
        assert!(!matches("clinic", None, Some("j.smith@clinic.test")));
        assert!(!matches("sm", None, None));
    }

    #[test]
    fn clinicians_sort_by_name_then_id_nameless_last() {
        let view = |id: &str, name: Option<&str>| ClinicianView {
            id: id.to_owned(),
            name: name.map(str::to_owned),
            role: "physician",
        };
        let mut views = [
            view("3", None),
            view("2", Some("bob")),
            view("1", Some("Alice")),
            view("0", Some("bob")),
        ];
        views.sort_by_cached_key(sort_key);
        let ids: Vec<&str> = views.iter().map(|v| v.id.as_str()).collect();
        assert_eq!(ids, ["1", "0", "2", "3"]);
    }
}
