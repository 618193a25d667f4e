//! Redfish error answers as values: an HTTP status plus the DMTF error body
//! (`error.code`, `error.message`, `error.@Message.ExtendedInfo`) with
//! messages from the DMTF Base registry.
//!
//! These are protocol answers the simulated BMC gives its client, not
//! failures of the simulator; the shell renders them with [`RedfishError::body`].

use serde_json::{Value, json};
use std::fmt;

/// The Base message registry version used in message ids
/// (`Base.1.8.ResourceMissingAtURI`).
pub const BASE_REGISTRY: &str = "Base.1.8";

/// One `@Message.ExtendedInfo` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The message key without the registry prefix, e.g. `PropertyValueNotInList`.
    pub key: &'static str,
    pub message: String,
    pub args: Vec<String>,
    /// JSON pointers of the properties concerned, e.g. `#/Boot/BootSourceOverrideTarget`.
    pub related: Vec<String>,
    pub severity: &'static str,
    pub resolution: &'static str,
}

impl Message {
    /// The full message id, e.g. `Base.1.8.PropertyValueNotInList`.
    pub fn id(&self) -> String {
        format!("{BASE_REGISTRY}.{}", self.key)
    }

    fn to_json(&self) -> Value {
        let mut m = json!({
            "@odata.type": "#Message.v1_1_1.Message",
            "MessageId": self.id(),
            "Message": self.message,
            "MessageArgs": self.args,
            "Severity": self.severity,
            "MessageSeverity": self.severity,
            "Resolution": self.resolution,
        });
        if !self.related.is_empty() {
            m["RelatedProperties"] = json!(self.related);
        }
        m
    }
}

/// A Redfish error answer: HTTP status and the messages of its body.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct RedfishError {
    pub status: u16,
    pub messages: Vec<Message>,
}

impl fmt::Display for RedfishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redfish {} {}", self.status, self.code())?;
        if let Some(m) = self.messages.first() {
            write!(f, ": {}", m.message)?;
        }
        Ok(())
    }
}

impl RedfishError {
    fn single(status: u16, message: Message) -> RedfishError {
        RedfishError {
            status,
            messages: vec![message],
        }
    }

    /// Merges several 400 answers into one with every message, as BMCs do
    /// when a PATCH has more than one problem.
    pub fn merge(errors: Vec<RedfishError>) -> Option<RedfishError> {
        let status = errors.first()?.status;
        Some(RedfishError {
            status,
            messages: errors.into_iter().flat_map(|e| e.messages).collect(),
        })
    }

    /// `error.code`: the single message's id, else `GeneralError`.
    pub fn code(&self) -> String {
        match self.messages.as_slice() {
            [one] => one.id(),
            _ => format!("{BASE_REGISTRY}.GeneralError"),
        }
    }

    /// The message ids, for tests and logs.
    pub fn message_ids(&self) -> Vec<String> {
        self.messages.iter().map(Message::id).collect()
    }

    /// The DMTF error body.
    pub fn body(&self) -> Value {
        let message = match self.messages.as_slice() {
            [one] => one.message.clone(),
            _ => "A general error has occurred. See ExtendedInfo for more information.".to_owned(),
        };
        json!({
            "error": {
                "code": self.code(),
                "message": message,
                "@Message.ExtendedInfo": self.messages.iter().map(Message::to_json).collect::<Vec<_>>(),
            }
        })
    }

    /// 404: nothing at this URI.
    pub fn resource_missing(uri: &str) -> RedfishError {
        Self::single(
            404,
            Message {
                key: "ResourceMissingAtURI",
                message: format!("The resource at the URI {uri} was not found."),
                args: vec![uri.to_owned()],
                related: vec![],
                severity: "Critical",
                resolution: "Place a valid resource at the URI or correct the URI and resubmit the request.",
            },
        )
    }

    /// 401: no credentials, a bad token, or bad Basic credentials.
    pub fn no_valid_session() -> RedfishError {
        Self::single(
            401,
            Message {
                key: "NoValidSession",
                message: "There is no valid session established with the implementation."
                    .to_owned(),
                args: vec![],
                related: vec![],
                severity: "Critical",
                resolution: "Establish a session before attempting any operations.",
            },
        )
    }

    /// 401: a session login with wrong user name or password.
    pub fn login_failed(uri: &str) -> RedfishError {
        Self::single(
            401,
            Message {
                key: "ResourceAtUriUnauthorized",
                message: format!(
                    "While accessing the resource at {uri}, the service received an authorization error: invalid user name or password."
                ),
                args: vec![uri.to_owned(), "invalid user name or password".to_owned()],
                related: vec![],
                severity: "Critical",
                resolution: "Ensure that the appropriate access is provided for the service in order for it to access the URI.",
            },
        )
    }

