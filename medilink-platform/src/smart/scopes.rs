//! SMART App Launch 2.2 scopes: parsing ([`Scope::parse`]: v2 `context/Type.cruds` with the
//! `?category=` granular form, v1 `.read`/`.write`/`.*` mapped to v2, and the launch, identity
//! and refresh scopes) and [`AppAccess`], what an access token lets its app do with the data —
//! the part of a [`crate::Caller`] the consent policy intersects with the user's own rights.

use std::fmt;

use medilink_fhir::ResourceType;
use serde::{Deserialize, Serialize};

/// The context prefix of a resource scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeContext {
    /// `patient/`: the data of the token's patient context only.
    Patient,
    /// `user/`: whatever the signed-in user may see.
    User,
    /// `system/`: a Backend Services client, no user.
    System,
}

impl ScopeContext {
    /// The prefix without its slash.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeContext::Patient => "patient",
            ScopeContext::User => "user",
            ScopeContext::System => "system",
        }
    }
}

/// The SMART v2 permissions `c r u d s`, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Permissions(u8);

impl Permissions {
    /// create
    pub const CREATE: Permissions = Permissions(1);
    /// read
    pub const READ: Permissions = Permissions(2);
    /// update
    pub const UPDATE: Permissions = Permissions(4);
    /// delete
    pub const DELETE: Permissions = Permissions(8);
    /// search
    pub const SEARCH: Permissions = Permissions(16);

    const LETTERS: [(char, Permissions); 5] = [
        ('c', Permissions::CREATE),
        ('r', Permissions::READ),
        ('u', Permissions::UPDATE),
        ('d', Permissions::DELETE),
        ('s', Permissions::SEARCH),
    ];

    /// Parses `cruds` letters (each at most once, in that order, at least one).
    pub fn parse(text: &str) -> Option<Permissions> {
        let mut bits = 0u8;
        let mut last = 0usize;
        for letter in text.chars() {
            let position = Self::LETTERS.iter().position(|(l, _)| *l == letter)?;
            let bit = Self::LETTERS[position].1.0;
            if bits & bit != 0 || (bits != 0 && position < last) {
                return None;
            }
            bits |= bit;
            last = position;
        }
        (bits != 0).then_some(Permissions(bits))
    }

    /// Whether every permission of `other` is in `self`.
    pub fn contains(self, other: Permissions) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any permission of `other` is in `self`.
    pub fn any(self, other: Permissions) -> bool {
        self.0 & other.0 != 0
    }

    /// The union.
    pub fn union(self, other: Permissions) -> Permissions {
        Permissions(self.0 | other.0)
    }

    /// Reading: `r` or `s`.
    pub fn reads(self) -> bool {
        self.any(Permissions::READ.union(Permissions::SEARCH))
    }

    /// Writing: `c`, `u` or `d`.
    pub fn writes(self) -> bool {
        self.any(
            Permissions::CREATE
                .union(Permissions::UPDATE)
                .union(Permissions::DELETE),
        )
    }
}

impl fmt::Display for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (letter, bit) in Self::LETTERS {
            if self.contains(bit) {
                write!(f, "{letter}")?;
            }
        }
        Ok(())
    }
}

/// A `?category=` restriction of a granular scope: `system|code` or a bare `code`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Category {
    /// The code system (none: any).
    pub system: Option<String>,
    /// The code.
    pub code: String,
}

impl Category {
    /// Whether a `CodeableConcept` coding (`system`, `code`) matches.
    pub fn matches(&self, system: Option<&str>, code: &str) -> bool {
        code == self.code
            && self
                .system
                .as_deref()
                .is_none_or(|wanted| system == Some(wanted))
    }
}

/// A resource scope: `context/Type.perms[?category=…]` (`Type` `*` is every type).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResourceScope {
    /// `patient`, `user` or `system`.
    pub context: ScopeContext,
    /// The type (none: `*`).
    pub resource_type: Option<ResourceType>,
    /// The permissions.
    pub permissions: Permissions,
    /// The granular restriction (Observation's `category`).
    pub category: Option<Category>,
}

impl ResourceScope {
    /// Whether it is about `resource_type`.
    pub fn covers(&self, resource_type: ResourceType) -> bool {
        self.resource_type.is_none_or(|own| own == resource_type)
    }

