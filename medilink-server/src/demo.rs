//! `serve --demo` (issue #16): a first run with something to see. Loads the synthetic
//! patients shipped in `testdata/` when the store has no patient yet, and creates a demo
//! admin and physician (both with TOTP enrolled) and a patient account linked to the imported
//! Synthea patient; the physician holds active consents from three imported patients.
//!
//! Idempotent: an account that exists is left alone and nothing secret about it is printed
//! again (its password and TOTP secret were printed once, when it was created); a missing
//! consent is granted again. `MEDILINK_ENV=production` refuses `--demo` before anything is
//! opened (`config.rs`).

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use medilink_consent::{ConsentStatus, GrantRequest};
use medilink_fhir::search::SearchQuery;
use medilink_fhir::{RequestContext, ResourceId, ResourceStore, ResourceType};
use medilink_platform::{AccountStatus, Caller, Role, UserId, UserRecord};
use serde_json::Value;

use crate::auth::crypto::random_token;
use crate::auth::demographics::Demographics;
use crate::auth::email::normalize_email;
use crate::auth::service::{NewAccount, PatientRecord};
use crate::auth::{AccountError, totp};
use crate::state::AppState;

/// The demo accounts' e-mail addresses (`.test`: a reserved domain, never delivered).
pub const ADMIN_EMAIL: &str = "admin@medilink.test";
/// The demo physician.
pub const PHYSICIAN_EMAIL: &str = "physician@medilink.test";
/// The demo patient.
pub const PATIENT_EMAIL: &str = "patient@medilink.test";
/// How many imported patients consent to the demo physician.
pub const CONSENTING_PATIENTS: usize = 3;
/// The identifier system of Synthea's patients.
const SYNTHEA_SYSTEM: &str = "https://github.com/synthetichealth/synthea";
/// The user id the demo set-up acts under when it grants for an imported patient that has
/// no account (recorded as the actor of those grants' audit records).
const SETUP_ACTOR: &str = "demo-setup";

/// One demo account and, when this run created it, its secrets.
#[derive(Debug, Clone)]
pub struct DemoAccount {
    /// `admin`, `physician` or `patient`.
    pub role: Role,
    /// The e-mail (the login).
    pub email: String,
    /// The account id.
    pub id: String,
    /// The password, when this run created the account.
    pub password: Option<String>,
    /// The `otpauth://` URI of its TOTP secret, when created now and TOTP is enrolled.
    pub otpauth_uri: Option<String>,
    /// The same secret in base32 (what `oathtool --totp -b` takes).
    pub totp_secret: Option<String>,
}

/// What [`prepare`] did.
#[derive(Debug, Clone)]
pub struct DemoSetup {
    /// Whether the demo data was imported by this run.
    pub imported: bool,
    /// The imported patients' ids (the first is the demo patient's record).
    pub patients: Vec<String>,
    /// The admin, physician and patient accounts.
    pub accounts: Vec<DemoAccount>,
    /// Consents granted to the physician by this run.
    pub consents_granted: usize,
}

/// Imports `testdata` when the store has no patient, then creates what is missing of the
/// demo accounts and consents.
pub async fn prepare(state: &AppState, testdata: &Path) -> anyhow::Result<DemoSetup> {
    let store = state.store.inner().clone();
    let imported = if patients(store.as_ref(), 1).await?.is_empty() {
        if !testdata.is_dir() {
            bail!(
                "--demo-data / MEDILINK_DEMO_DATA: {} is not a directory (run from the repository, or point it at its testdata/)",
                testdata.display()
            );
        }
        crate::import::run(store.clone(), state.ids.clone(), vec![testdata.to_owned()]).await?;
        true
    } else {
        false
    };
    let found = patients(store.as_ref(), 100).await?;
    let Some(record) = found
        .iter()
        .find(|patient| is_synthea(patient))
        .or(found.first())
    else {
        bail!(
            "--demo: no Patient in the store after importing {}",
            testdata.display()
        );
    };
    let record_id = resource_id(record)?;
    let mut consenting: Vec<ResourceId> = vec![record_id.clone()];
    for patient in &found {
        let id = resource_id(patient)?;
        if consenting.len() < CONSENTING_PATIENTS && !consenting.contains(&id) {
            consenting.push(id);
        }
    }
    let admin = account(state, ADMIN_EMAIL, "Demo Admin", Role::Admin, None).await?;
    let physician = account(
        state,
        PHYSICIAN_EMAIL,
        "Dr. Demo Physician",
        Role::Physician,
        None,
    )
    .await?;
    let name = Demographics::of_patient(record).display_name();
    let patient = account(
        state,
        PATIENT_EMAIL,
        name.trim(),
        Role::Patient,
        Some(record_id.clone()),
    )
    .await?;
    let mut consents_granted = 0;
    for id in &consenting {
        let actor = if *id == record_id {
            UserId(patient.id.clone())
        } else {
            UserId(SETUP_ACTOR.to_owned())
        };
        if grant(state, actor, id, &physician.id).await? {
            consents_granted += 1;
        }
    }
    Ok(DemoSetup {
        imported,
        patients: consenting.iter().map(|id| id.as_str().to_owned()).collect(),
        accounts: vec![admin, physician, patient],
        consents_granted,
    })
}

