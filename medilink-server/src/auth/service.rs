//! The account flows behind `/api/auth/*` and `user add`: register, login (with lockout and
//! TOTP), refresh rotation with reuse detection, logout, password change and TOTP enrolment
//! (the admin's flows: [`super::admin`], invitations: [`super::invitations`]).

use std::time::Duration;

use medilink_fhir::kv::KvKey;
use medilink_fhir::{RequestContext, ResourceId};
use medilink_platform::notifications::{Event, NotificationKind, Notifications, Recipient};
use medilink_platform::{
    AccountStatus, NewUser, RefreshConsumed, RefreshTokenRecord, Role, UserId, UserRecord,
};
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use super::crypto::{random_token, sha256};
use super::demographics::Demographics;
use super::email::{new_account_email, normalize_email};
use super::error::{AccountError, AccountResult};
use super::password::check_strength;
use super::session::Principal;
use super::token::{Claims, new_jti};
use super::{Auth, totp};

/// Tokens handed to a client after a successful login or refresh.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    /// The JWT access token.
    pub access_token: String,
    /// The opaque refresh token.
    pub refresh_token: String,
    /// Always `Bearer`.
    #[schema(value_type = String)]
    pub token_type: &'static str,
    /// Access token lifetime in seconds.
    pub expires_in: u64,
}

/// An account to create ([`Auth::create`]).
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    /// The e-mail address (normalised before use).
    pub email: &'a str,
    /// The password (the strength rule applies).
    pub password: &'a str,
    /// The display name (required for physicians; for patients it defaults to the name of
    /// their demographics).
    pub name: Option<&'a str>,
    /// The role.
    pub role: Role,
    /// The status (`None`: active patients, pending others).
    pub status: Option<AccountStatus>,
    /// A patient's `Patient` (ignored for other roles).
    pub patient: PatientRecord<'a>,
}

/// Where a patient account's `Patient` comes from.
#[derive(Debug, Clone)]
pub enum PatientRecord<'a> {
    /// A new `Patient`: with these validated demographics, else holding only the name.
    Create(Option<&'a Demographics>),
    /// An existing `Patient` (imported demo data).
    Link(ResourceId),
}

/// The answer to a login.
#[derive(Debug, Clone)]
pub enum LoginOutcome {
    /// Signed in.
    Tokens(TokenPair),
    /// TOTP is enabled and no valid code was given: only a partial token.
    MfaRequired {
        /// A token every protected endpoint rejects.
        partial_token: String,
    },
}

/// A user as shown to its owner and to admins (PII decrypted).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserView {
    /// The id.
    pub id: String,
    /// The e-mail.
    pub email: String,
    /// The display name.
    #[schema(required = true)]
    pub name: Option<String>,
    /// The role.
    #[schema(value_type = crate::api::RoleName)]
    pub role: &'static str,
    /// The status.
    #[schema(value_type = crate::api::AccountState)]
    pub status: &'static str,
    /// The linked Patient id.
    #[schema(required = true)]
    pub patient_id: Option<String>,
    /// Whether TOTP is enabled.
    pub totp_enabled: bool,
}

/// What TOTP setup returns.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TotpEnrolment {
    /// The `otpauth://` URI.
    pub otpauth_uri: String,
    /// The URI as a QR code (`data:image/svg+xml;base64,…`).
    pub qr_svg: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

fn unix_ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Roles that must pass TOTP before reaching patient data.
pub fn mfa_mandatory(role: Role) -> bool {
    matches!(role, Role::Physician | Role::Admin)
}

/// Where a sign-in comes from (the new-sign-in notice compares it with the last ones).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignInClient {
    /// The client address (`None`: unknown).
    pub address: Option<String>,
    /// The `User-Agent` (`None`: none sent).
    pub device: Option<String>,
}

impl Auth {
    pub(super) fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// The same service telling account events through `notifications`.
    pub fn with_notifications(mut self, notifications: Notifications) -> Self {
        self.notifications = Some(notifications);
        self
    }

    /// Writes `user` and, in the same transaction, the notice of `kind` to them (the
    /// account's outbox: the change and its notice land together or not at all).
    async fn update_telling(
        &self,
        user: &UserRecord,
        kind: NotificationKind,
    ) -> AccountResult<UserRecord> {
        let Some(notifications) = &self.notifications else {
            return Ok(self.accounts.update_user(user).await?);
        };
        let recipients = [Recipient::User(user.id.clone())];
        let notices = notifications
            .prepare(&recipients, &Event::new(kind))
            .await?;
        let (user, stored) = self.accounts.update_user_telling(user, &notices).await?;
        notifications.dispatch(&stored).await;
        Ok(user)
    }

