//! The access decision: [`decide`] (who × what × target → allow/deny with the reason and the
//! grant that allowed it) and [`access`] (which patients' data of a type a caller may see,
//! the restriction the guard adds to queries). Pure: no I/O, the instant is an argument.
//!
//! A resource **belongs to every patient it references**: its own id for a `Patient`, and
//! every reference to a `Patient` anywhere in it, whatever the element (the Patient
//! compartment's parameters, but also `Device.patient`, `Binary.securityContext`,
//! `Observation.performer`, `Group.member`, `Patient.link`, extensions, contained and bundled
//! resources: [`medilink_fhir::search::compartment::referenced_patients`]). The stores index
//! the same set (`_patient` rows), so searches and single-resource decisions agree.
//!
//! The rules:
//! - the platform itself (imports, jobs) may do anything;
//! - anonymous callers may do nothing;
//! - admins may do anything, and every decision is flagged for the audit trail;
//! - every other caller may read or write a resource only when permitted for **every**
//!   patient it belongs to, for the resource's type; Patient-compartment data must also
//!   belong to at least one patient;
//! - a patient is permitted for themself: they see their own data and, of other types, only
//!   resources that name them (and the directory);
//! - a physician is permitted for a patient, per type, by an active grant of that patient
//!   covering the type (a scoped grant permits its types only, at every chain hop too);
//!   data that belongs to no patient (`Medication`, an unassigned `Device`) is theirs to read
//!   and write;
//! - researchers read the directory only: patient data reaches them only as de-identified
//!   exports;
//! - the directory (`Practitioner`, `Organization`, `Location`, [`is_directory`]) is readable
//!   by every signed-in user, subject to the rule above (a directory resource naming a patient
//!   is that patient's data), and written by admins only;
//! - `Consent` resources are written only through the consent API (the platform), never
//!   through FHIR by a patient or physician;
//! - `Subscription` resources are their owners', served by the subscriptions service alone:
//!   on the generic paths only admins (and the platform) see them.

use medilink_fhir::{ResourceId, ResourceType};
use medilink_platform::Caller;
use medilink_platform::Role;
use time::OffsetDateTime;

use crate::compartment::is_compartment_type;
use crate::grant::Grant;

/// What the caller wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// read, vread, history, search.
    Read,
    /// create, update, patch, delete.
    Write,
}

/// The resource being accessed: its type and the patients whose compartment it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target<'a> {
    /// The type.
    pub resource_type: ResourceType,
    /// Compartment members (empty outside the compartment).
    pub patients: &'a [String],
}

/// Why a decision was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The platform's own work.
    System,
    /// An admin (logged).
    Admin,
    /// Directory data readable by every signed-in user.
    Directory,
    /// A resource type that holds no patient data.
    NotPatientData,
    /// The patient's own data.
    OwnData,
    /// An active consent.
    Consent,
    /// An active break-glass grant.
    BreakGlass,
    /// Not signed in.
    Anonymous,
    /// The role never gets this data.
    Role,
    /// No active consent covers it.
    NoConsent,
    /// `Consent` resources change only through the consent API.
    ConsentResource,
    /// The SMART app's scopes do not cover it (issue #17).
    Scope,
}

impl Reason {
    /// A short name for logs and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::System => "system",
            Reason::Admin => "admin",
            Reason::Directory => "directory",
            Reason::NotPatientData => "not-patient-data",
            Reason::OwnData => "own-data",
            Reason::Consent => "consent",
            Reason::BreakGlass => "break-glass",
            Reason::Anonymous => "anonymous",
            Reason::Role => "role",
            Reason::NoConsent => "no-consent",
            Reason::ConsentResource => "consent-resource",
            Reason::Scope => "scope",
        }
    }
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Allowed or not.
    pub allow: bool,
    /// Why.
    pub reason: Reason,
    /// The consent id that allowed it (physicians).
    pub grant: Option<String>,
    /// Whether the decision must be called out in the audit trail (admin, break-glass).
    pub flagged: bool,
}

impl Decision {
    fn allow(reason: Reason) -> Decision {
        Decision {
            allow: true,
            reason,
            grant: None,
            flagged: matches!(reason, Reason::Admin | Reason::BreakGlass),
        }
    }

    fn deny(reason: Reason) -> Decision {
        Decision {
            allow: false,
            reason,
            grant: None,
            flagged: false,
        }
    }
}

