//! A patient's own demographics (issue #16): what registration asks for and what the patient
//! corrects in Settings — names, birth date, administrative gender and a phone number — and
//! how they sit in the R4 `Patient` (`name` with `use: official`, `birthDate`, `gender`,
//! `telecom` with `system: phone`).
//!
//! [`Demographics::validate`] refuses bad input naming the field (a `400` through
//! [`DemographicsError`]); [`Demographics::apply_to`] writes them into a `Patient`, changing
//! only those elements (other names and telecoms, identifiers, address, extensions stay).

use medilink_fhir::{ErrorKind, Issue, IssueCode, ServiceError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::Date;
use time::macros::{date, format_description};

/// Longest name part, phone number, in characters.
const MAX_NAME_CHARS: usize = 100;
const MAX_PHONE_CHARS: usize = 32;
/// Given names at most.
const MAX_GIVEN: usize = 5;
/// The earliest birth date accepted.
const EARLIEST_BIRTH: Date = date!(1900 - 01 - 01);
/// The administrative genders of R4 (`http://hl7.org/fhir/administrative-gender`).
pub const GENDERS: [&str; 4] = ["male", "female", "other", "unknown"];

/// A patient's demographics as `/api/account/demographics` and registration exchange them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Demographics {
    /// Given names, in order (at least one non-blank).
    pub given: Vec<String>,
    /// The family name.
    pub family: String,
    /// `YYYY-MM-DD`, not in the future, not before 1900-01-01.
    #[schema(format = Date)]
    pub birth_date: String,
    /// `male`, `female`, `other` or `unknown`.
    pub gender: String,
    /// A phone number (digits, spaces, `+ - ( ) .`), or `null` for none.
    #[schema(required = true)]
    #[serde(default)]
    pub phone: Option<String>,
}

/// Why demographics were refused: the field and the reason (never the value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct DemographicsError {
    /// The request field (`given`, `family`, `birth_date`, `gender`, `phone`).
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
    /// Missing (`required`) or wrong (`value`).
    pub code: IssueCode,
}

impl DemographicsError {
    fn required(field: &'static str) -> Self {
        DemographicsError {
            field,
            reason: "is required",
            code: IssueCode::Required,
        }
    }

    fn value(field: &'static str, reason: &'static str) -> Self {
        DemographicsError {
            field,
            reason,
            code: IssueCode::Value,
        }
    }
}

impl ServiceError for DemographicsError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Invalid
    }

    fn issue_code(&self) -> IssueCode {
        self.code
    }

    fn issues(&self) -> Vec<Issue> {
        vec![Issue::error(
            self.code,
            Some(self.field.to_owned()),
            self.to_string(),
        )]
    }
}

