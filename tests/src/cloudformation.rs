//! A small reader of CloudFormation templates as data, for the checks of `infra/template.yaml`
//! (`tests/e2e/template/`): resources by type, references (`Ref`, `Fn::GetAtt`, `Fn::Sub`),
//! parameter defaults, role statements, alarm dimensions.

use serde_json::{Map, Value, json};

pub fn template_text() -> String {
    let path = crate::events::workspace_root().join("infra/template.yaml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

pub fn parse(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("infra/template.yaml is not plain YAML: {e}"))
}

pub fn resources(t: &Value) -> &Map<String, Value> {
    t["Resources"].as_object().expect("Resources is a map")
}

pub fn of_type<'a>(t: &'a Value, ty: &str) -> Vec<(&'a str, &'a Value)> {
    resources(t).iter().filter(|(_, r)| r["Type"] == ty).map(|(id, r)| (id.as_str(), r)).collect()
}

/// A value, or the default of the parameter it refers to.
pub fn resolve<'a>(t: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("Ref").and_then(Value::as_str) {
        Some(p) if t["Parameters"].get(p).is_some() => &t["Parameters"][p]["Default"],
        _ => v,
    }
}

/// True when `v` refers to the logical id `id`: `Ref`, `Fn::GetAtt`, a `${id}` in `Fn::Sub`, or
/// any of these nested (both branches of `Fn::If` count).
pub fn refers_to(v: &Value, id: &str) -> bool {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("Ref") {
                return r == id;
            }
            if let Some(g) = m.get("Fn::GetAtt") {
                return match g {
                    Value::Array(a) => a.first().and_then(Value::as_str) == Some(id),
                    Value::String(s) => s.split('.').next() == Some(id),
                    _ => false,
                };
            }
            if let Some(s) = m.get("Fn::Sub") {
                let (text, vars) = match s {
                    Value::String(text) => (text.as_str(), None),
                    Value::Array(a) => (a[0].as_str().unwrap_or(""), a.get(1)),
                    _ => ("", None),
                };
                return text.contains(&format!("${{{id}}}"))
                    || text.contains(&format!("${{{id}."))
                    || vars.is_some_and(|vars| refers_to(vars, id));
            }
            m.values().any(|x| refers_to(x, id))
        }
        Value::Array(a) => a.iter().any(|x| refers_to(x, id)),
        _ => false,
    }
}

/// The text of a resource expression: a string, an `Fn::Sub` pattern, `${X}` for `Ref: X`,
/// `${X.Attr}` for `Fn::GetAtt: [X, Attr]`.
pub fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => {
            if let Some(s) = m.get("Fn::Sub") {
                return match s {
                    Value::String(s) => Some(s.clone()),
                    Value::Array(a) => a.first().and_then(Value::as_str).map(str::to_owned),
                    _ => None,
                };
            }
            if let Some(Value::String(r)) = m.get("Ref") {
                return Some(format!("${{{r}}}"));
            }
            match m.get("Fn::GetAtt") {
                Some(Value::Array(a)) => Some(format!("${{{}.{}}}", a[0].as_str()?, a[1].as_str()?)),
                Some(Value::String(s)) => Some(format!("${{{s}}}")),
                _ => None,
            }
        }
        _ => None,
    }
}

pub fn as_list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => vec![],
        other => vec![other],
    }
}

pub fn strings(v: &Value) -> Vec<String> {
    as_list(v).into_iter().filter_map(|x| x.as_str().map(str::to_owned)).collect()
}

/// The logical id of the function built from `binary`.
pub fn function_id<'a>(t: &'a Value, binary: &str) -> Option<&'a str> {
    of_type(t, "AWS::Serverless::Function")
        .into_iter()
        .find(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"] == binary)
        .map(|(id, _)| id)
}

/// The allowed statements of a role's inline policies, `Fn::If` branches expanded.
pub fn statements(role: &Value) -> Vec<&Value> {
    let mut out = vec![];
    for policy in as_list(&role["Properties"]["Policies"]) {
        for statement in as_list(&policy["PolicyDocument"]["Statement"]) {
            match statement.get("Fn::If") {
                Some(Value::Array(branches)) => {
                    out.extend(branches.iter().skip(1).filter(|b| b.get("Ref") != Some(&json!("AWS::NoValue"))))
                }
                _ => out.push(statement),
            }
        }
    }
    out.into_iter().filter(|s| s["Effect"] == "Allow").collect()
}

pub fn dimensions(alarm: &Value) -> Vec<(String, &Value)> {
    as_list(&alarm["Properties"]["Dimensions"])
        .into_iter()
        .map(|d| (d["Name"].as_str().unwrap_or_default().to_owned(), &d["Value"]))
        .collect()
}

pub fn dimension<'a>(alarm: &'a Value, name: &str) -> Option<&'a Value> {
    as_list(&alarm["Properties"]["Dimensions"]).into_iter().find(|d| d["Name"] == name).map(|d| &d["Value"])
}

pub fn number(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// The logical id a `Ref` names (a log group's, say), or `<none>`.
pub fn log_group_id(v: &Value) -> &str {
    v.get("Ref").and_then(Value::as_str).unwrap_or("<none>")
}