/// The directory: definitional types every signed-in user may read and only admins write —
/// who provides care (practitioners, organizations, locations, services, endpoints) and the
/// terminology and conformance resources that give data its meaning. None of them is about a
/// patient; one that names a patient all the same is that patient's data ([`decide`]).
pub fn is_directory(resource_type: ResourceType) -> bool {
    use ResourceType as T;
    matches!(
        resource_type,
        T::Practitioner
            | T::PractitionerRole
            | T::Organization
            | T::Location
            | T::HealthcareService
            | T::Endpoint
            | T::CodeSystem
            | T::ValueSet
            | T::ConceptMap
            | T::NamingSystem
            | T::TerminologyCapabilities
            | T::CapabilityStatement
            | T::StructureDefinition
            | T::StructureMap
            | T::ImplementationGuide
            | T::SearchParameter
            | T::OperationDefinition
            | T::CompartmentDefinition
    )
}

/// Which data of one type a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Everything of the type.
    All,
    /// Only resources all of whose patients are in `permitted` (and, with `member`, that have
    /// at least one patient).
    Patients {
        /// The patients whose data of the type the caller may see (sorted).
        permitted: Vec<String>,
        /// Whether a resource that belongs to no patient is hidden too.
        member: bool,
    },
    /// Nothing, whatever the patient: the role never gets this type.
    Denied(Reason),
}

impl Access {
    /// Whether a resource of the type belonging to `patients` may be seen.
    pub fn admits(&self, patients: &[String]) -> bool {
        match self {
            Access::All => true,
            Access::Denied(_) => false,
            Access::Patients { permitted, member } => {
                (!member || !patients.is_empty())
                    && patients
                        .iter()
                        .all(|patient| permitted.binary_search(patient).is_ok())
            }
        }
    }
}

/// What `principal` may read of `resource_type` at `now`, given the grants naming it as
/// grantee: the restriction a search or history query gets, at its own type and at every
/// chain and `_has` hop.
pub fn access(
    principal: &Caller,
    resource_type: ResourceType,
    grants: &[Grant],
    now: OffsetDateTime,
) -> Access {
    narrowed(
        principal,
        resource_type,
        user_access(principal, resource_type, grants, now),
    )
}

/// [`access`] narrowed by the SMART app the caller acts through, if any: a type no scope
/// covers is denied, and data a `patient/` scope alone covers is the token's patient's only
/// (intersected with what the user may see: never more).
fn narrowed(principal: &Caller, resource_type: ResourceType, user: Access) -> Access {
    let Some(app) = principal.app() else {
        return user;
    };
    if !app.permits(resource_type, false) {
        return Access::Denied(Reason::Scope);
    }
    if !app.patient_only(resource_type, false) {
        return user;
    }
    let Some(context) = &app.patient else {
        return Access::Denied(Reason::Scope);
    };
    match user {
        Access::All => Access::Patients {
            permitted: vec![context.clone()],
            member: false,
        },
        Access::Patients { permitted, member } => Access::Patients {
            permitted: permitted
                .into_iter()
                .filter(|patient| patient == context)
                .collect(),
            member,
        },
        denied => denied,
    }
}

/// Whether the SMART app the caller acts through (if any) lets it do `action` on `target`:
/// a scope covers the type and action, and a `patient/`-only type is the token's patient's.
fn app_allows(principal: &Caller, action: Action, target: &Target<'_>) -> bool {
    let Some(app) = principal.app() else {
        return true;
    };
    let write = action == Action::Write;
    if !app.permits(target.resource_type, write) {
        return false;
    }
    if !app.patient_only(target.resource_type, write) {
        return true;
    }
    app.patient
        .as_ref()
        .is_some_and(|context| target.patients.iter().all(|patient| patient == context))
}

/// What the user may see of `resource_type`, before any app narrowing.
fn user_access(
    principal: &Caller,
    resource_type: ResourceType,
    grants: &[Grant],
    now: OffsetDateTime,
) -> Access {
    match rule(principal, resource_type) {
        Rule::All => Access::All,
        Rule::Denied(reason) => Access::Denied(reason),
        Rule::Patients { member } => {
            let mut permitted: Vec<String> = match principal {
                Caller::User {
                    role: Role::Patient,
                    patient_id,
                    ..
                } => patient_id.iter().map(|id| id.as_str().to_owned()).collect(),
                Caller::User {
                    role: Role::Physician,
                    user_id,
                    ..
                } => grants
                    .iter()
                    .filter(|grant| {
                        grant.grantee == user_id.as_str() && grant.permits(resource_type, now)
                    })
                    .map(|grant| grant.patient.clone())
                    .collect(),
                _ => Vec::new(),
            };
            permitted.sort();
            permitted.dedup();
            Access::Patients { permitted, member }
        }
    }
}