    /// Remembers a successful sign-in of `user` from `client` (its instant for the admin's
    /// view); a new client is told.
    async fn signed_in(&self, user: &UserId, client: &SignInClient) {
        if let Err(err) = self.accounts.record_sign_in(user, self.now()).await {
            tracing::error!(error = %err, "sign-in instant not stored");
        }
        let Some(notifications) = &self.notifications else {
            return;
        };
        let address = client.address.as_deref().unwrap_or("unknown");
        let device: String = client
            .device
            .as_deref()
            .unwrap_or("unknown")
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        let fingerprint = hex(&sha256(format!("{address}\n{device}").as_bytes()));
        if let Err(err) = notifications
            .signed_in(user, &fingerprint, address, &device)
            .await
        {
            tracing::error!(error = %err, "sign-in not remembered");
        }
    }

    /// The lookup hash of an address already normalised by [`normalize_email`].
    pub(super) fn email_hash(&self, email: &str) -> Vec<u8> {
        self.keys.lookup_hash("email", email)
    }

    /// The lockout key shared by login and password change (per account e-mail).
    pub(super) fn login_key(email_hash: &[u8]) -> String {
        format!("login:{}", hex(email_hash))
    }

    fn backup_hash(&self, code: &str) -> String {
        hex(&self
            .keys
            .lookup_hash("backup", &totp::normalize_backup_code(code)))
    }

    /// Decrypts a user for display.
    pub fn view(&self, user: &UserRecord) -> UserView {
        let open = |field: &str, sealed: &[u8]| {
            self.keys
                .open(field, sealed)
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        };
        UserView {
            id: user.id.to_string(),
            email: open("email", &user.email_enc).unwrap_or_default(),
            name: user
                .name_enc
                .as_deref()
                .and_then(|sealed| open("name", sealed)),
            role: user.role.as_str(),
            status: user.status.as_str(),
            patient_id: user.patient_id.as_ref().map(|id| id.to_string()),
            totp_enabled: user.totp_enabled,
        }
    }

    /// Creates an account. Patients get their linked `Patient` resource; physicians and
    /// researchers start `pending` unless `status` says otherwise (the `user add` command).
    pub async fn create_account(
        &self,
        email: &str,
        password: &str,
        name: Option<&str>,
        role: Role,
        status: Option<AccountStatus>,
    ) -> AccountResult<UserRecord> {
        let account = NewAccount {
            email,
            password,
            name,
            role,
            status,
            patient: PatientRecord::Create(None),
        };
        self.create(account).await
    }

    /// Creates an account as [`Auth::create_account`] does, with a patient's record described
    /// by `account.patient`: a new `Patient` (with the validated demographics of registration:
    /// an official name, birth date, gender and phone; the display name defaults to "given…
    /// family"), or an existing one linked (the demo patient).
    pub async fn create(&self, account: NewAccount<'_>) -> AccountResult<UserRecord> {
        let NewAccount {
            email,
            password,
            name,
            role,
            status,
            patient,
        } = account;
        let email = new_account_email(email)?;
        let default_name = match &patient {
            PatientRecord::Create(Some(demographics)) if role == Role::Patient => {
                Some(demographics.display_name())
            }
            _ => None,
        };
        let name = name
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .or(default_name.as_deref());
        if role == Role::Physician && name.is_none() {
            return Err(AccountError::NameRequired);
        }
        check_strength(password, &email, name)?;
        let email_hash = self.email_hash(&email);
        if self
            .accounts
            .user_by_email_hash(&email_hash)
            .await?
            .is_some()
        {
            return Err(AccountError::EmailTaken);
        }
        let patient_id = match (role, patient) {
            (Role::Patient, PatientRecord::Link(id)) => Some(id),
            (Role::Patient, PatientRecord::Create(demographics)) => {
                Some(self.create_patient(name, demographics).await?)
            }
            _ => None,
        };
        let status = status.unwrap_or(match role {
            Role::Patient => AccountStatus::Active,
            _ => AccountStatus::Pending,
        });
        let user = NewUser {
            id: UserId(uuid::Uuid::new_v4().to_string()),
            email_hash,
            email_enc: self.keys.seal("email", email.as_bytes()),
            name_enc: name.map(|name| self.keys.seal("name", name.as_bytes())),
            password_hash: self.hasher.hash(password),
            role,
            status,
            patient_id,
        };
        let created = self.accounts.create_user(user).await?;
        tracing::info!(user_id = %created.id, role = %role, "account created");
        Ok(created)
    }