    /// 503: every session slot of the BMC is taken.
    pub fn session_limit_exceeded() -> RedfishError {
        Self::single(
            503,
            Message {
                key: "SessionLimitExceeded",
                message: "The session establishment failed due to the number of simultaneous sessions exceeding the limit of the implementation.".to_owned(),
                args: vec![],
                related: vec![],
                severity: "Critical",
                resolution: "Reduce the number of other sessions before trying to establish the session or increase the limit of simultaneous sessions (if supported).",
            },
        )
    }

    /// 412: `If-Match` did not match the resource's current ETag.
    pub fn precondition_failed(uri: &str) -> RedfishError {
        Self::single(
            412,
            Message {
                key: "PreconditionFailed",
                message: format!(
                    "The ETag supplied did not match the ETag required to change the resource at {uri}."
                ),
                args: vec![],
                related: vec![],
                severity: "Critical",
                resolution: "Try the operation again using the appropriate ETag.",
            },
        )
    }

    /// 400: the body is not JSON (or not a JSON object).
    pub fn malformed_json() -> RedfishError {
        Self::single(
            400,
            Message {
                key: "MalformedJSON",
                message: "The request body submitted was malformed JSON and could not be parsed by the receiving service.".to_owned(),
                args: vec![],
                related: vec![],
                severity: "Critical",
                resolution: "Ensure that the request body is valid JSON and resubmit the request.",
            },
        )
    }

    /// 405: the method is not supported on this URI.
    pub fn method_not_allowed(method: &str, uri: &str) -> RedfishError {
        Self::single(
            405,
            Message {
                key: "OperationNotAllowed",
                message: format!("The HTTP method {method} is not allowed on the URI {uri}."),
                args: vec![method.to_owned(), uri.to_owned()],
                related: vec![],
                severity: "Critical",
                resolution: "Use a method the resource supports (see the Allow header).",
            },
        )
    }

    /// 400: an action parameter is missing.
    pub fn action_parameter_missing(action: &str, param: &str) -> RedfishError {
        Self::single(
            400,
            Message {
                key: "ActionParameterMissing",
                message: format!(
                    "The action {action} requires the parameter {param} to be present in the request body."
                ),
                args: vec![action.to_owned(), param.to_owned()],
                related: vec![format!("#/{param}")],
                severity: "Critical",
                resolution: "Supply the action with the required parameter in the request body when the request is resubmitted.",
            },
        )
    }

    /// 400: an action parameter has a value outside its allowable values.
    pub fn action_parameter_value_not_in_list(
        value: &str,
        param: &str,
        action: &str,
    ) -> RedfishError {
        Self::single(
            400,
            Message {
                key: "ActionParameterValueNotInList",
                message: format!(
                    "The value {value} for the parameter {param} in the action {action} is not in the list of acceptable values."
                ),
                args: vec![value.to_owned(), param.to_owned(), action.to_owned()],
                related: vec![format!("#/{param}")],
                severity: "Warning",
                resolution: "Choose a value from the enumeration list that the implementation can support and resubmit the request if the operation failed.",
            },
        )
    }

    /// 400: an action parameter has the wrong JSON type.
    pub fn action_parameter_value_type_error(
        value: &str,
        param: &str,
        action: &str,
    ) -> RedfishError {
        Self::single(
            400,
            Message {
                key: "ActionParameterValueTypeError",
                message: format!(
                    "The value {value} for the parameter {param} in the action {action} is of a different type than the parameter can accept."
                ),
                args: vec![value.to_owned(), param.to_owned(), action.to_owned()],
                related: vec![format!("#/{param}")],
                severity: "Warning",
                resolution: "Correct the value for the parameter in the request body and resubmit the request if the operation failed.",
            },
        )
    }

    /// 400: a PATCHed property has a value outside its allowable values.
    pub fn property_value_not_in_list(value: &str, pointer: &str) -> RedfishError {
        Self::single(
            400,
            Message {
                key: "PropertyValueNotInList",
                message: format!(
                    "The value {value} for the property {} is not in the list of acceptable values.",
                    leaf(pointer)
                ),
                args: vec![value.to_owned(), leaf(pointer).to_owned()],
                related: vec![format!("#/{pointer}")],
                severity: "Warning",
                resolution: "Choose a value from the enumeration list that the implementation can support and resubmit the request if the operation failed.",
            },
        )
    }

    /// 400: a PATCHed property has the wrong JSON type.
    pub fn property_value_type_error(value: &str, pointer: &str) -> RedfishError {
        Self::single(
            400,
            Message {
                key: "PropertyValueTypeError",
                message: format!(
                    "The value {value} for the property {} is of a different type than the property can accept.",
                    leaf(pointer)
                ),
                args: vec![value.to_owned(), leaf(pointer).to_owned()],
                related: vec![format!("#/{pointer}")],
                severity: "Warning",
                resolution: "Correct the value for the property in the request body and resubmit the request if the operation failed.",
            },
        )
    }