impl DemoSetup {
    /// Prints the sign-in details (the secrets only of accounts created by this run).
    pub fn print(&self, out: &mut impl Write, base_url: &str) -> std::io::Result<()> {
        writeln!(
            out,
            "MediLink demo (synthetic data; never use --demo with real patients)"
        )?;
        if self.imported {
            writeln!(out, "  imported the demo patients from testdata/")?;
        }
        writeln!(
            out,
            "  physician portal: {base_url}/    patient portal: {base_url}/patient/"
        )?;
        for account in &self.accounts {
            match &account.password {
                Some(password) => {
                    writeln!(
                        out,
                        "  {:<9}  e-mail: {}  password: {password}",
                        account.role.as_str(),
                        account.email
                    )?;
                    if let (Some(uri), Some(secret)) = (&account.otpauth_uri, &account.totp_secret)
                    {
                        writeln!(
                            out,
                            "             TOTP secret: {secret}  (authenticator app: {uri})"
                        )?;
                    }
                }
                None => writeln!(
                    out,
                    "  {:<9}  e-mail: {}  (exists; its password and TOTP secret were printed when it was created)",
                    account.role.as_str(),
                    account.email
                )?,
            }
        }
        writeln!(
            out,
            "  the physician has consent from {} patients ({} granted now); these secrets are not shown again",
            self.patients.len(),
            self.consents_granted
        )?;
        out.flush()
    }
}

/// Up to `limit` patients of the store, by id.
async fn patients(store: &dyn ResourceStore, limit: usize) -> anyhow::Result<Vec<Value>> {
    let params = [
        ("_count".to_owned(), limit.to_string()),
        ("_sort".to_owned(), "_id".to_owned()),
    ];
    let query = SearchQuery::parse(ResourceType::Patient, &params, true)?;
    let page = store.search(&RequestContext::system(), &query).await?;
    page.matches
        .iter()
        .filter_map(|stored| stored.json.as_deref())
        .map(|text| serde_json::from_str(text).context("a stored Patient is not JSON"))
        .collect()
}

fn is_synthea(patient: &Value) -> bool {
    patient["identifier"]
        .as_array()
        .is_some_and(|ids| ids.iter().any(|id| id["system"] == SYNTHEA_SYSTEM))
}

fn resource_id(patient: &Value) -> anyhow::Result<ResourceId> {
    let id = patient["id"].as_str().unwrap_or_default();
    ResourceId::new(id.to_owned()).context("a stored Patient without a valid id")
}

/// The account with `email`, created (active; TOTP enrolled for admins and physicians) when
/// missing.
async fn account(
    state: &AppState,
    email: &str,
    name: &str,
    role: Role,
    patient: Option<ResourceId>,
) -> anyhow::Result<DemoAccount> {
    let auth = &state.auth;
    let hash = auth.keys.lookup_hash(
        "email",
        &normalize_email(email).map_err(AccountError::from)?,
    );
    if let Some(user) = auth.accounts.user_by_email_hash(&hash).await? {
        if user.role != role {
            bail!("--demo: {email} exists with role {}, not {role}", user.role);
        }
        return Ok(described(&user, email, None, None, None));
    }
    let name = (!name.is_empty()).then_some(name);
    let record = match patient {
        Some(id) => PatientRecord::Link(id),
        None => PatientRecord::Create(None),
    };
    let (user, password) = create_with_fresh_password(state, email, name, role, record).await?;
    if !matches!(role, Role::Admin | Role::Physician) {
        return Ok(described(&user, email, Some(password), None, None));
    }
    let secret = totp::new_secret();
    let mut enrolled = user.clone();
    enrolled.totp_secret_enc = Some(auth.keys.seal("totp", &secret));
    enrolled.totp_enabled = true;
    let enrolled = auth.accounts.update_user(&enrolled).await?;
    let (uri, _) = totp::enrolment(&secret, email);
    let base32 = totp::totp(&secret, email).get_secret_base32();
    Ok(described(
        &enrolled,
        email,
        Some(password),
        Some(uri),
        Some(base32),
    ))
}

/// Creates the account with a random password (drawn again in the rare case the strength
/// rule refuses one).
async fn create_with_fresh_password(
    state: &AppState,
    email: &str,
    name: Option<&str>,
    role: Role,
    record: PatientRecord<'_>,
) -> anyhow::Result<(UserRecord, String)> {
    for _ in 0..8 {
        let password = random_token::<12>();
        let account = NewAccount {
            email,
            password: &password,
            name,
            role,
            status: Some(AccountStatus::Active),
            patient: record.clone(),
        };
        match state.auth.create(account).await {
            Ok(user) => return Ok((user, password)),
            Err(AccountError::WeakPassword(_)) => continue,
            Err(err) => return Err(err).with_context(|| format!("--demo: creating {email}")),
        }
    }
    bail!("--demo: no random password passed the strength rule")
}

fn described(
    user: &UserRecord,
    email: &str,
    password: Option<String>,
    otpauth_uri: Option<String>,
    totp_secret: Option<String>,
) -> DemoAccount {
    DemoAccount {
        role: user.role,
        email: email.to_owned(),
        id: user.id.to_string(),
        password,
        otpauth_uri,
        totp_secret,
    }
}

/// Grants `physician` access to all of `patient`'s records as that patient (`actor`: their
/// account, or the set-up for an imported patient without one), unless an active grant is
/// there already; whether it granted.
async fn grant(
    state: &AppState,
    actor: UserId,
    patient: &ResourceId,
    physician: &str,
) -> anyhow::Result<bool> {
    let consents = state.store.consents();
    let now = consents.now();
    let existing = consents.grants_of_patient(patient.as_str()).await?;
    if existing
        .iter()
        .any(|grant| grant.grantee == physician && grant.status(now) == ConsentStatus::Active)
    {
        return Ok(false);
    }
    let principal = Caller::user(actor, Role::Patient, false, Some(patient.clone()));
    let request = GrantRequest {
        patient: None,
        grantee: Some(physician.to_owned()),
        grantee_role: Some(Role::Physician),
        scope: vec!["*".to_owned()],
        purpose: None,
        end: None,
    };
    consents.create(&principal, request).await?;
    Ok(true)
}
