//! [`Caller`]: who is making a request, the one type the crates above the store decide from
//! (the consent guard and policy, the services, the server's extractor), and
//! [`CallerContext`], which puts it into and reads it from `medilink_fhir::RequestContext`'s
//! opaque caller slot.

use std::sync::Arc;

use medilink_fhir::{RequestContext, ResourceId};

use crate::accounts::{Role, UserId};
use crate::smart::scopes::AppAccess;

/// Who is making a request. Exhaustive on purpose: a new kind of caller must be considered by
/// every decision that matches on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The platform itself (imports, migrations, jobs).
    System,
    /// A client without credentials, on a public route (the server's `PUBLIC_ROUTES`).
    Anonymous,
    /// An authenticated platform user.
    User {
        /// The account (the token's subject).
        user_id: UserId,
        /// Its role.
        role: Role,
        /// Whether the session passed a second factor.
        mfa: bool,
        /// The linked `Patient` of a patient account.
        patient_id: Option<ResourceId>,
        /// The purpose of use the request declares (an HL7 v3 `PurposeOfUse` code such as
        /// `TREAT`), when it declares one.
        purpose_of_use: Option<String>,
        /// The SMART app acting for the user (issue #17), with what its token's scopes allow:
        /// the consent policy intersects it with the user's own rights. `None`: the user's
        /// own session (the portals).
        app: Option<Arc<AppAccess>>,
    },
}

impl Caller {
    /// A signed-in user without a declared purpose of use.
    pub fn user(user_id: UserId, role: Role, mfa: bool, patient_id: Option<ResourceId>) -> Self {
        Caller::User {
            user_id,
            role,
            mfa,
            patient_id,
            purpose_of_use: None,
            app: None,
        }
    }

    /// The same caller acting through the SMART app `app` (a user's only).
    pub fn through_app(self, app: AppAccess) -> Self {
        match self {
            Caller::User {
                user_id,
                role,
                mfa,
                patient_id,
                purpose_of_use,
                ..
            } => Caller::User {
                user_id,
                role,
                mfa,
                patient_id,
                purpose_of_use,
                app: Some(Arc::new(app)),
            },
            other => other,
        }
    }

    /// The SMART app the request comes through, if any.
    pub fn app(&self) -> Option<&AppAccess> {
        match self {
            Caller::User { app, .. } => app.as_deref(),
            _ => None,
        }
    }

    /// The role, for signed-in users.
    pub fn role(&self) -> Option<Role> {
        match self {
            Caller::User { role, .. } => Some(*role),
            _ => None,
        }
    }

    /// The account, for signed-in users.
    pub fn user_id(&self) -> Option<&UserId> {
        match self {
            Caller::User { user_id, .. } => Some(user_id),
            _ => None,
        }
    }

    /// The linked patient, for signed-in patients.
    pub fn patient_id(&self) -> Option<&ResourceId> {
        match self {
            Caller::User { patient_id, .. } => patient_id.as_ref(),
            _ => None,
        }
    }
}

/// The platform's caller. An empty slot is the platform's own work.
static SYSTEM: Caller = Caller::System;
/// What a slot holding anything but a [`Caller`] counts as: nobody (fails closed).
static NOBODY: Caller = Caller::Anonymous;

/// Reading and setting the [`Caller`] of a `medilink_fhir::RequestContext` (whose caller slot
/// is opaque to that crate).
pub trait CallerContext {
    /// Who is asking: [`Caller::System`] for an empty slot
    /// (`RequestContext::system()`), [`Caller::Anonymous`] for a slot holding anything else
    /// than a [`Caller`].
    fn caller(&self) -> &Caller;

    /// A context for `caller`'s request `request_id` (no disclosure sink).
    fn for_caller(caller: Caller, request_id: impl Into<String>) -> Self
    where
        Self: Sized;

    /// A context for an unauthenticated request with the given id.
    fn anonymous(request_id: impl Into<String>) -> Self
    where
        Self: Sized,
    {
        Self::for_caller(Caller::Anonymous, request_id)
    }
}

impl CallerContext for RequestContext {
    fn caller(&self) -> &Caller {
        match &self.caller {
            None => &SYSTEM,
            Some(_) => self.caller_as::<Caller>().unwrap_or(&NOBODY),
        }
    }

    fn for_caller(caller: Caller, request_id: impl Into<String>) -> Self {
        let mut context = RequestContext::system();
        context.caller = match caller {
            Caller::System => None,
            caller => Some(Arc::new(caller)),
        };
        context.request_id = request_id.into();
        context
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slot_holds_the_caller() {
        assert_eq!(RequestContext::system().caller(), &Caller::System);
        assert_eq!(
            RequestContext::anonymous("r-1").caller(),
            &Caller::Anonymous
        );
        let user = Caller::user(UserId("u-1".into()), Role::Physician, true, None);
        let context = RequestContext::for_caller(user.clone(), "r-2");
        assert_eq!(context.caller(), &user);
        assert_eq!(context.request_id, "r-2");
        assert_eq!(context.caller().role(), Some(Role::Physician));
        // Anything else in the slot is nobody.
        let mut foreign = RequestContext::system();
        foreign.caller = Some(Arc::new("admin"));
        assert_eq!(foreign.caller(), &Caller::Anonymous);
    }
}
