//! The policy matrix: every role × consent state × action, on a compartment resource of the
//! consenting patient, of another patient, and on directory and non-patient types.

use medilink_fhir::{ResourceId, ResourceType};
use medilink_platform::{Role, UserId};
use time::OffsetDateTime;
use time::macros::datetime;

use super::*;
use crate::grant::{BREAK_GLASS_PURPOSE, Grant, GrantState, Initiator, Scope};

const NOW: OffsetDateTime = datetime!(2024-06-01 12:00 UTC);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    None,
    Active,
    Expired,
    Revoked,
    Proposed,
    Rejected,
    OtherTypes,
    BreakGlass,
}

const STATES: [State; 8] = [
    State::None,
    State::Active,
    State::Expired,
    State::Revoked,
    State::Proposed,
    State::Rejected,
    State::OtherTypes,
    State::BreakGlass,
];

fn grants(state: State) -> Vec<Grant> {
    let base = Grant {
        id: Some("c1".into()),
        patient: "p1".into(),
        grantee: "doc".into(),
        scope: Scope::All,
        purpose: "TREAT".into(),
        start: datetime!(2024-01-01 0:00 UTC),
        end: None,
        state: GrantState::Active,
        initiator: Initiator::Patient,
        reason: None,
    };
    let grant = match state {
        State::None => return Vec::new(),
        State::Active => base,
        State::Expired => Grant {
            end: Some(NOW),
            ..base
        },
        State::Revoked => Grant {
            state: GrantState::Revoked,
            ..base
        },
        State::Proposed => Grant {
            state: GrantState::Proposed,
            ..base
        },
        State::Rejected => Grant {
            state: GrantState::Rejected,
            ..base
        },
        State::OtherTypes => Grant {
            scope: Scope::Types(vec![ResourceType::Condition]),
            ..base
        },
        State::BreakGlass => Grant {
            purpose: BREAK_GLASS_PURPOSE.into(),
            end: Some(NOW + time::Duration::hours(1)),
            ..base
        },
    };
    vec![grant]
}

fn user(role: Role) -> Caller {
    let user_id = match role {
        Role::Physician => "doc".into(),
        _ => format!("{role}-user"),
    };
    let patient_id = (role == Role::Patient).then(|| ResourceId::new("p1").expect("id"));
    Caller::user(UserId(user_id), role, false, patient_id)
}

fn observation_of(patients: &[String]) -> Target<'_> {
    Target {
        resource_type: ResourceType::Observation,
        patients,
    }
}

#[test]
fn every_role_and_consent_state_on_the_consenting_patients_data() {
    let own = vec!["p1".to_owned()];
    let other = vec!["p2".to_owned()];
    for role in Role::ALL {
        for state in STATES {
            let grants = grants(state);
            for action in [Action::Read, Action::Write] {
                let mine = decide(&user(role), action, &observation_of(&own), &grants, NOW);
                let theirs = decide(&user(role), action, &observation_of(&other), &grants, NOW);
                let consented = matches!(state, State::Active | State::BreakGlass);
                let expected_mine = match role {
                    Role::Admin | Role::Patient => true,
                    Role::Physician => consented,
                    Role::Researcher => false,
                };
                let expected_theirs = role == Role::Admin;
                let cell = format!("{role} {state:?} {action:?}");
                assert_eq!(mine.allow, expected_mine, "own patient: {cell}");
                assert_eq!(theirs.allow, expected_theirs, "other patient: {cell}");
                if role == Role::Physician && consented {
                    assert_eq!(mine.grant.as_deref(), Some("c1"), "{cell}");
                    let reason = if state == State::BreakGlass {
                        Reason::BreakGlass
                    } else {
                        Reason::Consent
                    };
                    assert_eq!(mine.reason, reason, "{cell}");
                    assert_eq!(mine.flagged, state == State::BreakGlass, "{cell}");
                }
                if role == Role::Admin {
                    assert!(mine.flagged && theirs.flagged, "admins are logged: {cell}");
                }
            }
        }
    }
}

