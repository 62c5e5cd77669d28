//! Issue #11: no blind spots in the access rule. A resource belongs to every patient it
//! references (any element, any type), and a caller needs every one of them; searches are
//! restricted at every chain and `_has` hop by the hop's own type; `PUT`/`DELETE` do not tell a
//! hidden resource from a missing one. Every leak test has its positive control: the same
//! request by an allowed caller returns the data. Run on SQLite and on PostgreSQL.

use axum::http::{Method, StatusCode};
use medilink_fhir::SqlOptions;
use medilink_platform::Role;
use medilink_server::Limits;
use serde_json::{Value, json};

use crate::support::{TestApp, api_call, signed_in};

struct World {
    app: TestApp,
    doctor: String,
    doctor_id: String,
    patient_a: String,
    patient_b: String,
    researcher: String,
    a: String,
    b: String,
}

impl World {
    async fn new(app: TestApp) -> World {
        let doctor = signed_in(&app.state, "doc@test.local", Role::Physician).await;
        let patient_a = signed_in(&app.state, "a@test.local", Role::Patient).await;
        let patient_b = signed_in(&app.state, "b@test.local", Role::Patient).await;
        let researcher = signed_in(&app.state, "r@test.local", Role::Researcher).await;
        let me = |token: String| {
            let app = app.clone();
            async move {
                let (status, body) =
                    api_call(&app, Method::GET, "/api/auth/me", &token, None).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                body
            }
        };
        let doctor_id = me(doctor.clone()).await["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let a = me(patient_a.clone()).await["patient_id"]
            .as_str()
            .expect("a")
            .to_owned();
        let b = me(patient_b.clone()).await["patient_id"]
            .as_str()
            .expect("b")
            .to_owned();
        World {
            app,
            doctor,
            doctor_id,
            patient_a,
            patient_b,
            researcher,
            a,
            b,
        }
    }

    /// `patient` (a token) grants the doctor `scope`.
    async fn grant(&self, patient: &str, scope: &[&str]) {
        let body = json!({"grantee": self.doctor_id, "scope": scope, "purpose": "TREAT"});
        let (status, answer) = api_call(
            &self.app,
            Method::POST,
            "/api/consents",
            patient,
            Some(&body),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }

    /// Created by the admin; the id.
    async fn create(&self, resource: Value) -> String {
        let uri = format!(
            "/fhir/R4/{}",
            resource["resourceType"].as_str().expect("type")
        );
        let response = self.app.post(&uri, &resource).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        response.json()["id"].as_str().expect("id").to_owned()
    }

    async fn call(
        &self,
        token: &str,
        method: Method,
        uri: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        api_call(&self.app, method, uri, token, body).await
    }

    /// The ids a search returns (panics on anything but 200).
    async fn found(&self, token: &str, uri: &str) -> Vec<String> {
        let (status, bundle) = self.call(token, Method::GET, uri, None).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {bundle}");
        bundle["entry"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|entry| entry["search"]["mode"] != "include")
                    .filter_map(|entry| entry["resource"]["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Readable by `token`: 200 on read and found by `_id`; else 404 and not found.
    async fn readable(&self, token: &str, resource_type: &str, id: &str) -> bool {
        let (status, body) = self
            .call(
                token,
                Method::GET,
                &format!("/fhir/R4/{resource_type}/{id}"),
                None,
            )
            .await;
        let found = self
            .found(token, &format!("/fhir/R4/{resource_type}?_id={id}"))
            .await;
        match status {
            StatusCode::OK => {
                assert_eq!(found, [id], "{resource_type}/{id}: read but not found");
                true
            }
            StatusCode::NOT_FOUND => {
                assert!(found.is_empty(), "{resource_type}/{id}: found but not read");
                assert_eq!(body["resourceType"], "OperationOutcome");
                false
            }
            other => panic!("{resource_type}/{id}: {other} {body}"),
        }
    }
}

fn reference(patient: &str) -> Value {
    json!({"reference": format!("Patient/{patient}")})
}

fn observation(subject: &str, code: &str) -> Value {
    json!({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": reference(subject)})
}

/// B's data outside the Patient compartment: `Device.patient`, `GuidanceResponse.subject`,
/// `Contract.subject`, a `Bundle` holding B's Observation, `Binary.securityContext`.
async fn non_compartment_types(w: &World) {
    let owned_by_b = [
        (
            "Device",
            json!({"resourceType": "Device", "patient": reference(&w.b)}),
        ),
        (
            "GuidanceResponse",
            json!({"resourceType": "GuidanceResponse", "moduleUri": "http://example.org/cds",
                "status": "success", "subject": reference(&w.b)}),
        ),
        (
            "Contract",
            json!({"resourceType": "Contract", "subject": [reference(&w.b)]}),
        ),
        (
            "Bundle",
            json!({"resourceType": "Bundle", "type": "collection", "entry": [
                {"fullUrl": "urn:uuid:7e0b3a55-9a3f-4bd4-8d5c-2b1d0c1e0f01",
                 "resource": observation(&w.b, "8867-4")}]}),
        ),
        (
            "Binary",
            json!({"resourceType": "Binary", "contentType": "text/plain",
                "securityContext": reference(&w.b), "data": "c3ludGhldGlj"}),
        ),
    ];
    let mut ids = Vec::new();
    for (resource_type, resource) in owned_by_b {
        ids.push((resource_type, w.create(resource).await));
    }
    let unassigned = w.create(json!({"resourceType": "Device"})).await;
    w.grant(&w.patient_a, &["*"]).await;
    for (resource_type, id) in &ids {
        assert!(
            !w.readable(&w.doctor, resource_type, id).await,
            "doctor: {resource_type}"
        );
        assert!(
            !w.readable(&w.patient_a, resource_type, id).await,
            "A: {resource_type}"
        );
        assert!(
            w.readable(&w.patient_b, resource_type, id).await,
            "B: {resource_type}"
        );
    }
    assert!(
        w.readable(&w.doctor, "Device", &unassigned).await,
        "no patient's device"
    );
    // Writing B's data is refused (403: it reveals nothing stored); A's is allowed.
    let (status, _) = w
        .call(
            &w.doctor,
            Method::POST,
            "/fhir/R4/Device",
            Some(&json!({"resourceType": "Device", "patient": reference(&w.b)})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = w
        .call(
            &w.doctor,
            Method::POST,
            "/fhir/R4/Device",
            Some(&json!({"resourceType": "Device", "patient": reference(&w.a)})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Positive control: with B's consent the doctor reads every one of them.
    w.grant(&w.patient_b, &["*"]).await;
    for (resource_type, id) in &ids {
        assert!(
            w.readable(&w.doctor, resource_type, id).await,
            "{resource_type}"
        );
    }
}

/// A `Group` of A and B, a `Patient` linked to A, B's Observation performed by A: none is
/// readable by A or A's doctor; with B's consent the doctor reads them.
async fn resources_naming_two_patients(w: &World) {
    let group = w
        .create(
            json!({"resourceType": "Group", "type": "person", "actual": true,
            "member": [{"entity": reference(&w.a)}, {"entity": reference(&w.b)}]}),
        )
        .await;
    let linked = w
        .create(json!({"resourceType": "Patient",
            "link": [{"other": reference(&w.a), "type": "seealso"}]}))
        .await;
    let mut performed = observation(&w.b, "8867-4");
    performed["performer"] = json!([reference(&w.a)]);
    let performed = w.create(performed).await;
    w.grant(&w.patient_a, &["*"]).await;
    let cases = [
        ("Group", &group),
        ("Patient", &linked),
        ("Observation", &performed),
    ];
    for (resource_type, id) in cases {
        assert!(
            !w.readable(&w.patient_a, resource_type, id).await,
            "A: {resource_type}"
        );
        assert!(
            !w.readable(&w.doctor, resource_type, id).await,
            "doctor: {resource_type}"
        );
    }
    let by_a = w
        .found(
            &w.doctor,
            &format!("/fhir/R4/Observation?performer=Patient/{}", w.a),
        )
        .await;
    assert!(by_a.is_empty(), "{by_a:?}");
    // Positive control: B's consent opens B's side; the linked Patient stays hidden (it is
    // its own patient, who granted nothing), an admin reads it.
    w.grant(&w.patient_b, &["*"]).await;
    assert!(w.readable(&w.doctor, "Group", &group).await);
    assert!(w.readable(&w.doctor, "Observation", &performed).await);
    assert!(!w.readable(&w.doctor, "Patient", &linked).await);
    assert!(w.readable(&w.app.token, "Patient", &linked).await);
}

/// Searches from directory types are restricted at every hop: `_has` and chains tell nobody
/// whether another patient's data matches.
async fn existence_oracles(w: &World) {
    let practitioner = w
        .create(json!({"resourceType": "Practitioner", "name": [{"family": "Probe"}]}))
        .await;
    let organization = w
        .create(json!({"resourceType": "Organization", "name": "Probe clinic"}))
        .await;
    let mut observation_b = observation(&w.b, "2339-0");
    observation_b["performer"] = json!([{"reference": format!("Practitioner/{practitioner}")}]);
    w.create(observation_b).await;
    let patient_c = w
        .create(
            json!({"resourceType": "Patient", "name": [{"family": "Zyxwv"}],
            "birthDate": "1970-03-04",
            "managingOrganization": {"reference": format!("Organization/{organization}")}}),
        )
        .await;
    let device = w
        .create(json!({"resourceType": "Device", "patient": {"reference": format!("Patient/{patient_c}")}}))
        .await;
    let has_observation =
        format!("/fhir/R4/Practitioner?_id={practitioner}&_has:Observation:performer:code=2339-0");
    let has_patient =
        format!("/fhir/R4/Organization?_id={organization}&_has:Patient:organization:family=Zyxwv");
    let device_chain = format!("/fhir/R4/Device?_id={device}&patient.birthdate=1970-03-04");
    for token in [&w.patient_a, &w.researcher, &w.doctor] {
        assert!(w.found(token, &has_observation).await.is_empty());
        assert!(w.found(token, &has_patient).await.is_empty());
    }
    assert!(w.found(&w.doctor, &device_chain).await.is_empty());
    // Positive controls: an admin sees every match; a patient sees through their own data.
    assert_eq!(
        w.found(&w.app.token, &has_observation).await,
        vec![practitioner.clone()]
    );
    assert_eq!(
        w.found(&w.app.token, &has_patient).await,
        vec![organization.clone()]
    );
    assert_eq!(w.found(&w.app.token, &device_chain).await, [device]);
    assert_eq!(
        w.found(&w.patient_b, &has_observation).await,
        vec![practitioner.clone()],
        "B sees their own observation's performer"
    );

    // A grant scoped to Observations does not open the hop to the Patient.
    let birth_date = |date: &str| {
        format!(
            "/fhir/R4/Observation?patient={}&patient.birthdate={date}",
            w.a
        )
    };
    let (_, patient_a) = w
        .call(
            &w.app.token,
            Method::GET,
            &format!("/fhir/R4/Patient/{}", w.a),
            None,
        )
        .await;
    let mut dated = patient_a.clone();
    dated["birthDate"] = json!("1981-05-06");
    let (status, body) = w
        .call(
            &w.app.token,
            Method::PUT,
            &format!("/fhir/R4/Patient/{}", w.a),
            Some(&dated),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let observation_a = w.create(observation(&w.a, "8867-4")).await;
    w.grant(&w.patient_a, &["Observation"]).await;
    assert_eq!(
        w.found(&w.doctor, &format!("/fhir/R4/Observation?patient={}", w.a))
            .await,
        vec![observation_a.clone()]
    );
    assert!(
        w.found(&w.doctor, &birth_date("1981-05-06"))
            .await
            .is_empty()
    );
    assert!(
        w.found(&w.doctor, &birth_date("1999-01-01"))
            .await
            .is_empty()
    );
    // Positive control: with the Patient granted too, the chain answers.
    w.grant(&w.patient_a, &["Patient"]).await;
    assert_eq!(
        w.found(&w.doctor, &birth_date("1981-05-06")).await,
        [observation_a]
    );
    assert!(
        w.found(&w.doctor, &birth_date("1999-01-01"))
            .await
            .is_empty()
    );
}

/// `PUT` and `DELETE` answer alike for a resource the caller may not see and a missing one.
async fn write_oracles(w: &World) {
    let hidden = w.create(observation(&w.b, "8867-4")).await;
    let missing = "never-stored-1";
    w.grant(&w.patient_a, &["*"]).await;
    for id in [hidden.as_str(), missing] {
        let mut body = observation(&w.a, "8867-4");
        body["id"] = json!(id);
        let uri = format!("/fhir/R4/Observation/{id}");
        let (put, put_body) = w.call(&w.doctor, Method::PUT, &uri, Some(&body)).await;
        let (delete, delete_body) = w.call(&w.doctor, Method::DELETE, &uri, None).await;
        assert_eq!(put, StatusCode::NOT_FOUND, "PUT {id}: {put_body}");
        assert_eq!(delete, StatusCode::NOT_FOUND, "DELETE {id}: {delete_body}");
        assert_eq!(
            put_body["issue"][0]["code"], "not-found",
            "PUT {id}: {put_body}"
        );
    }
    // Positive controls: the doctor updates and deletes A's data; the admin creates by PUT.
    let own = w.create(observation(&w.a, "8867-4")).await;
    let mut body = observation(&w.a, "2339-0");
    body["id"] = json!(own);
    let uri = format!("/fhir/R4/Observation/{own}");
    let (status, answer) = w.call(&w.doctor, Method::PUT, &uri, Some(&body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) = w.call(&w.doctor, Method::DELETE, &uri, None).await;
    assert!(status.is_success(), "{answer}");
    let mut body = observation(&w.a, "8867-4");
    body["id"] = json!(missing);
    let (status, answer) = w
        .call(
            &w.app.token,
            Method::PUT,
            &format!("/fhir/R4/Observation/{missing}"),
            Some(&body),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

async fn sqlite() -> World {
    World::new(TestApp::new().await).await
}

#[tokio::test]
async fn non_compartment_types_with_patient_references_are_that_patients_data() {
    non_compartment_types(&sqlite().await).await;
}

#[tokio::test]
async fn resources_that_name_two_patients_need_both() {
    resources_naming_two_patients(&sqlite().await).await;
}

#[tokio::test]
async fn chains_and_has_from_directory_types_are_restricted_at_every_hop() {
    existence_oracles(&sqlite().await).await;
}

#[tokio::test]
async fn put_and_delete_do_not_tell_hidden_from_missing() {
    write_oracles(&sqlite().await).await;
}

/// The four cases above on a fresh PostgreSQL database each.
#[tokio::test]
async fn the_access_rule_holds_on_postgres() {
    for case in 0..4 {
        crate::support::PostgresDatabase::run("the access rule", move |url| async move {
            let app = TestApp::on(&SqlOptions::new(url), Limits::default()).await;
            let w = World::new(app).await;
            match case {
                0 => non_compartment_types(&w).await,
                1 => resources_naming_two_patients(&w).await,
                2 => existence_oracles(&w).await,
                _ => write_oracles(&w).await,
            }
        })
        .await;
    }
}
