//! `SubscriptionStore::get_many`: the states a websocket bound to several subscriptions reads
//! in one round trip (the SQL store's own query, not the trait's one-by-one default).

use medilink_platform::UserId;
use medilink_platform::subscriptions::{NewSubscription, SubscriptionStatus};

use crate::jobs_support::{TestDb, postgres, run_on, sqlite};

async fn case(db: TestDb) {
    let states = db.platform.subscriptions.clone();
    for (id, status) in [
        ("s1", SubscriptionStatus::Active),
        ("s2", SubscriptionStatus::Off),
        ("s3", SubscriptionStatus::Active),
    ] {
        states
            .create(&NewSubscription {
                id: id.to_owned(),
                owner: UserId("u1".to_owned()),
                topic: "http://example.org/topic".to_owned(),
                channel: "websocket".to_owned(),
                base: "http://localhost/fhir/R4".to_owned(),
                status,
                position: 7,
                created_at: db.clock_now(),
                app: None,
            })
            .await
            .expect("create");
    }
    assert!(states.get_many(&[]).await.expect("none").is_empty());
    let mut got = states
        .get_many(&["s3", "missing", "s2", "s1"])
        .await
        .expect("get_many");
    got.sort_by(|a, b| a.id.cmp(&b.id));
    let one_by_one = [
        states.get("s1").await.expect("s1").expect("s1 exists"),
        states.get("s2").await.expect("s2").expect("s2 exists"),
        states.get("s3").await.expect("s3").expect("s3 exists"),
    ];
    assert_eq!(got, one_by_one, "what get gives, for those that exist");
    assert_eq!(got[1].status, SubscriptionStatus::Off);
}

#[tokio::test]
async fn get_many_reads_the_existing_states_on_sqlite() {
    run_on(sqlite(), case).await;
}

#[tokio::test]
async fn get_many_reads_the_existing_states_on_postgres() {
    run_on(postgres(), case).await;
}
