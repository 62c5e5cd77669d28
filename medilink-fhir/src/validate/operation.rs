//! The R4 `$validate` operation (`[type]/$validate`, `[type]/{id}/$validate`): the request
//! (a resource, or a `Parameters` with `resource`, `mode` and `profile`) and its outcome's
//! issues, against the base definitions and the profiles stored in the server.

use serde_json::Value;

use super::profile::{check_against, declared_profiles};
use crate::context::RequestContext;
use crate::error::{FhirError, FhirResult, Issue, IssueCode, Severity};
use crate::model::{ResourceId, ResourceType};
use crate::store::ResourceStore;

/// `mode` of `$validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The resource would be created.
    Create,
    /// The resource would update the instance.
    Update,
    /// The instance would be deleted.
    Delete,
}

/// A parsed `$validate` request.
#[derive(Debug, Clone)]
pub struct ValidateRequest {
    /// The type in the URL.
    pub resource_type: ResourceType,
    /// The id in the URL (instance level).
    pub id: Option<ResourceId>,
    /// The resource to validate (none for a delete).
    pub resource: Option<Value>,
    /// The mode asked for.
    pub mode: Option<Mode>,
    /// The profile asked for (beside the resource's `meta.profile`).
    pub profile: Option<String>,
}

fn value_string(parameter: &Value) -> Option<String> {
    ["valueCode", "valueString", "valueUri", "valueCanonical"]
        .iter()
        .find_map(|key| parameter[key].as_str())
        .map(str::to_owned)
}

fn mode(text: &str) -> FhirResult<Mode> {
    match text {
        "create" => Ok(Mode::Create),
        "update" => Ok(Mode::Update),
        "delete" => Ok(Mode::Delete),
        _ => Err(FhirError::bad_request(
            "$validate mode is one of create, update, delete",
        )),
    }
}

impl ValidateRequest {
    /// The request of a `$validate` call: its URL's type and id, its body (none when empty)
    /// and its query parameters (`mode`, `profile`; the body's `Parameters` win).
    pub fn parse(
        resource_type: ResourceType,
        id: Option<ResourceId>,
        body: Option<Value>,
        query: &[(String, String)],
    ) -> FhirResult<ValidateRequest> {
        let mut request = ValidateRequest {
            resource_type,
            id,
            resource: None,
            mode: None,
            profile: None,
        };
        for (name, value) in query {
            match name.as_str() {
                "mode" => request.mode = Some(mode(value)?),
                "profile" => request.profile = Some(value.clone()),
                _ => {
                    return Err(FhirError::bad_request(
                        "$validate takes the parameters resource, mode and profile only",
                    ));
                }
            }
        }
        match body {
            None => {}
            Some(body)
                if body["resourceType"] == "Parameters"
                    && resource_type != ResourceType::Parameters =>
            {
                let parameters = body["parameter"].as_array().cloned().unwrap_or_default();
                for parameter in parameters {
                    match parameter["name"].as_str() {
                        Some("resource") => request.resource = Some(parameter["resource"].clone()),
                        Some("mode") => {
                            let text = value_string(&parameter).unwrap_or_default();
                            request.mode = Some(mode(&text)?);
                        }
                        Some("profile") => request.profile = value_string(&parameter),
                        _ => {
                            return Err(FhirError::bad_request(
                                "$validate takes the parameters resource, mode and profile only",
                            ));
                        }
                    }
                }
            }
            Some(body) => request.resource = Some(body),
        }
        if let Some(resource) = &request.resource {
            let Some(name) = resource["resourceType"].as_str() else {
                return Err(FhirError::bad_request(
                    "the resource to validate is not a JSON object with a resourceType",
                ));
            };
            if name != resource_type.as_str() {
                return Err(FhirError::TypeMismatch {
                    url: resource_type,
                    body: name.chars().take(64).collect(),
                });
            }
        }
        match (request.mode, &request.id, &request.resource) {
            (Some(Mode::Delete), None, _) => Err(FhirError::bad_request(
                "$validate with mode delete is an instance operation ([type]/{id}/$validate)",
            )),
            (Some(Mode::Delete), Some(_), _) | (_, _, Some(_)) => Ok(request),
            (_, _, None) => Err(FhirError::bad_request(
                "$validate needs a resource (the body, or a Parameters with resource)",
            )),
        }
    }

    /// Runs the validation. `data` is the caller's (guarded) store: an instance is read
    /// through it like a read (its errors are the read's); `definitions` holds the profiles
    /// and value sets (conformance resources, read without a caller's restriction). The
    /// issues always hold at least one (an informational one when nothing is wrong).
    pub async fn run(
        &self,
        data: &dyn ResourceStore,
        definitions: &dyn ResourceStore,
        ctx: &RequestContext,
    ) -> FhirResult<Vec<Issue>> {
        let mut issues = Vec::new();
        if let Some(id) = &self.id {
            data.read(ctx, self.resource_type, id).await?;
        }
        if self.mode == Some(Mode::Delete) {
            let id = self.id.as_ref().map(ResourceId::as_str).unwrap_or_default();
            issues.push(information(format!(
                "{}/{id} exists and may be deleted",
                self.resource_type
            )));
            return Ok(issues);
        }
        let Some(resource) = &self.resource else {
            return Ok(vec![information("nothing to validate".to_owned())]);
        };
        issues.extend(super::check(resource));
        let body_id = resource["id"].as_str();
        match (self.mode, &self.id) {
            (Some(Mode::Update), Some(id)) if body_id != Some(id.as_str()) => {
                issues.push(Issue::error(
                    IssueCode::Invalid,
                    Some(format!("{}.id", self.resource_type)),
                    "an update needs the resource's id, equal to the id in the URL",
                ));
            }
            (Some(Mode::Update), None) if body_id.is_none() => {
                issues.push(Issue::error(
                    IssueCode::Required,
                    Some(format!("{}.id", self.resource_type)),
                    "an update needs the resource's id",
                ));
            }
            _ => {}
        }
        if let Some(profile) = &self.profile {
            match check_against(definitions, ctx, resource, profile).await? {
                Some(found) => issues.extend(found),
                None => issues.push(Issue::error(
                    IssueCode::NotFound,
                    None,
                    format!("the profile {profile} is not stored in this server"),
                )),
            }
        }
        for declared in declared_profiles(resource) {
            if self.profile.as_deref() == Some(declared.as_str()) {
                continue;
            }
            match check_against(definitions, ctx, resource, &declared).await? {
                Some(found) => issues.extend(found),
                None => issues.push(Issue {
                    severity: Severity::Information,
                    code: IssueCode::Informational,
                    expression: Some(format!("{}.meta.profile", self.resource_type)),
                    diagnostics: format!(
                        "the profile {declared} is not stored in this server: not checked"
                    ),
                }),
            }
        }
        if !issues
            .iter()
            .any(|issue| matches!(issue.severity, Severity::Error | Severity::Fatal))
        {
            issues.push(information("no errors found".to_owned()));
        }
        Ok(issues)
    }
}

fn information(diagnostics: String) -> Issue {
    Issue {
        severity: Severity::Information,
        code: IssueCode::Informational,
        expression: None,
        diagnostics,
    }
}