    /// Whether every access `other` allows is allowed by `self` (for narrowing checks).
    pub fn includes(&self, other: &ResourceScope) -> bool {
        self.context == other.context
            && (self.resource_type.is_none() || self.resource_type == other.resource_type)
            && self.permissions.contains(other.permissions)
            && (self.category.is_none() || self.category == other.category)
    }
}

impl fmt::Display for ResourceScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.resource_type.map_or("*", ResourceType::as_str);
        write!(f, "{}/{name}.{}", self.context.as_str(), self.permissions)?;
        if let Some(category) = &self.category {
            match &category.system {
                Some(system) => write!(f, "?category={system}|{}", category.code)?,
                None => write!(f, "?category={}", category.code)?,
            }
        }
        Ok(())
    }
}

/// One scope a SMART client may ask for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A resource scope.
    Resource(ResourceScope),
    /// `launch`: an EHR launch's context.
    Launch,
    /// `launch/patient`: a patient context in a standalone launch.
    LaunchPatient,
    /// `openid`: an id_token.
    OpenId,
    /// `fhirUser`: the user's FHIR resource in the id_token.
    FhirUser,
    /// `offline_access`: a refresh token that outlives the session.
    OfflineAccess,
    /// `online_access`: a refresh token (treated like `offline_access`, shorter-lived in the
    /// spec; MediLink issues the same).
    OnlineAccess,
}

impl Scope {
    /// Parses one scope (`None`: not a scope MediLink knows; such scopes are dropped from a
    /// request, never granted).
    pub fn parse(text: &str) -> Option<Scope> {
        match text {
            "launch" => return Some(Scope::Launch),
            "launch/patient" => return Some(Scope::LaunchPatient),
            "openid" => return Some(Scope::OpenId),
            "fhirUser" => return Some(Scope::FhirUser),
            "offline_access" => return Some(Scope::OfflineAccess),
            "online_access" => return Some(Scope::OnlineAccess),
            _ => {}
        }
        let (context, rest) = text.split_once('/')?;
        let context = match context {
            "patient" => ScopeContext::Patient,
            "user" => ScopeContext::User,
            "system" => ScopeContext::System,
            _ => return None,
        };
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (rest, None),
        };
        let (name, permissions) = rest.split_once('.')?;
        let resource_type = match name {
            "*" => None,
            name => Some(ResourceType::from_name(name)?),
        };
        let permissions = match permissions {
            // SMART v1, mapped to v2.
            "read" => Permissions::READ.union(Permissions::SEARCH),
            "write" => Permissions::CREATE
                .union(Permissions::UPDATE)
                .union(Permissions::DELETE),
            "*" => Permissions::parse("cruds")?,
            letters => Permissions::parse(letters)?,
        };
        let category = match query {
            None => None,
            Some(query) => {
                let value = query.strip_prefix("category=")?;
                if value.is_empty() || value.contains('&') {
                    return None;
                }
                Some(match value.split_once('|') {
                    Some((system, code)) if !code.is_empty() => Category {
                        system: (!system.is_empty()).then(|| system.to_owned()),
                        code: code.to_owned(),
                    },
                    Some(_) => return None,
                    None => Category {
                        system: None,
                        code: value.to_owned(),
                    },
                })
            }
        };
        Some(Scope::Resource(ResourceScope {
            context,
            resource_type,
            permissions,
            category,
        }))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Resource(scope) => scope.fmt(f),
            Scope::Launch => f.write_str("launch"),
            Scope::LaunchPatient => f.write_str("launch/patient"),
            Scope::OpenId => f.write_str("openid"),
            Scope::FhirUser => f.write_str("fhirUser"),
            Scope::OfflineAccess => f.write_str("offline_access"),
            Scope::OnlineAccess => f.write_str("online_access"),
        }
    }
}