    /// 400: a PATCHed property is read-only.
    pub fn property_not_writable(pointer: &str) -> RedfishError {
        Self::single(
            400,
            Message {
                key: "PropertyNotWritable",
                message: format!(
                    "The property {} is a read only property and cannot be assigned a value.",
                    leaf(pointer)
                ),
                args: vec![leaf(pointer).to_owned()],
                related: vec![format!("#/{pointer}")],
                severity: "Warning",
                resolution: "Remove the property from the request body and resubmit the request if the operation failed.",
            },
        )
    }

    /// 400: a PATCHed property does not exist on the resource.
    pub fn property_unknown(pointer: &str) -> RedfishError {
        Self::single(
            400,
            Message {
                key: "PropertyUnknown",
                message: format!(
                    "The property {} is not in the list of valid properties for the resource.",
                    leaf(pointer)
                ),
                args: vec![leaf(pointer).to_owned()],
                related: vec![format!("#/{pointer}")],
                severity: "Warning",
                resolution: "Remove the unknown property from the request body and resubmit the request if the operation failed.",
            },
        )
    }

    /// 400: a required property is missing from a create request.
    pub fn property_missing(property: &str) -> RedfishError {
        Self::single(
            400,
            Message {
                key: "PropertyMissing",
                message: format!(
                    "The property {property} is a required property and must be included in the request."
                ),
                args: vec![property.to_owned()],
                related: vec![format!("#/{property}")],
                severity: "Warning",
                resolution: "Ensure that the property is in the request body and has a valid value and resubmit the request if the operation failed.",
            },
        )
    }

    /// An injected error answer (`hwsim fault error --status N`): 409 is
    /// `ResourceInUse`, 503 `ServiceTemporarilyUnavailable`, anything else
    /// `GeneralError`.
    pub fn injected(status: u16, retry_after_secs: u64) -> RedfishError {
        let message = match status {
            409 => Message {
                key: "ResourceInUse",
                message: "The change to the requested resource failed because the resource is in use or in transition.".to_owned(),
                args: vec![],
                related: vec![],
                severity: "Warning",
                resolution: "Remove the condition and resubmit the request if the operation failed.",
            },
            503 => Message {
                key: "ServiceTemporarilyUnavailable",
                message: format!("The service is temporarily unavailable. Retry in {retry_after_secs} seconds."),
                args: vec![retry_after_secs.to_string()],
                related: vec![],
                severity: "Critical",
                resolution: "Wait for the indicated retry duration and retry the operation.",
            },
            _ => Message {
                key: "GeneralError",
                message: "A general error has occurred. See Resolution for information on how to resolve the error.".to_owned(),
                args: vec![],
                related: vec![],
                severity: "Critical",
                resolution: "None.",
            },
        };
        Self::single(status, message)
    }

    /// 500: the simulator could not produce an answer.
    pub fn internal(detail: &str) -> RedfishError {
        Self::single(
            500,
            Message {
                key: "InternalError",
                message: format!(
                    "The request failed due to an internal service error: {detail}. The service is still operational."
                ),
                args: vec![],
                related: vec![],
                severity: "Critical",
                resolution: "Resubmit the request. If the problem persists, consider resetting the service.",
            },
        )
    }
}

/// The last segment of a JSON-pointer-like path (`Boot/BootSourceOverrideTarget`
/// → `BootSourceOverrideTarget`).
fn leaf(pointer: &str) -> &str {
    pointer.rsplit('/').next().unwrap_or(pointer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_message_error_uses_its_id_as_code() {
        let e = RedfishError::resource_missing("/redfish/v1/Nope");
        let body = e.body();
        assert_eq!(body["error"]["code"], "Base.1.8.ResourceMissingAtURI");
        let info = body["error"]["@Message.ExtendedInfo"].as_array().unwrap();
        assert_eq!(info.len(), 1);
        assert_eq!(info[0]["MessageArgs"][0], "/redfish/v1/Nope");
    }

    #[test]
    fn merged_errors_are_a_general_error_with_every_message() {
        let e = RedfishError::merge(vec![
            RedfishError::property_unknown("Foo"),
            RedfishError::property_value_not_in_list("Floppy", "Boot/BootSourceOverrideTarget"),
        ])
        .unwrap();
        assert_eq!(e.status, 400);
        assert_eq!(e.code(), "Base.1.8.GeneralError");
        let body = e.body();
        let info = body["error"]["@Message.ExtendedInfo"].as_array().unwrap();
        assert_eq!(info[1]["MessageId"], "Base.1.8.PropertyValueNotInList");
        assert_eq!(
            info[1]["RelatedProperties"][0],
            "#/Boot/BootSourceOverrideTarget"
        );
        assert_eq!(info[1]["MessageArgs"][1], "BootSourceOverrideTarget");
        assert!(RedfishError::merge(vec![]).is_none());
    }
}
