//! Application variables: manifest defaults, `SPIN_VARIABLE_<NAME>` overrides,
//! and component variable templates such as `"{{ es_url }}"`.

use crate::bindings::fermyon::spin::variables::{self, Error};
use crate::manifest::{check_variable_name, Manifest};
use anyhow::{bail, Result};
use std::collections::{BTreeMap, HashMap};

/// Resolves every application variable once, at start-up.
pub fn resolve_app_variables(
    manifest: &Manifest,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>> {
    let mut values = BTreeMap::new();
    for (name, var) in &manifest.variables {
        let key = format!("SPIN_VARIABLE_{}", name.to_uppercase());
        let value = match (env(&key), &var.default) {
            (Some(v), _) => v,
            (None, Some(d)) => d.clone(),
            (None, None) => bail!("required variable `{name}` has no value (set {key})"),
        };
        values.insert(name.clone(), value);
    }
    Ok(values)
}

/// Expands `{{ name }}` references against the application variables.
pub fn render_template(template: &str, app: &BTreeMap<String, String>) -> Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            bail!("unterminated `{{{{` in template `{template}`");
        };
        let name = after[..end].trim();
        check_variable_name(name)?;
        match app.get(name) {
            Some(value) => out.push_str(value),
            None => bail!("template `{template}` refers to undeclared variable `{name}`"),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The resolved variables one component may read.
pub fn component_variables(
    declared: &BTreeMap<String, String>,
    app: &BTreeMap<String, String>,
) -> Result<HashMap<String, String>> {
    declared
        .iter()
        .map(|(name, template)| Ok((name.clone(), render_template(template, app)?)))
        .collect()
}

/// What a guest's `variables.get` answers.
pub fn lookup(vars: &HashMap<String, String>, name: &str) -> Result<String, Error> {
    if check_variable_name(name).is_err() {
        return Err(Error::InvalidName(format!(
            "invalid variable name `{name}`"
        )));
    }
    vars.get(name)
        .cloned()
        .ok_or_else(|| Error::Undefined(format!("no variable for \"{name}\"")))
}

impl variables::Host for crate::state::RequestState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, Error>> {
        Ok(lookup(&self.component.variables, &name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("es_url".to_string(), "http://127.0.0.1:9200".to_string()),
            ("x".to_string(), "1".to_string()),
        ])
    }

    #[test]
    fn renders_templates() {
        assert_eq!(
            render_template("{{ es_url }}", &app()).unwrap(),
            "http://127.0.0.1:9200"
        );
        assert_eq!(render_template("a{{x}}b{{ x }}", &app()).unwrap(), "a1b1");
        assert_eq!(render_template("plain", &app()).unwrap(), "plain");
        assert!(render_template("{{ nope }}", &app()).is_err());
        assert!(render_template("{{ x", &app()).is_err());
    }

    #[test]
    fn lookup_errors() {
        let vars = HashMap::from([("a".to_string(), "v".to_string())]);
        assert_eq!(lookup(&vars, "a").unwrap(), "v");
        assert!(matches!(lookup(&vars, "b"), Err(Error::Undefined(_))));
        assert!(matches!(lookup(&vars, "B-1"), Err(Error::InvalidName(_))));
    }
}