    async fn create_patient(
        &self,
        name: Option<&str>,
        demographics: Option<&Demographics>,
    ) -> AccountResult<ResourceId> {
        let patient = match demographics {
            Some(demographics) => demographics.new_patient(),
            None => {
                let mut patient = json!({"resourceType": "Patient", "active": true});
                if let Some(name) = name.filter(|name| !name.trim().is_empty()) {
                    patient["name"] = json!([{"text": name.trim()}]);
                }
                patient
            }
        };
        let stored = self
            .store
            .create(&RequestContext::system(), patient)
            .await?;
        Ok(stored.id)
    }

    /// Issues an access token and a new refresh-token family for `user`.
    pub async fn issue_session(&self, user: &UserRecord, mfa: bool) -> AccountResult<TokenPair> {
        let family = format!("{}.{}", if mfa { "m" } else { "s" }, random_token::<12>());
        self.issue_in_family(user, mfa, family).await
    }

    async fn issue_in_family(
        &self,
        user: &UserRecord,
        mfa: bool,
        family_id: String,
    ) -> AccountResult<TokenPair> {
        let now = self.now();
        let refresh_token = random_token::<32>();
        self.accounts
            .insert_refresh(&RefreshTokenRecord {
                token_hash: sha256(refresh_token.as_bytes()),
                user_id: user.id.clone(),
                family_id,
                created_at: now,
                expires_at: now + self.settings.refresh_ttl,
            })
            .await?;
        Ok(TokenPair {
            access_token: self.access_token(user, mfa, false, now),
            refresh_token,
            token_type: "Bearer",
            expires_in: self.settings.access_ttl.as_secs(),
        })
    }

    fn access_token(
        &self,
        user: &UserRecord,
        mfa: bool,
        partial: bool,
        now: OffsetDateTime,
    ) -> String {
        let ttl = if partial {
            Duration::from_secs(300)
        } else {
            self.settings.access_ttl
        };
        self.codec.issue(&Claims {
            sub: user.id.clone(),
            role: user.role,
            jti: new_jti(),
            iat: now.unix_timestamp(),
            iat_ms: unix_ms(now),
            exp: now.unix_timestamp() + secs(ttl),
            mfa,
            partial,
            pid: user.patient_id.clone(),
            app: None,
        })
    }

    pub(super) async fn locked(&self, key: &str) -> AccountResult<bool> {
        Ok(self.kv.get(&format!("lock:{key}")).await?.is_some())
    }

    /// Counts a failure under `key`; locks it once the limit is reached.
    async fn fail(&self, key: &str) -> AccountResult<()> {
        let failures = self
            .kv
            .incr(&format!("fail:{key}"), self.settings.lockout)
            .await?;
        if failures >= self.settings.max_failures {
            self.kv
                .set(&format!("lock:{key}"), b"1", self.settings.lockout)
                .await?;
            self.kv.delete(&format!("fail:{key}")).await?;
            tracing::warn!(
                lock = key.split(':').next().unwrap_or(""),
                "locked out after failures"
            );
        }
        Ok(())
    }

    async fn clear_failures(&self, key: &str) -> AccountResult<()> {
        self.kv.delete(&format!("fail:{key}")).await?;
        Ok(())
    }

    /// Checks a TOTP or backup code for `user`, counting failures and honouring the lockout;
    /// a used backup code is consumed.
    async fn check_second_factor(&self, user: &UserRecord, code: &str) -> AccountResult<()> {
        let key = format!("totp:{}", user.id);
        if self.locked(&key).await? {
            return Err(AccountError::LockedOut { what: "codes" });
        }
        let secret = user
            .totp_secret_enc
            .as_deref()
            .and_then(|sealed| self.keys.open("totp", sealed));
        let now = self.now().unix_timestamp();
        if secret.is_some_and(|secret| totp::check(&secret, code, now)) {
            // One code, one use: replaying it within its window is refused.
            let replay = format!("totp-used:{}:{}", user.id, code.trim());
            if self.kv.get(&replay).await?.is_none() {
                self.kv.set(&replay, b"1", Duration::from_secs(120)).await?;
                return self.clear_failures(&key).await;
            }
        }
        let backup = self.backup_hash(code);
        if let Some(index) = user.backup_codes.iter().position(|hash| *hash == backup) {
            let mut updated = user.clone();
            updated.backup_codes.remove(index);
            self.accounts.update_user(&updated).await?;
            return self.clear_failures(&key).await;
        }
        self.fail(&key).await?;
        Err(AccountError::InvalidLogin)
    }

