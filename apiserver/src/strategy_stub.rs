//! Temporary stand-in for the strategy module while it is written.
use kubesim_apimachinery::FieldError;
use serde_json::Value;
pub enum Operation<'a> { Create, Update { old: &'a Value } }
pub enum Rejection { Decode(String), Invalid(Vec<FieldError>) }
pub fn prepare(_group: &str, _kind: &str, _op: Operation<'_>, obj: Value) -> Result<Value, Rejection> { Ok(obj) }
pub fn convert(_group: &str, _kind: &str, obj: Value, _to_version: &str) -> Result<Value, String> { Ok(obj) }
