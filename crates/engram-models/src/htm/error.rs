//! Errors of the HTM components: one enum, raised when a component is built from its
//! parameters, never from inside a step.

/// A problem found while checking the parameters of an HTM component.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HtmError {
    /// A parameter outside its valid range.
    #[error("{component}: parameter `{name}` = {value} is invalid: {reason}")]
    InvalidParam {
        /// The component being built, e.g. `temporal memory`.
        component: &'static str,
        /// The parameter's field name.
        name: &'static str,
        /// The offending value, printed.
        value: String,
        /// What the value must satisfy.
        reason: String,
    },
}

impl HtmError {
    pub(crate) fn invalid(
        component: &'static str,
        name: &'static str,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> HtmError {
        HtmError::InvalidParam { component, name, value: value.to_string(), reason: reason.into() }
    }
}