#[test]
fn scoped_consents_cover_only_their_types() {
    let own = vec!["p1".to_owned()];
    let grants = grants(State::OtherTypes);
    let condition = Target {
        resource_type: ResourceType::Condition,
        patients: &own,
    };
    let doc = user(Role::Physician);
    assert!(decide(&doc, Action::Read, &condition, &grants, NOW).allow);
    assert!(!decide(&doc, Action::Read, &observation_of(&own), &grants, NOW).allow);
    assert_eq!(
        access(&doc, ResourceType::Condition, &grants, NOW),
        Access::Patients {
            permitted: own.clone(),
            member: true
        }
    );
    assert_eq!(
        access(&doc, ResourceType::Observation, &grants, NOW),
        Access::Patients {
            permitted: Vec::new(),
            member: true
        }
    );
}

#[test]
fn expiry_takes_effect_at_the_instant() {
    let own = vec!["p1".to_owned()];
    let grants = grants(State::Expired);
    let doc = user(Role::Physician);
    let just_before = NOW - time::Duration::NANOSECOND;
    assert!(
        decide(
            &doc,
            Action::Read,
            &observation_of(&own),
            &grants,
            just_before
        )
        .allow
    );
    assert!(!decide(&doc, Action::Read, &observation_of(&own), &grants, NOW).allow);
}

/// Issue #11: a resource that names two patients is readable and writable only by whoever
/// may see both.
#[test]
fn reads_and_writes_need_every_patient() {
    let both = vec!["p1".to_owned(), "p2".to_owned()];
    let mut grants = grants(State::Active);
    let doc = user(Role::Physician);
    for action in [Action::Read, Action::Write] {
        assert!(!decide(&doc, action, &observation_of(&both), &grants, NOW).allow);
        assert!(
            !decide(
                &user(Role::Patient),
                action,
                &observation_of(&both),
                &grants,
                NOW
            )
            .allow
        );
    }
    let nobody: Vec<String> = Vec::new();
    assert!(!decide(&doc, Action::Read, &observation_of(&nobody), &grants, NOW).allow);
    assert!(!decide(&doc, Action::Write, &observation_of(&nobody), &grants, NOW).allow);
    // Positive control: with p2's consent too, both are allowed.
    grants.push(Grant {
        id: Some("c2".into()),
        patient: "p2".into(),
        ..grants[0].clone()
    });
    for action in [Action::Read, Action::Write] {
        assert!(decide(&doc, action, &observation_of(&both), &grants, NOW).allow);
    }
}

/// Issue #11: types outside the Patient compartment that reference a patient (`Device`,
/// `Binary`, `Bundle`, …) are that patient's data.
#[test]
fn non_compartment_types_naming_a_patient_are_that_patients_data() {
    let p1 = vec!["p1".to_owned()];
    let p2 = vec!["p2".to_owned()];
    let none: Vec<String> = Vec::new();
    let grants = grants(State::Active);
    let doc = user(Role::Physician);
    let patient = user(Role::Patient);
    for resource_type in [
        ResourceType::Device,
        ResourceType::Binary,
        ResourceType::Bundle,
    ] {
        let of = |patients| Target {
            resource_type,
            patients,
        };
        for action in [Action::Read, Action::Write] {
            assert!(
                decide(&doc, action, &of(&p1), &grants, NOW).allow,
                "{resource_type}"
            );
            assert!(
                !decide(&doc, action, &of(&p2), &grants, NOW).allow,
                "{resource_type}"
            );
            assert!(
                decide(&doc, action, &of(&none), &grants, NOW).allow,
                "{resource_type}"
            );
            assert!(
                decide(&patient, action, &of(&p1), &[], NOW).allow,
                "{resource_type}"
            );
            assert!(
                !decide(&patient, action, &of(&p2), &[], NOW).allow,
                "{resource_type}"
            );
            assert!(
                !decide(&patient, action, &of(&none), &[], NOW).allow,
                "{resource_type}"
            );
        }
        let researcher = user(Role::Researcher);
        assert!(!decide(&researcher, Action::Read, &of(&none), &[], NOW).allow);
    }
    // A directory resource naming a patient is that patient's data too.
    let practitioner = Target {
        resource_type: ResourceType::Practitioner,
        patients: &p2,
    };
    assert!(!decide(&doc, Action::Read, &practitioner, &grants, NOW).allow);
    assert!(
        !decide(
            &user(Role::Researcher),
            Action::Read,
            &practitioner,
            &[],
            NOW
        )
        .allow
    );
}

