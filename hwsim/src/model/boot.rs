//! Boot override settings (`ComputerSystem.Boot`) and the validation of a
//! PATCH of them. Validation is all-or-nothing: every problem is reported
//! and nothing changes unless the whole body is valid.

use crate::redfish::RedfishError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

redfish_enum!(
    /// `Boot.BootSourceOverrideTarget`.
    BootTarget {
        None => "None",
        Pxe => "Pxe",
        Cd => "Cd",
        Usb => "Usb",
        Hdd => "Hdd",
        BiosSetup => "BiosSetup",
        /// Boot the UEFI device path in `UefiTargetBootSourceOverride`.
        UefiTarget => "UefiTarget",
        UefiHttp => "UefiHttp",
    }
);

redfish_enum!(
    /// `Boot.BootSourceOverrideEnabled`.
    BootOverrideEnabled {
        Disabled => "Disabled",
        /// Used for the next boot only; the BMC then resets it to `Disabled`.
        Once => "Once",
        Continuous => "Continuous",
    }
);

redfish_enum!(
    /// `Boot.BootSourceOverrideMode`.
    BootMode {
        Uefi => "UEFI",
        Legacy => "Legacy",
    }
);

/// A blade's boot override, as configured on its BMC (and as handed to the
/// OS hook when the blade boots).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootSettings {
    pub target: BootTarget,
    pub enabled: BootOverrideEnabled,
    pub mode: BootMode,
    /// `UefiTargetBootSourceOverride`, a UEFI device path.
    pub uefi_target: Option<String>,
}

impl Default for BootSettings {
    fn default() -> Self {
        BootSettings {
            target: BootTarget::None,
            enabled: BootOverrideEnabled::Disabled,
            mode: BootMode::Uefi,
            uefi_target: None,
        }
    }
}

impl BootSettings {
    /// The target this boot actually uses: the override when it is enabled,
    /// else `None` (the blade's default boot order).
    pub fn effective_target(&self) -> BootTarget {
        match self.enabled {
            BootOverrideEnabled::Disabled => BootTarget::None,
            BootOverrideEnabled::Once | BootOverrideEnabled::Continuous => self.target,
        }
    }

    /// Applies the `Boot` object of a PATCH body. `pointer_prefix` is the
    /// path of the object in the body (`Boot`). Returns the new settings or
    /// a 400 with one message per problem.
    pub fn patched(
        &self,
        boot: &Value,
        pointer_prefix: &str,
    ) -> Result<BootSettings, RedfishError> {
        let Some(obj) = boot.as_object() else {
            return Err(RedfishError::property_value_type_error(
                &boot.to_string(),
                pointer_prefix,
            ));
        };
        let mut next = self.clone();
        let mut errors = Vec::new();
        for (key, value) in obj {
            let pointer = format!("{pointer_prefix}/{key}");
            match key.as_str() {
                "BootSourceOverrideTarget" => match parse_enum::<BootTarget>(value, &pointer) {
                    Ok(v) => next.target = v,
                    Err(e) => errors.push(e),
                },
                "BootSourceOverrideEnabled" => {
                    match parse_enum::<BootOverrideEnabled>(value, &pointer) {
                        Ok(v) => next.enabled = v,
                        Err(e) => errors.push(e),
                    }
                }
                "BootSourceOverrideMode" => match parse_enum::<BootMode>(value, &pointer) {
                    Ok(v) => next.mode = v,
                    Err(e) => errors.push(e),
                },
                "UefiTargetBootSourceOverride" => match value {
                    Value::Null => next.uefi_target = None,
                    Value::String(s) => next.uefi_target = Some(s.clone()),
                    other => errors.push(RedfishError::property_value_type_error(
                        &other.to_string(),
                        &pointer,
                    )),
                },
                // Annotations such as `…@Redfish.AllowableValues` are read-only.
                k if k.contains('@') => errors.push(RedfishError::property_not_writable(&pointer)),
                _ => errors.push(RedfishError::property_unknown(&pointer)),
            }
        }
        match RedfishError::merge(errors) {
            Some(e) => Err(e),
            None => Ok(next),
        }
    }
}

/// A Redfish enum value from JSON: a string naming one of `T::ALL`.
fn parse_enum<T: std::str::FromStr>(value: &Value, pointer: &str) -> Result<T, RedfishError> {
    match value {
        Value::String(s) => s
            .parse()
            .map_err(|_| RedfishError::property_value_not_in_list(s, pointer)),
        other => Err(RedfishError::property_value_type_error(
            &other.to_string(),
            pointer,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_valid_patch_changes_only_what_it_names() {
        let cur = BootSettings::default();
        let next = cur
            .patched(
                &json!({"BootSourceOverrideTarget": "UefiHttp", "BootSourceOverrideEnabled": "Once"}),
                "Boot",
            )
            .unwrap();
        assert_eq!(next.target, BootTarget::UefiHttp);
        assert_eq!(next.enabled, BootOverrideEnabled::Once);
        assert_eq!(next.mode, BootMode::Uefi);
        assert_eq!(next.effective_target(), BootTarget::UefiHttp);
    }

    #[test]
    fn every_problem_is_reported_and_nothing_applies() {
        let cur = BootSettings::default();
        let err = cur
            .patched(
                &json!({
                    "BootSourceOverrideTarget": "Floppy",
                    "BootSourceOverrideEnabled": 3,
                    "BootSourceOverrideMode": "UEFI",
                    "Bogus": true,
                }),
                "Boot",
            )
            .unwrap_err();
        assert_eq!(err.status, 400);
        let mut ids = err.message_ids();
        ids.sort();
        assert_eq!(
            ids,
            [
                "Base.1.8.PropertyUnknown",
                "Base.1.8.PropertyValueNotInList",
                "Base.1.8.PropertyValueTypeError"
            ]
        );
    }

    #[test]
    fn uefi_target_accepts_string_or_null() {
        let cur = BootSettings::default();
        let set = cur
            .patched(
                &json!({"UefiTargetBootSourceOverride": "/NVMe(0x1)"}),
                "Boot",
            )
            .unwrap();
        assert_eq!(set.uefi_target.as_deref(), Some("/NVMe(0x1)"));
        let cleared = set
            .patched(&json!({"UefiTargetBootSourceOverride": null}), "Boot")
            .unwrap();
        assert_eq!(cleared.uefi_target, None);
        assert!(
            cur.patched(&json!({"UefiTargetBootSourceOverride": 1}), "Boot")
                .is_err()
        );
        assert!(cur.patched(&json!("Pxe"), "Boot").is_err());
    }

    #[test]
    fn enum_strings_are_redfish_spellings() {
        assert_eq!(BootMode::Uefi.as_str(), "UEFI");
        assert_eq!("UEFI".parse::<BootMode>(), Ok(BootMode::Uefi));
        assert_eq!(serde_json::to_value(BootMode::Uefi).unwrap(), json!("UEFI"));
        assert!(BootTarget::allowable_values().contains(&"UefiTarget"));
    }
}
