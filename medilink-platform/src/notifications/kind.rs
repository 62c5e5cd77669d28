//! What a notice is about ([`NotificationKind`]) and how it reaches its recipient ([`Channel`]).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Every event a patient or clinician is told about. The stored and API name is
/// [`NotificationKind::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "&'static str", try_from = "String")]
pub enum NotificationKind {
    /// A physician asked a patient for access (→ the patient).
    ConsentRequested,
    /// A patient granted a physician access (→ the physician).
    ConsentGranted,
    /// A patient declined a physician's request (→ the physician).
    ConsentDeclined,
    /// A patient revoked a physician's access (→ the physician).
    ConsentRevoked,
    /// A grant ends in 3 days (→ the patient and the physician).
    ConsentExpiring,
    /// A grant ended (→ the patient and the physician).
    ConsentExpired,
    /// A physician used break-glass emergency access on the patient's record (→ the patient).
    BreakGlass,
    /// An uploaded document was processed (→ the uploader).
    DocumentProcessed,
    /// An uploaded document waits for a person's review (→ the uploader).
    DocumentNeedsReview,
    /// An uploaded document could not be processed (→ the uploader).
    DocumentFailed,
    /// New results were filed into the patient's record (→ the patient).
    ResultsFiled,
    /// An administrator approved the physician's account.
    PhysicianApproved,
    /// An administrator suspended the physician's account.
    PhysicianSuspended,
    /// A sign-in from an address or device not seen before.
    NewSignIn,
    /// The account's password changed.
    PasswordChanged,
    /// Two-factor sign-in (TOTP) was turned on.
    TotpEnabled,
    /// Two-factor sign-in (TOTP) was turned off.
    TotpDisabled,
    /// A research export is ready to download (→ the researcher).
    ResearchExportReady,
}

impl NotificationKind {
    /// Every kind.
    pub const ALL: [NotificationKind; 18] = [
        NotificationKind::ConsentRequested,
        NotificationKind::ConsentGranted,
        NotificationKind::ConsentDeclined,
        NotificationKind::ConsentRevoked,
        NotificationKind::ConsentExpiring,
        NotificationKind::ConsentExpired,
        NotificationKind::BreakGlass,
        NotificationKind::DocumentProcessed,
        NotificationKind::DocumentNeedsReview,
        NotificationKind::DocumentFailed,
        NotificationKind::ResultsFiled,
        NotificationKind::PhysicianApproved,
        NotificationKind::PhysicianSuspended,
        NotificationKind::NewSignIn,
        NotificationKind::PasswordChanged,
        NotificationKind::TotpEnabled,
        NotificationKind::TotpDisabled,
        NotificationKind::ResearchExportReady,
    ];

    /// The stable name (stored, and the API's key).
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::ConsentRequested => "consent.requested",
            NotificationKind::ConsentGranted => "consent.granted",
            NotificationKind::ConsentDeclined => "consent.declined",
            NotificationKind::ConsentRevoked => "consent.revoked",
            NotificationKind::ConsentExpiring => "consent.expiring",
            NotificationKind::ConsentExpired => "consent.expired",
            NotificationKind::BreakGlass => "security.break_glass",
            NotificationKind::DocumentProcessed => "document.processed",
            NotificationKind::DocumentNeedsReview => "document.needs_review",
            NotificationKind::DocumentFailed => "document.failed",
            NotificationKind::ResultsFiled => "results.filed",
            NotificationKind::PhysicianApproved => "account.approved",
            NotificationKind::PhysicianSuspended => "account.suspended",
            NotificationKind::NewSignIn => "security.new_sign_in",
            NotificationKind::PasswordChanged => "security.password_changed",
            NotificationKind::TotpEnabled => "security.totp_enabled",
            NotificationKind::TotpDisabled => "security.totp_disabled",
            NotificationKind::ResearchExportReady => "research.export_ready",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<NotificationKind> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// A security notice: always delivered on every channel, whatever the preferences say,
    /// and never held back by quiet hours.
    pub fn is_mandatory(self) -> bool {
        matches!(
            self,
            NotificationKind::BreakGlass
                | NotificationKind::NewSignIn
                | NotificationKind::PasswordChanged
                | NotificationKind::TotpEnabled
                | NotificationKind::TotpDisabled
        )
    }

    /// The message id prefix of the kind in the catalogues (`consent-requested`).
    pub(crate) fn message_id(self) -> String {
        self.as_str().replace(['.', '_'], "-")
    }

    /// The parameters the kind's messages use (each event of the kind supplies them).
    pub fn parameters(self) -> &'static [&'static str] {
        match self {
            NotificationKind::ConsentExpiring | NotificationKind::ConsentExpired => &["end"],
            NotificationKind::BreakGlass => &["at"],
            NotificationKind::NewSignIn => &["at", "address", "device"],
            _ => &[],
        }
    }

    /// The portal page a notice of the kind links to when its event names none.
    pub fn default_link(self) -> &'static str {
        match self {
            NotificationKind::ConsentRequested
            | NotificationKind::ConsentExpiring
            | NotificationKind::ConsentExpired => "/patient/consents",
            NotificationKind::BreakGlass => "/patient/access-log",
            NotificationKind::ConsentGranted
            | NotificationKind::ConsentDeclined
            | NotificationKind::ConsentRevoked => "/patients",
            NotificationKind::DocumentProcessed
            | NotificationKind::DocumentNeedsReview
            | NotificationKind::DocumentFailed => "/documents",
            NotificationKind::ResultsFiled => "/patient/labs",
            NotificationKind::ResearchExportReady => "/research",
            NotificationKind::PhysicianApproved
            | NotificationKind::PhysicianSuspended
            | NotificationKind::NewSignIn
            | NotificationKind::PasswordChanged
            | NotificationKind::TotpEnabled
            | NotificationKind::TotpDisabled => "/settings/security",
        }
    }
}

impl fmt::Display for NotificationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<NotificationKind> for &'static str {
    fn from(kind: NotificationKind) -> Self {
        kind.as_str()
    }
}

impl TryFrom<String> for NotificationKind {
    type Error = String;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        NotificationKind::parse(&name).ok_or_else(|| format!("unknown notification kind {name:?}"))
    }
}

/// How a notice reaches its recipient. In-app is the stored row itself (the inbox); e-mail
/// goes through the [`Mailer`](super::Mailer) seam. Web push and SMS would be further
/// variants with their own [`ChannelSender`](super::ChannelSender).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Channel {
    /// The portal's inbox.
    InApp,
    /// E-mail to the account's address.
    Email,
}

impl Channel {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::InApp => "in_app",
            Channel::Email => "email",
        }
    }

    /// The channel named `name`.
    pub fn parse(name: &str) -> Option<Channel> {
        match name {
            "in_app" => Some(Channel::InApp),
            "email" => Some(Channel::Email),
            _ => None,
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Not attempted yet (or deferred by quiet hours).
    Pending,
    /// Delivered (in-app: stored).
    Sent,
    /// The last attempt failed; another follows.
    Failed,
    /// Every attempt failed, or the failure was permanent: given up.
    Dead,
}

impl DeliveryStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Dead => "dead",
        }
    }

    /// The status named `name`.
    pub fn parse(name: &str) -> Option<DeliveryStatus> {
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Sent,
            DeliveryStatus::Failed,
            DeliveryStatus::Dead,
        ]
        .into_iter()
        .find(|status| status.as_str() == name)
    }
}