    /// `POST /api/auth/login`.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        totp_code: Option<&str>,
        client: &SignInClient,
    ) -> AccountResult<LoginOutcome> {
        let email_hash = self.email_hash(&normalize_email(email)?);
        let key = Self::login_key(&email_hash);
        if self.locked(&key).await? {
            // Same answer whether or not the e-mail exists.
            self.hasher.verify_dummy(password);
            return Err(AccountError::LockedOut { what: "logins" });
        }
        let user = self.accounts.user_by_email_hash(&email_hash).await?;
        let verified = match &user {
            Some(user) => self.hasher.verify(password, &user.password_hash),
            None => {
                self.hasher.verify_dummy(password);
                false
            }
        };
        let Some(user) = user.filter(|_| verified) else {
            self.fail(&key).await?;
            return Err(AccountError::InvalidLogin);
        };
        self.clear_failures(&key).await?;
        match user.status {
            AccountStatus::Active => {}
            AccountStatus::Pending => {
                return Err(AccountError::NotActive {
                    state: "waiting for approval",
                });
            }
            AccountStatus::Suspended => {
                return Err(AccountError::NotActive { state: "suspended" });
            }
        }
        if !user.totp_enabled {
            let tokens = self.issue_session(&user, false).await?;
            self.signed_in(&user.id, client).await;
            return Ok(LoginOutcome::Tokens(tokens));
        }
        match totp_code.filter(|code| !code.trim().is_empty()) {
            Some(code) => {
                self.check_second_factor(&user, code).await?;
                let tokens = self.issue_session(&user, true).await?;
                self.signed_in(&user.id, client).await;
                Ok(LoginOutcome::Tokens(tokens))
            }
            None => Ok(LoginOutcome::MfaRequired {
                partial_token: self.access_token(&user, false, true, self.now()),
            }),
        }
    }

    /// `POST /api/auth/refresh`: rotates the refresh token; a reused one revokes its family.
    pub async fn refresh(&self, refresh_token: &str) -> AccountResult<TokenPair> {
        let now = self.now();
        let next_token = random_token::<32>();
        let successor = RefreshTokenRecord {
            token_hash: sha256(next_token.as_bytes()),
            user_id: UserId(String::new()),
            family_id: String::new(),
            created_at: now,
            expires_at: now + self.settings.refresh_ttl,
        };
        let consumed = self
            .accounts
            .rotate_refresh(&sha256(refresh_token.as_bytes()), &successor, now)
            .await?;
        let record = match consumed {
            RefreshConsumed::Rotated(record) => record,
            RefreshConsumed::Reused(record) => {
                tracing::warn!(user_id = %record.user_id, "refresh token reused: family revoked");
                return Err(AccountError::RefreshInvalid);
            }
            RefreshConsumed::Expired | RefreshConsumed::Unknown => {
                return Err(AccountError::RefreshInvalid);
            }
        };
        let user = self
            .accounts
            .user(&record.user_id)
            .await?
            .filter(|user| user.status == AccountStatus::Active)
            .ok_or(AccountError::RefreshInvalid)?;
        let mfa = record.family_id.starts_with("m.");
        Ok(TokenPair {
            access_token: self.access_token(&user, mfa, false, now),
            refresh_token: next_token,
            token_type: "Bearer",
            expires_in: self.settings.access_ttl.as_secs(),
        })
    }

    /// Denylists an access token's `jti` until it expires.
    async fn deny(&self, claims: &Claims) -> AccountResult<()> {
        let left = (claims.exp - self.now().unix_timestamp()).max(1);
        self.kv
            .set(
                &format!("deny:{}", claims.jti),
                b"1",
                Duration::from_secs(u64::try_from(left).unwrap_or(1)),
            )
            .await?;
        Ok(())
    }

    /// Rejects every access token of `user` issued before now (password change, suspension).
    pub(super) async fn end_sessions(&self, user: &UserId) -> AccountResult<()> {
        let now = self.now();
        self.accounts.revoke_user_refresh(user, now).await?;
        self.kv
            .set(
                &format!("epoch:{user}"),
                unix_ms(now).to_string().as_bytes(),
                self.settings.access_ttl + Duration::from_secs(60),
            )
            .await?;
        Ok(())
    }

    /// Whether claims were revoked (denylisted `jti`, or issued before the user's epoch).
    pub async fn revoked(&self, claims: &Claims) -> AccountResult<bool> {
        // Both keys in one round trip (issue #19).
        let (denied, epoch) = self
            .kv
            .get_two(
                &KvKey::new("deny:", &claims.jti),
                &KvKey::new("epoch:", &claims.sub),
            )
            .await?;
        if denied.is_some() {
            return Ok(true);
        }
        let epoch = epoch
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.parse::<i64>().ok());
        Ok(epoch.is_some_and(|epoch| claims.iat_ms <= epoch))
    }

    /// `POST /api/auth/logout`: denylists the access token, revokes the refresh family.
    pub async fn logout(
        &self,
        principal: &Principal,
        refresh_token: Option<&str>,
    ) -> AccountResult<()> {
        self.deny(&principal.claims).await?;
        if let Some(token) = refresh_token {
            self.accounts
                .revoke_refresh(&sha256(token.as_bytes()), self.now())
                .await?;
        }
        Ok(())
    }

    async fn current_user(&self, principal: &Principal) -> AccountResult<UserRecord> {
        self.accounts
            .user(&principal.claims.sub)
            .await?
            .ok_or(AccountError::AccountGone)
    }

    /// `GET /api/auth/me`.
    pub async fn me(&self, principal: &Principal) -> AccountResult<UserView> {
        Ok(self.view(&self.current_user(principal).await?))
    }

    /// `POST /api/auth/password`: verifies the current password, sets the new one and ends
    /// every session of the user. Wrong current passwords count towards the account's login
    /// lockout (the same counter and lock as `login`), and while it is locked even the right
    /// one is refused with login's `429`.
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: &str,
        new: &str,
    ) -> AccountResult<()> {
        let mut user = self.current_user(principal).await?;
        let key = Self::login_key(&user.email_hash);
        if self.locked(&key).await? {
            self.hasher.verify_dummy(current);
            return Err(AccountError::LockedOut { what: "logins" });
        }
        if !self.hasher.verify(current, &user.password_hash) {
            self.fail(&key).await?;
            return Err(AccountError::WrongCurrentPassword);
        }
        self.clear_failures(&key).await?;
        let view = self.view(&user);
        check_strength(new, &view.email, view.name.as_deref())?;
        user.password_hash = self.hasher.hash(new);
        self.update_telling(&user, NotificationKind::PasswordChanged)
            .await?;
        self.end_sessions(&user.id).await?;
        Ok(())
    }

    /// `POST /api/auth/totp/setup`: a fresh secret (not yet enabled).
    pub async fn totp_setup(&self, principal: &Principal) -> AccountResult<TotpEnrolment> {
        let mut user = self.current_user(principal).await?;
        if user.totp_enabled {
            return Err(AccountError::TotpAlreadyEnabled);
        }
        let secret = totp::new_secret();
        user.totp_secret_enc = Some(self.keys.seal("totp", &secret));
        self.accounts.update_user(&user).await?;
        let (otpauth_uri, qr_svg) = totp::enrolment(&secret, &self.view(&user).email);
        Ok(TotpEnrolment {
            otpauth_uri,
            qr_svg,
        })
    }

    /// `POST /api/auth/totp/verify`: enables TOTP with a first valid code; returns the backup
    /// codes (shown once) and a full session.
    pub async fn totp_verify(
        &self,
        principal: &Principal,
        code: &str,
    ) -> AccountResult<(Vec<String>, TokenPair)> {
        let mut user = self.current_user(principal).await?;
        if user.totp_enabled || user.totp_secret_enc.is_none() {
            return Err(AccountError::TotpNotSetUp);
        }
        self.check_second_factor(&user, code).await?;
        let codes = totp::new_backup_codes();
        user.backup_codes = codes.iter().map(|code| self.backup_hash(code)).collect();
        user.totp_enabled = true;
        let user = self
            .update_telling(&user, NotificationKind::TotpEnabled)
            .await?;
        let tokens = self.issue_session(&user, true).await?;
        Ok((codes, tokens))
    }

    /// `POST /api/auth/totp/disable`: needs a valid code; not allowed where TOTP is mandatory.
    pub async fn totp_disable(&self, principal: &Principal, code: &str) -> AccountResult<()> {
        let mut user = self.current_user(principal).await?;
        if mfa_mandatory(user.role) {
            return Err(AccountError::TotpMandatory);
        }
        if !user.totp_enabled {
            return Ok(());
        }
        self.check_second_factor(&user, code).await?;
        user.totp_enabled = false;
        user.totp_secret_enc = None;
        user.backup_codes.clear();
        self.update_telling(&user, NotificationKind::TotpDisabled)
            .await?;
        Ok(())
    }
}