/// [`access`] without the permitted list: what single-resource decisions need, asking the
/// grants per patient instead ([`permitted`]).
enum Rule {
    All,
    Denied(Reason),
    Patients { member: bool },
}

fn rule(principal: &Caller, resource_type: ResourceType) -> Rule {
    let role = match principal {
        Caller::System => return Rule::All,
        Caller::Anonymous => return Rule::Denied(Reason::Anonymous),
        Caller::User { role, .. } => *role,
    };
    let directory = is_directory(resource_type);
    match role {
        Role::Admin => Rule::All,
        // A subscription is its owner's, served by `subscriptions::Subscriptions` only (its
        // endpoint and headers may hold the owner's secrets): no generic path shows one.
        _ if resource_type == ResourceType::Subscription => Rule::Denied(Reason::Role),
        Role::Researcher if !directory => Rule::Denied(Reason::Role),
        // A patient sees only what is about them (beyond the directory); a physician sees
        // compartment data only of a patient, and other data unless it names someone else.
        _ => Rule::Patients {
            member: !directory && (role == Role::Patient || is_compartment_type(resource_type)),
        },
    }
}

/// Whether `principal` is permitted for `patient`'s data of `resource_type` at `now`.
fn permitted(
    principal: &Caller,
    resource_type: ResourceType,
    grants: &[Grant],
    now: OffsetDateTime,
    patient: &str,
) -> bool {
    match principal {
        Caller::User {
            role: Role::Patient,
            patient_id,
            ..
        } => patient_id.as_ref().map(ResourceId::as_str) == Some(patient),
        Caller::User {
            role: Role::Physician,
            user_id,
            ..
        } => grants.iter().any(|grant| {
            grant.grantee == user_id.as_str()
                && grant.patient == patient
                && grant.permits(resource_type, now)
        }),
        _ => false,
    }
}

/// The one decision function: may `principal` do `action` on `target` at `now`, given the
/// grants naming it as grantee? The rule is the one [`access`] gives searches: every patient
/// the resource belongs to must be permitted (for the resource's type), and compartment data
/// must belong to at least one. Writes of directory data are the admins'.
pub fn decide(
    principal: &Caller,
    action: Action,
    target: &Target<'_>,
    grants: &[Grant],
    now: OffsetDateTime,
) -> Decision {
    let role = principal.role();
    if target.resource_type == ResourceType::Consent
        && action == Action::Write
        && !matches!(principal, Caller::System)
        && role != Some(Role::Admin)
    {
        return Decision::deny(Reason::ConsentResource);
    }
    if !app_allows(principal, action, target) {
        return Decision::deny(Reason::Scope);
    }
    let directory = is_directory(target.resource_type);
    let member = match rule(principal, target.resource_type) {
        Rule::All => {
            return Decision::allow(match principal {
                Caller::System => Reason::System,
                _ => Reason::Admin,
            });
        }
        Rule::Denied(reason) => return Decision::deny(reason),
        Rule::Patients { .. } if directory && action == Action::Write => {
            return Decision::deny(Reason::Role);
        }
        Rule::Patients { member } => member,
    };
    let admitted = (!member || !target.patients.is_empty())
        && target
            .patients
            .iter()
            .all(|patient| permitted(principal, target.resource_type, grants, now, patient));
    if !admitted {
        return Decision::deny(match role {
            Some(Role::Physician) => Reason::NoConsent,
            _ => Reason::Role,
        });
    }
    if target.patients.is_empty() {
        return Decision::allow(if directory {
            Reason::Directory
        } else {
            Reason::NotPatientData
        });
    }
    if role == Some(Role::Patient) {
        return Decision::allow(Reason::OwnData);
    }
    let user_id = match principal {
        Caller::User { user_id, .. } => user_id.as_str(),
        _ => "",
    };
    // The grant that allowed it: a regular one when there is one, else break-glass.
    let mut covering: Vec<&Grant> = grants
        .iter()
        .filter(|grant| {
            grant.grantee == user_id
                && grant.permits(target.resource_type, now)
                && target.patients.contains(&grant.patient)
        })
        .collect();
    covering.sort_by_key(|grant| grant.is_break_glass());
    let grant = covering.first();
    let reason = if grant.is_some_and(|grant| grant.is_break_glass()) {
        Reason::BreakGlass
    } else {
        Reason::Consent
    };
    Decision {
        grant: grant.and_then(|grant| grant.id.clone()),
        ..Decision::allow(reason)
    }
}

#[cfg(test)]
mod tests;
