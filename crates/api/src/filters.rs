//! Docker's `filters` query parameter: JSON `{"key": ["v", ...]}` or the older
//! `{"key": {"v": true}}`, as (key, value) pairs.

use crate::error::{ApiError, ApiResult};

pub fn parse(q: Option<&str>) -> ApiResult<Vec<(String, String)>> {
    let Some(q) = q.filter(|q| !q.is_empty()) else {
        return Ok(Vec::new());
    };
    let v: serde_json::Value = serde_json::from_str(q)
        .map_err(|e| ApiError::bad_request(format!("invalid filter: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::bad_request("invalid filter: not an object"))?;
    let mut out = Vec::new();
    for (k, vals) in obj {
        match vals {
            serde_json::Value::Array(a) => {
                for x in a {
                    let s = x.as_str().ok_or_else(|| {
                        ApiError::bad_request(format!("invalid filter value for {k:?}"))
                    })?;
                    out.push((k.clone(), s.to_string()));
                }
            }
            serde_json::Value::Object(m) => {
                for (x, on) in m {
                    if on.as_bool() == Some(true) {
                        out.push((k.clone(), x.clone()));
                    }
                }
            }
            _ => {
                return Err(ApiError::bad_request(format!(
                    "invalid filter value for {k:?}"
                )))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_shapes() {
        let mut a = parse(Some(r#"{"label":["a=b","c"],"status":{"running":true}}"#)).unwrap();
        a.sort();
        assert_eq!(
            a,
            vec![
                ("label".to_string(), "a=b".to_string()),
                ("label".to_string(), "c".to_string()),
                ("status".to_string(), "running".to_string()),
            ]
        );
        assert!(parse(Some("[1]")).is_err());
        assert!(parse(None).unwrap().is_empty());
    }
}