#[test]
fn directory_and_non_patient_types() {
    let none: Vec<String> = Vec::new();
    for role in Role::ALL {
        for resource_type in [
            ResourceType::Practitioner,
            ResourceType::Organization,
            ResourceType::Location,
        ] {
            let target = Target {
                resource_type,
                patients: &none,
            };
            assert!(
                decide(&user(role), Action::Read, &target, &[], NOW).allow,
                "{role}"
            );
            assert_eq!(
                decide(&user(role), Action::Write, &target, &[], NOW).allow,
                role == Role::Admin,
                "{role}"
            );
        }
        let medication = Target {
            resource_type: ResourceType::Medication,
            patients: &none,
        };
        assert_eq!(
            decide(&user(role), Action::Read, &medication, &[], NOW).allow,
            matches!(role, Role::Admin | Role::Physician),
            "{role}"
        );
    }
    let target = Target {
        resource_type: ResourceType::Practitioner,
        patients: &none,
    };
    assert!(!decide(&Caller::Anonymous, Action::Read, &target, &[], NOW).allow);
    let target = observation_of(&none);
    assert!(decide(&Caller::System, Action::Write, &target, &[], NOW).allow);
}

#[test]
fn consent_resources_change_only_through_the_consent_api() {
    let own = vec!["p1".to_owned()];
    let target = Target {
        resource_type: ResourceType::Consent,
        patients: &own,
    };
    let grants = grants(State::Active);
    for role in [Role::Patient, Role::Physician, Role::Researcher] {
        let decision = decide(&user(role), Action::Write, &target, &grants, NOW);
        assert_eq!(decision.reason, Reason::ConsentResource, "{role}");
        assert!(!decision.allow);
    }
    assert!(decide(&user(Role::Patient), Action::Read, &target, &grants, NOW).allow);
    assert!(decide(&user(Role::Admin), Action::Write, &target, &grants, NOW).allow);
}

#[test]
fn grants_of_other_physicians_do_not_count() {
    let own = vec!["p1".to_owned()];
    let grants = grants(State::Active);
    let other = Caller::user(
        medilink_platform::UserId("other-doc".into()),
        Role::Physician,
        false,
        None,
    );
    assert!(!decide(&other, Action::Read, &observation_of(&own), &grants, NOW).allow);
}

// `decide` and the search restriction (`access`) must agree on every state, type, action and
// patient set.
#[test]
fn physician_decisions_agree_with_the_access_list() {
    let doc = Caller::user(
        medilink_platform::UserId("doc".into()),
        Role::Physician,
        false,
        None,
    );
    let other_doc = Caller::user(
        medilink_platform::UserId("other".into()),
        Role::Physician,
        false,
        None,
    );
    let targets: [&[String]; 4] = [
        &[],
        &["p1".to_owned()],
        &["p2".to_owned()],
        &["p1".to_owned(), "p2".to_owned()],
    ];
    for state in STATES {
        let grants = grants(state);
        for principal in [&doc, &other_doc] {
            for ty in [
                ResourceType::Observation,
                ResourceType::Patient,
                ResourceType::Practitioner,
                ResourceType::Medication,
            ] {
                for patients in targets {
                    for action in [Action::Read, Action::Write] {
                        let decision = decide(
                            principal,
                            action,
                            &Target {
                                resource_type: ty,
                                patients,
                            },
                            &grants,
                            NOW,
                        );
                        let access = access(principal, ty, &grants, NOW);
                        let expected = match access {
                            Access::All => true,
                            Access::Denied(_) => false,
                            Access::Patients {
                                ref permitted,
                                member,
                            } => {
                                (action == Action::Read || !crate::policy::is_directory(ty))
                                    && (!member || !patients.is_empty())
                                    && patients.iter().all(|p| permitted.contains(p))
                            }
                        };
                        assert_eq!(access.admits(patients), {
                            let Access::Patients { permitted, member } = &access else {
                                unreachable!("physicians are always restricted")
                            };
                            (!member || !patients.is_empty())
                                && patients.iter().all(|p| permitted.contains(p))
                        });
                        assert_eq!(
                            decision.allow, expected,
                            "{state:?} {principal:?} {ty} {patients:?} {action:?}"
                        );
                    }
                }
            }
        }
    }
}
