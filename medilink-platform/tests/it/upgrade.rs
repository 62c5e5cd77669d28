//! A database created before the platform's tables moved to this crate (where `medilink-fhir`
//! applied `0002_platform` and `0006_audit_patients` between its own migrations) opens
//! unchanged: nothing is applied twice, and its users and audit chain read and grow as before.

use std::collections::BTreeMap;
use std::sync::Arc;

use medilink_fhir::backend::sql::{SqlMigration, SqlResourceStore};
use medilink_fhir::{FixedClock, ResourceStore, SeqIdGen, SqlOptions};
use medilink_platform::{
    AccountStatus, AuditEntry, NewUser, Role, UserId, open_store_and_platform, platform_stores,
};

use crate::jobs_support::postgres_url;

macro_rules! migration {
    ($name:literal) => {
        SqlMigration {
            name: $name,
            sqlite: include_str!(concat!("../../../migrations/sqlite/", $name, ".sql")),
            postgres: include_str!(concat!("../../../migrations/postgres/", $name, ".sql")),
        }
    };
}

/// The migrations as the code before the split applied them: one list, in this order.
const BEFORE_THE_SPLIT: &[SqlMigration] = &[
    migration!("0001_resources"),
    migration!("0002_platform"),
    migration!("0003_search"),
    migration!("0004_jobs"),
    migration!("0005_kv"),
    migration!("0006_audit_patients"),
    migration!("0007_patient_index"),
];

/// Appends `entries` as the old release did (format 2, no `detail` column yet: this release's
/// `append` writes one).
async fn old_release_append(store: &SqlResourceStore, entries: &[AuditEntry]) {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let db = store.connection();
    let backend = db.get_database_backend();
    let marks: Vec<String> = (1..=15)
        .map(|n| match backend {
            DbBackend::Postgres => format!("${n}"),
            _ => "?".to_owned(),
        })
        .collect();
    let sql = format!(
        "INSERT INTO audit_log (seq, recorded_at, actor, role, action, resource_type, \
         resource_ids, outcome, client_ip, request_id, prev_hash, hash, format, patients, \
         resource_types) VALUES ({})",
        marks.join(", ")
    );
    let mut prev = medilink_platform::audit::GENESIS_HASH.to_owned();
    for (index, entry) in entries.iter().enumerate() {
        let seq = index as u64 + 1;
        let hash = medilink_platform::audit::chain_hash(&prev, seq, entry);
        let values: Vec<sea_orm::Value> = vec![
            (seq as i64).into(),
            medilink_fhir::clock::to_micros(entry.at).into(),
            entry.actor.clone().into(),
            entry.role.clone().into(),
            entry.action.clone().into(),
            entry.resource_type.clone().into(),
            serde_json::to_string(&entry.resource_ids)
                .expect("json")
                .into(),
            i32::from(entry.outcome).into(),
            entry.client_ip.clone().into(),
            entry.request_id.clone().into(),
            prev.clone().into(),
            hash.clone().into(),
            2i32.into(),
            serde_json::to_string(&entry.patients).expect("json").into(),
            serde_json::to_string(&entry.resource_types)
                .expect("json")
                .into(),
        ];
        db.execute_raw(Statement::from_sql_and_values(backend, &sql, values))
            .await
            .expect("an old record");
        prev = hash;
    }
}

fn entry(n: u32) -> AuditEntry {
    AuditEntry {
        at: time::macros::datetime!(2024-01-01 0:00 UTC),
        actor: Some("u-1".into()),
        role: Some("physician".into()),
        action: "read".into(),
        resource_type: Some("Patient".into()),
        resource_ids: vec!["Patient/p-1".into()],
        patients: BTreeMap::from([("p-1".to_owned(), vec!["Patient/p-1".to_owned()])]),
        resource_types: vec!["Patient".into()],
        outcome: 200,
        client_ip: None,
        request_id: format!("r-{n}"),
        detail: None,
    }
}

async fn an_old_database_opens_unchanged(url: String) {
    let clock = Arc::new(FixedClock::new(
        time::macros::datetime!(2024-01-01 0:00 UTC),
    ));
    let ids = Arc::new(SeqIdGen::new("id"));
    let mut options = SqlOptions::new(url);
    // The old release's database: every migration in the old order, then a user and two
    // audit records.
    options.migrate = false;
    let old = SqlResourceStore::connect(&options, clock.clone(), ids.clone())
        .await
        .expect("connect");
    assert_eq!(
        old.apply_migrations(BEFORE_THE_SPLIT)
            .await
            .expect("the old schema")
            .len(),
        7
    );
    let platform = platform_stores(&old, false).await.expect("platform");
    platform
        .accounts
        .create_user(NewUser {
            id: UserId("u-1".into()),
            email_hash: vec![1, 2, 3],
            email_enc: vec![4, 5, 6],
            name_enc: None,
            password_hash: "hash".into(),
            role: Role::Physician,
            status: AccountStatus::Active,
            patient_id: None,
        })
        .await
        .expect("user");
    old_release_append(&old, &[entry(1), entry(2)]).await;
    old.close().await.expect("close");
    drop((old, platform));

    // This release: nothing applied twice; only the store's migrations newer than the split.
    let store = SqlResourceStore::connect(&options, clock.clone(), ids.clone())
        .await
        .expect("reopen");
    assert_eq!(
        store.migrate().await.expect("store migrations"),
        ["0008_resource_patient", "0015_job_trace"]
    );
    assert_eq!(
        medilink_platform::sql::migrate(&store)
            .await
            .expect("platform migrations"),
        [
            "0009_notifications",
            "0010_admin",
            "0011_audit_detail",
            "0012_smart",
            "0013_subscriptions",
            "0016_smart_subscriptions"
        ]
    );
    store.close().await.expect("close");
    drop(store);

    // And the way the hosts open it (migrations on).
    options.migrate = true;
    let (_store, platform) = open_store_and_platform(&options, clock, ids)
        .await
        .expect("open as the hosts do");
    let user = platform
        .accounts
        .user(&UserId("u-1".into()))
        .await
        .expect("read")
        .expect("the old user");
    assert_eq!(user.role, Role::Physician);
    platform.audit.append(&[entry(3)]).await.expect("append");
    let verification = platform.audit.verify().await.expect("verify");
    assert_eq!(verification.first_broken, None);
    assert_eq!(verification.records, 3);
}

#[tokio::test]
async fn an_old_sqlite_database_opens_unchanged() {
    let dir = tempfile::tempdir().expect("dir");
    an_old_database_opens_unchanged(format!("sqlite://{}/medilink.db", dir.path().display())).await;
}

#[tokio::test]
async fn an_old_postgres_database_opens_unchanged() {
    let Some((url, cleanup)) = postgres_url().await else {
        return;
    };
    let outcome = tokio::spawn(an_old_database_opens_unchanged(url)).await;
    cleanup.run().await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}
