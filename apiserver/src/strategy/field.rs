//! Field paths as upstream's `field.Path` renders them: `spec.containers[0].name`, `data[key]`.

use kubesim_apimachinery::FieldError;
use serde_json::Value;

/// A list of field errors, as upstream's `field.ErrorList`.
pub type Errors = Vec<FieldError>;

/// A path to a field, built the way upstream builds `*field.Path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path(String);

impl Path {
    /// A root path such as `metadata` or `spec`; the empty root prints as nothing.
    pub fn new(root: &str) -> Self {
        Path(root.to_string())
    }

    /// `parent.name`.
    pub fn child(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Path(name.to_string())
        } else {
            self.joined(&[".", name])
        }
    }

    /// `parent.a.b` for several names at once.
    pub fn children(&self, names: &[&str]) -> Self {
        names.iter().fold(self.clone(), |p, n| p.child(n))
    }

    /// `parent[i]`.
    pub fn index(&self, i: usize) -> Self {
        let mut digits = [0; 20];
        self.joined(&["[", crate::object::decimal(i as u64, &mut digits), "]"])
    }

    /// `parent[key]`: upstream prints map keys unquoted.
    pub fn key(&self, key: &str) -> Self {
        self.joined(&["[", key, "]"])
    }

    /// This path with `parts` appended. Validation builds a path for every field it
    /// visits, valid or not, so this is written without `format!`'s machinery.
    fn joined(&self, parts: &[&str]) -> Self {
        let mut path =
            String::with_capacity(self.0.len() + parts.iter().map(|p| p.len()).sum::<usize>());
        path.push_str(&self.0);
        parts.iter().for_each(|part| path.push_str(part));
        Path(path)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&Path> for String {
    fn from(p: &Path) -> String {
        p.0.clone()
    }
}

impl From<Path> for String {
    fn from(p: Path) -> String {
        p.0
    }
}

/// `apimachineryvalidation.FieldImmutableErrorMsg`.
pub const IMMUTABLE: &str = "field is immutable";

/// `apimachineryvalidation.IsNegativeErrorMsg`.
pub const NEGATIVE: &str = "must be greater than or equal to 0";

/// `ValidateNonnegativeField`.
pub fn non_negative(value: i64, path: &Path) -> Errors {
    if value < 0 {
        vec![FieldError::invalid(path, value, NEGATIVE)]
    } else {
        Vec::new()
    }
}

/// The JSON of a typed value, for error values; `null` if it cannot be encoded.
pub fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_as_upstream() {
        let p = Path::new("spec").child("containers").index(0).child("name");
        assert_eq!(p.as_str(), "spec.containers[0].name");
        assert_eq!(Path::new("data").key("a.b").as_str(), "data[a.b]");
        for (i, rendered) in [(9, "x[9]"), (10, "x[10]"), (1234, "x[1234]")] {
            assert_eq!(Path::new("x").index(i).as_str(), rendered);
        }
        let last = Path::new("x").index(usize::MAX);
        assert_eq!(last.as_str(), format!("x[{}]", usize::MAX));
        assert_eq!(Path::new("").child("x").as_str(), "x");
        assert_eq!(
            Path::new("spec").children(&["template", "spec"]).as_str(),
            "spec.template.spec"
        );
    }

    #[test]
    fn non_negative_message() {
        assert_eq!(
            non_negative(-1, &Path::new("spec").child("replicas"))[0].to_string(),
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
    }
}