/// A trimmed name part: non-blank, at most [`MAX_NAME_CHARS`], no control characters.
fn name_part(field: &'static str, text: &str) -> Result<String, DemographicsError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DemographicsError::required(field));
    }
    if text.chars().count() > MAX_NAME_CHARS {
        return Err(DemographicsError::value(
            field,
            "is longer than 100 characters",
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(DemographicsError::value(
            field,
            "must not contain control characters",
        ));
    }
    Ok(text.to_owned())
}

impl Demographics {
    /// The same demographics trimmed and checked against `today`: blank given names dropped
    /// (one must remain), a valid past birth date, a known gender, an empty phone as none.
    pub fn validate(&self, today: Date) -> Result<Demographics, DemographicsError> {
        let given = self
            .given
            .iter()
            .filter(|part| !part.trim().is_empty())
            .map(|part| name_part("given", part))
            .collect::<Result<Vec<_>, _>>()?;
        if given.is_empty() {
            return Err(DemographicsError::required("given"));
        }
        if given.len() > MAX_GIVEN {
            return Err(DemographicsError::value(
                "given",
                "at most 5 given names are kept",
            ));
        }
        let family = name_part("family", &self.family)?;
        let birth_date = self.birth_date.trim();
        if birth_date.is_empty() {
            return Err(DemographicsError::required("birth_date"));
        }
        let born = Date::parse(birth_date, format_description!("[year]-[month]-[day]"))
            .map_err(|_| DemographicsError::value("birth_date", "must be a date YYYY-MM-DD"))?;
        if born > today {
            return Err(DemographicsError::value(
                "birth_date",
                "must not be in the future",
            ));
        }
        if born < EARLIEST_BIRTH {
            return Err(DemographicsError::value(
                "birth_date",
                "must not be before 1900-01-01",
            ));
        }
        let gender = self.gender.trim();
        if gender.is_empty() {
            return Err(DemographicsError::required("gender"));
        }
        if !GENDERS.contains(&gender) {
            return Err(DemographicsError::value(
                "gender",
                "must be male, female, other or unknown",
            ));
        }
        let phone = match self.phone.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(phone) => Some(check_phone(phone)?),
        };
        Ok(Demographics {
            given,
            family,
            birth_date: birth_date.to_owned(),
            gender: gender.to_owned(),
            phone,
        })
    }

    /// "Given… Family": the account's display name and the name's `text`.
    pub fn display_name(&self) -> String {
        let mut parts: Vec<&str> = self.given.iter().map(String::as_str).collect();
        parts.push(&self.family);
        parts.join(" ")
    }

    /// A new patient's `Patient` resource.
    pub fn new_patient(&self) -> Value {
        let mut patient = json!({"resourceType": "Patient", "active": true});
        self.apply_to(&mut patient);
        patient
    }

    /// Writes these demographics into `patient`, leaving every other element as it was: the
    /// official name (else the first, else a new one) gets `family`, `given` and `text`
    /// (its prefix, suffix and period stay); `birthDate` and `gender` are set; the phone
    /// replaces the first `telecom` of system `phone` (else is added as `mobile`), and no
    /// phone removes the phone entries.
    pub fn apply_to(&self, patient: &mut Value) {
        let Some(resource) = patient.as_object_mut() else {
            return;
        };
        let names = resource.entry("name").or_insert_with(|| json!([]));
        if !names.is_array() {
            *names = json!([]);
        }
        let names = names
            .as_array_mut()
            .expect("invariant: made an array above");
        let index = official_name(names);
        let name = match index {
            Some(index) => &mut names[index],
            None => {
                names.insert(0, json!({"use": "official"}));
                &mut names[0]
            }
        };
        if let Some(name) = name.as_object_mut() {
            name.insert("family".into(), json!(self.family));
            name.insert("given".into(), json!(self.given));
            name.insert("text".into(), json!(self.display_name()));
        }
        resource.insert("birthDate".into(), json!(self.birth_date));
        resource.insert("gender".into(), json!(self.gender));
        let mut telecom: Vec<Value> = resource
            .remove("telecom")
            .and_then(|value| value.as_array().cloned())
            .unwrap_or_default();
        let is_phone = |point: &Value| point["system"] == "phone";
        match &self.phone {
            Some(phone) => match telecom.iter_mut().find(|point| is_phone(point)) {
                Some(point) => point["value"] = json!(phone),
                None => telecom.push(json!({"system": "phone", "value": phone, "use": "mobile"})),
            },
            None => telecom.retain(|point| !is_phone(point)),
        }
        if !telecom.is_empty() {
            resource.insert("telecom".into(), Value::Array(telecom));
        }
    }

    /// The demographics `patient` holds (empty strings for what it lacks).
    pub fn of_patient(patient: &Value) -> Demographics {
        let empty = Vec::new();
        let names = patient["name"].as_array().unwrap_or(&empty);
        let name = official_name(names).map_or(&Value::Null, |index| &names[index]);
        let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
        Demographics {
            given: name["given"]
                .as_array()
                .map(|given| {
                    given
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            family: text(&name["family"]),
            birth_date: text(&patient["birthDate"]),
            gender: text(&patient["gender"]),
            phone: patient["telecom"]
                .as_array()
                .and_then(|telecom| telecom.iter().find(|point| point["system"] == "phone"))
                .and_then(|point| point["value"].as_str())
                .map(str::to_owned),
        }
    }
}

/// The index of the official name, else of the first one.
fn official_name(names: &[Value]) -> Option<usize> {
    names
        .iter()
        .position(|name| name["use"] == "official")
        .or_else(|| (!names.is_empty()).then_some(0))
}

fn check_phone(phone: &str) -> Result<String, DemographicsError> {
    let allowed = |c: char| c.is_ascii_digit() || " +-().".contains(c);
    if phone.chars().count() > MAX_PHONE_CHARS {
        return Err(DemographicsError::value(
            "phone",
            "is longer than 32 characters",
        ));
    }
    if !phone.chars().all(allowed) || phone.chars().filter(char::is_ascii_digit).count() < 3 {
        return Err(DemographicsError::value(
            "phone",
            "must be digits with optional spaces and + - ( ) .",
        ));
    }
    Ok(phone.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: Date = date!(2024 - 06 - 01);

    fn ada() -> Demographics {
        Demographics {
            given: vec![" Ada ".into(), "".into(), "Maria".into()],
            family: " Example ".into(),
            birth_date: "1985-12-10".into(),
            gender: "female".into(),
            phone: Some(" +1 555 0100 ".into()),
        }
    }

    #[test]
    fn valid_demographics_are_trimmed() {
        let valid = ada().validate(TODAY).expect("valid");
        assert_eq!(valid.given, ["Ada", "Maria"]);
        assert_eq!(valid.family, "Example");
        assert_eq!(valid.phone.as_deref(), Some("+1 555 0100"));
        assert_eq!(valid.display_name(), "Ada Maria Example");
        let no_phone = Demographics {
            phone: Some("  ".into()),
            ..ada()
        };
        assert_eq!(no_phone.validate(TODAY).expect("valid").phone, None);
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: [(Demographics, &str, IssueCode); 9] = [
            (
                Demographics {
                    given: vec![" ".into()],
                    ..ada()
                },
                "given",
                IssueCode::Required,
            ),
            (
                Demographics {
                    given: vec![],
                    ..ada()
                },
                "given",
                IssueCode::Required,
            ),
            (
                Demographics {
                    family: "".into(),
                    ..ada()
                },
                "family",
                IssueCode::Required,
            ),
            (
                Demographics {
                    birth_date: "".into(),
                    ..ada()
                },
                "birth_date",
                IssueCode::Required,
            ),
            (
                Demographics {
                    birth_date: "1985-13-01".into(),
                    ..ada()
                },
                "birth_date",
                IssueCode::Value,
            ),
            (
                Demographics {
                    birth_date: "2024-06-02".into(),
                    ..ada()
                },
                "birth_date",
                IssueCode::Value,
            ),
            (
                Demographics {
                    birth_date: "1899-12-31".into(),
                    ..ada()
                },
                "birth_date",
                IssueCode::Value,
            ),
            (
                Demographics {
                    gender: "robot".into(),
                    ..ada()
                },
                "gender",
                IssueCode::Value,
            ),
            (
                Demographics {
                    phone: Some("call me".into()),
                    ..ada()
                },
                "phone",
                IssueCode::Value,
            ),
        ];
        for (input, field, code) in cases {
            let err = input.validate(TODAY).expect_err(field);
            assert_eq!((err.field, err.code), (field, code), "{input:?}");
            assert_eq!(err.issues()[0].expression.as_deref(), Some(field));
        }
        assert!(
            Demographics {
                birth_date: "2024-06-01".into(),
                ..ada()
            }
            .validate(TODAY)
            .is_ok(),
            "today is not the future"
        );
    }

    #[test]
    fn a_new_patient_is_a_valid_r4_patient() {
        let patient = ada().validate(TODAY).expect("valid").new_patient();
        assert_eq!(
            patient,
            json!({
                "resourceType": "Patient",
                "active": true,
                "name": [{"use": "official", "family": "Example", "given": ["Ada", "Maria"],
                          "text": "Ada Maria Example"}],
                "birthDate": "1985-12-10",
                "gender": "female",
                "telecom": [{"system": "phone", "value": "+1 555 0100", "use": "mobile"}]
            })
        );
        assert_eq!(
            medilink_fhir::validate::check(&patient),
            Vec::<Issue>::new()
        );
        assert_eq!(
            Demographics::of_patient(&patient),
            ada().validate(TODAY).expect("valid")
        );
    }

    #[test]
    fn applying_keeps_every_other_element() {
        let mut patient = json!({
            "resourceType": "Patient",
            "id": "p1",
            "identifier": [{"system": "urn:x", "value": "1"}],
            "name": [
                {"use": "maiden", "family": "Old"},
                {"use": "official", "family": "Wrong", "given": ["X"], "prefix": ["Ms."]}
            ],
            "telecom": [
                {"system": "email", "value": "a@example.test"},
                {"system": "phone", "value": "1", "use": "home"}
            ],
            "address": [{"city": "Springfield"}],
            "gender": "unknown"
        });
        let valid = ada().validate(TODAY).expect("valid");
        valid.apply_to(&mut patient);
        assert_eq!(patient["identifier"][0]["value"], "1");
        assert_eq!(patient["address"][0]["city"], "Springfield");
        assert_eq!(
            patient["name"][0],
            json!({"use": "maiden", "family": "Old"})
        );
        assert_eq!(patient["name"][1]["prefix"], json!(["Ms."]));
        assert_eq!(patient["name"][1]["family"], "Example");
        assert_eq!(
            patient["telecom"],
            json!([{"system": "email", "value": "a@example.test"},
                   {"system": "phone", "value": "+1 555 0100", "use": "home"}])
        );
        assert_eq!(
            medilink_fhir::validate::check(&patient),
            Vec::<Issue>::new()
        );
        let no_phone = Demographics {
            phone: None,
            ..valid.clone()
        };
        no_phone.apply_to(&mut patient);
        assert_eq!(
            patient["telecom"],
            json!([{"system": "email", "value": "a@example.test"}])
        );
        let mut bare = json!({"resourceType": "Patient", "name": [{"text": "A B"}]});
        no_phone.apply_to(&mut bare);
        assert!(bare.get("telecom").is_none());
        assert_eq!(bare["name"][0]["family"], "Example");
    }
}