/// The known scopes of a space-separated list, in order, without repeats (unknown ones
/// dropped).
pub fn parse_scopes(text: &str) -> Vec<Scope> {
    let mut scopes: Vec<Scope> = Vec::new();
    for scope in text.split_whitespace().filter_map(Scope::parse) {
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    scopes
}

/// A list of scopes as the space-separated text of OAuth.
pub fn scope_text(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a SMART access token lets its app do with data, beside the user's own rights: carried
/// by the [`crate::Caller`] of each request made with it. The consent policy intersects it with
/// those rights where the restriction is planned into a query (`medilink-consent`'s `access`)
/// and where single resources are decided (`decide`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppAccess {
    /// The app (its `client_id`).
    pub client_id: String,
    /// The resource scopes granted.
    pub scopes: Vec<ResourceScope>,
    /// The patient context (`patient/` scopes reach this patient's data only).
    pub patient: Option<String>,
}

impl AppAccess {
    /// The resource scopes of `scopes` usable with `patient` as context: `patient/` scopes
    /// only with a patient context.
    pub fn new(client_id: &str, scopes: &[Scope], patient: Option<String>) -> AppAccess {
        let scopes = scopes
            .iter()
            .filter_map(|scope| match scope {
                Scope::Resource(scope) => Some(scope.clone()),
                _ => None,
            })
            .filter(|scope| scope.context != ScopeContext::Patient || patient.is_some())
            .collect();
        AppAccess {
            client_id: client_id.to_owned(),
            scopes,
            patient,
        }
    }

    fn matching(
        &self,
        resource_type: ResourceType,
        write: bool,
    ) -> impl Iterator<Item = &ResourceScope> {
        self.scopes.iter().filter(move |scope| {
            scope.covers(resource_type)
                && if write {
                    scope.permissions.writes()
                } else {
                    scope.permissions.reads()
                }
        })
    }

    /// Whether some scope allows reading (`write`: writing) `resource_type`.
    pub fn permits(&self, resource_type: ResourceType, write: bool) -> bool {
        self.matching(resource_type, write).next().is_some()
    }

    /// Whether data of `resource_type` is limited to the patient context: no `user/` or
    /// `system/` scope covers the type, only `patient/` ones.
    pub fn patient_only(&self, resource_type: ResourceType, write: bool) -> bool {
        self.matching(resource_type, write)
            .all(|scope| scope.context == ScopeContext::Patient)
    }

    /// The categories reading `resource_type` is limited to (`None`: not limited, because
    /// some scope covering it has no category).
    pub fn categories(&self, resource_type: ResourceType) -> Option<Vec<Category>> {
        let mut categories = Vec::new();
        for scope in self.matching(resource_type, false) {
            match &scope.category {
                Some(category) => categories.push(category.clone()),
                None => return None,
            }
        }
        Some(categories)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Scope {
        Scope::parse(text).unwrap_or_else(|| panic!("{text} parses"))
    }

    #[test]
    fn v2_v1_and_granular_scopes_parse_and_print_canonically() {
        assert_eq!(
            one("patient/Observation.rs").to_string(),
            "patient/Observation.rs"
        );
        assert_eq!(one("patient/*.cruds").to_string(), "patient/*.cruds");
        assert_eq!(one("user/Patient.read").to_string(), "user/Patient.rs");
        assert_eq!(one("user/Patient.write").to_string(), "user/Patient.cud");
        assert_eq!(one("system/*.*").to_string(), "system/*.cruds");
        assert_eq!(
            one("patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory")
                .to_string(),
            "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
        );
        for bad in [
            "patient/Observation.sr",
            "patient/Observation.rr",
            "patient/Nope.rs",
            "patient/Observation.",
            "practitioner/Observation.rs",
            "patient/Observation.rs?code=1",
            "patient/Observation.rs?category=a|",
        ] {
            assert_eq!(Scope::parse(bad), None, "{bad}");
        }
        assert_eq!(
            parse_scopes("openid fhirUser launch/patient offline_access junk openid"),
            vec![
                Scope::OpenId,
                Scope::FhirUser,
                Scope::LaunchPatient,
                Scope::OfflineAccess
            ]
        );
    }

    #[test]
    fn app_access_permits_by_type_action_and_category() {
        let scopes = parse_scopes(
            "patient/Patient.r patient/Observation.rs?category=laboratory user/Condition.s",
        );
        let app = AppAccess::new("app", &scopes, Some("p1".into()));
        assert!(app.permits(ResourceType::Patient, false));
        assert!(!app.permits(ResourceType::Patient, true));
        assert!(!app.permits(ResourceType::Encounter, false));
        assert!(app.patient_only(ResourceType::Observation, false));
        assert!(!app.patient_only(ResourceType::Condition, false));
        let categories = app.categories(ResourceType::Observation).expect("limited");
        assert!(categories[0].matches(Some("any"), "laboratory"));
        assert!(!categories[0].matches(None, "vital-signs"));
        assert_eq!(app.categories(ResourceType::Patient), None);
        // Without a patient context, patient/ scopes grant nothing.
        let none = AppAccess::new("app", &scopes, None);
        assert!(!none.permits(ResourceType::Patient, false));
        assert!(none.permits(ResourceType::Condition, false));
    }
}
