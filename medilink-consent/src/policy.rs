//! The access decision: [`decide`] (who × what × target → allow/deny with the reason and the
//! grant that allowed it) and [`access`] (which patients' data of a type a caller may see,
//! the restriction the guard adds to queries). Pure: no I/O, the instant is an argument.
//!
//! The rules:
//! - the platform itself (imports, jobs) may do anything;
//! - anonymous callers may do nothing;
//! - admins may do anything, and every decision is flagged for the audit trail;
//! - researchers may read only the directory (`Practitioner`, `Organization`, `Location`):
//!   patient data reaches them only as de-identified exports;
//! - every signed-in user may read the directory;
//! - a patient may read and write only resources in their own compartment;
//! - a physician may read resources in a patient's compartment only under an active grant of
//!   that patient covering the type, and write only resources whose every patient is so
//!   covered; resource types outside the compartment (no patient data) are theirs to read
//!   and write;
//! - `Consent` resources are written only through the consent API (the platform), never
//!   through FHIR by a patient or physician.

use medilink_fhir::platform::Role;
use medilink_fhir::{Caller, ResourceType};
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

/// Who is asking, reduced to what the policy needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The platform.
    System,
    /// Not signed in.
    Anonymous,
    /// A signed-in user.
    User {
        /// The user id.
        user_id: String,
        /// The role.
        role: Role,
        /// The linked patient (patients).
        patient_id: Option<String>,
    },
}

impl Principal {
    /// The principal of a request's caller.
    pub fn of(caller: &Caller) -> Principal {
        match caller {
            Caller::System => Principal::System,
            Caller::User {
                user_id,
                role,
                patient_id,
                ..
            } => Principal::User {
                user_id: user_id.as_str().to_owned(),
                role: *role,
                patient_id: patient_id.as_ref().map(|id| id.as_str().to_owned()),
            },
            _ => Principal::Anonymous,
        }
    }

    /// The role, for signed-in users.
    pub fn role(&self) -> Option<Role> {
        match self {
            Principal::User { role, .. } => Some(*role),
            _ => None,
        }
    }
}

/// Types every signed-in user may read.
pub fn is_directory(resource_type: ResourceType) -> bool {
    matches!(
        resource_type,
        ResourceType::Practitioner | ResourceType::Organization | ResourceType::Location
    )
}

/// Which data of one type a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Everything of the type.
    All,
    /// Only resources in these patients' compartments (possibly none).
    Patients(Vec<String>),
    /// Nothing, whatever the patient: the role never gets this type.
    Denied(Reason),
}

/// What `principal` may read of `resource_type` at `now`, given the grants naming it as
/// grantee: the restriction a search or history query gets.
pub fn access(
    principal: &Principal,
    resource_type: ResourceType,
    grants: &[Grant],
    now: OffsetDateTime,
) -> Access {
    let (user_id, role, own) = match principal {
        Principal::System => return Access::All,
        Principal::Anonymous => return Access::Denied(Reason::Anonymous),
        Principal::User {
            user_id,
            role,
            patient_id,
        } => (user_id, *role, patient_id),
    };
    match role {
        Role::Admin => Access::All,
        _ if is_directory(resource_type) => Access::All,
        Role::Researcher => Access::Denied(Reason::Role),
        Role::Patient if is_compartment_type(resource_type) => {
            Access::Patients(own.iter().cloned().collect())
        }
        Role::Patient => Access::Denied(Reason::Role),
        Role::Physician if is_compartment_type(resource_type) => {
            let mut patients: Vec<String> = grants
                .iter()
                .filter(|grant| grant.grantee == *user_id && grant.permits(resource_type, now))
                .map(|grant| grant.patient.clone())
                .collect();
            patients.sort();
            patients.dedup();
            Access::Patients(patients)
        }
        Role::Physician => Access::All,
    }
}

/// The one decision function: may `principal` do `action` on `target` at `now`, given the
/// grants naming it as grantee? Reads need one permitted compartment patient (the same rule
/// the search restriction applies); writes need every compartment patient permitted.
pub fn decide(
    principal: &Principal,
    action: Action,
    target: &Target<'_>,
    grants: &[Grant],
    now: OffsetDateTime,
) -> Decision {
    let role = principal.role();
    if target.resource_type == ResourceType::Consent
        && action == Action::Write
        && !matches!(principal, Principal::System)
        && role != Some(Role::Admin)
    {
        return Decision::deny(Reason::ConsentResource);
    }
    let user_id = match principal {
        Principal::User { user_id, .. } => user_id.as_str(),
        _ => "",
    };
    let ok = if role == Some(Role::Physician)
        && is_compartment_type(target.resource_type)
        && !is_directory(target.resource_type)
    {
        // What `access` would list, asked per target patient without building the list.
        judge(action, target.patients, |patient| {
            grants.iter().any(|grant| {
                grant.grantee == user_id
                    && grant.patient == *patient
                    && grant.permits(target.resource_type, now)
            })
        })
    } else {
        let patients = match access(principal, target.resource_type, grants, now) {
            Access::All => {
                let reason = match (principal, role) {
                    (Principal::System, _) => Reason::System,
                    (_, Some(Role::Admin)) => Reason::Admin,
                    _ if is_directory(target.resource_type) && action == Action::Read => {
                        Reason::Directory
                    }
                    _ if is_directory(target.resource_type) => {
                        return Decision::deny(Reason::Role);
                    }
                    _ => Reason::NotPatientData,
                };
                return Decision::allow(reason);
            }
            Access::Denied(reason) => return Decision::deny(reason),
            Access::Patients(patients) => patients,
        };
        judge(action, target.patients, |patient| {
            patients.contains(patient)
        })
    };
    if role == Some(Role::Patient) {
        return if ok {
            Decision::allow(Reason::OwnData)
        } else {
            Decision::deny(Reason::Role)
        };
    }
    if !ok {
        return Decision::deny(Reason::NoConsent);
    }
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

/// Reads need one permitted compartment patient; writes need all of them (and at least one).
fn judge(action: Action, patients: &[String], permitted: impl Fn(&String) -> bool) -> bool {
    match action {
        Action::Read => patients.iter().any(permitted),
        Action::Write => !patients.is_empty() && patients.iter().all(permitted),
    }
}

#[cfg(test)]
mod tests;
