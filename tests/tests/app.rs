//! The real application: `spin.toml` and the built components, served by the host.

use e2e::*;
use serde_json::json;

#[test]
fn healthcheck_and_json_404_from_the_search_component() {
    let dir = TempDir::new("app");
    let h = app_host(sqlite_runtime_config(&dir), &[]);
    let reply = h.get("/deces/api/v1/healthcheck");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"msg": "OK"}));
    assert!(reply
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    for path in [
        "/deces/api/v1/nothing-here",
        "/deces/api/v1/",
        "/deces/api/v1/healthcheck/x",
    ] {
        let reply = h.get(path);
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(reply.json(), json!({"message": "Route not found"}));
    }
    let line = "GET /deces/api/v1/healthcheck search 200 ";
    assert!(h.log_with(line).contains(line));
}

#[test]
fn every_component_is_served() {
    let dir = TempDir::new("app");
    let h = app_host(sqlite_runtime_config(&dir), &[]);
    for (method, path, component, status) in [
        ("GET", "/deces/api/v1/register", "otp-request", 405),
        ("GET", "/deces/api/v1/auth", "otp-verify", 503),
        ("GET", "/deces/api/v1/ratelimit/bans", "rate-limit", 503),
    ] {
        let reply = request(h.addr, method, path, &[], b"");
        assert_eq!(reply.status, status, "{path}");
        assert!(reply.json().is_object());
        let line = format!("{method} {path} {component} {status} ");
        assert!(h.log_with(&line).contains(&line), "{line}");
    }
}

fn manifest() -> toml::Value {
    let text = std::fs::read_to_string(root().join("spin.toml")).expect("spin.toml");
    toml::from_str(&text).expect("spin.toml is TOML")
}

/// What real Spin needs: version 2, each trigger naming a component, each component's
/// `source` being exactly what its build command produces.
#[test]
fn spin_toml_is_a_buildable_spin_v2_manifest() {
    let m = manifest();
    assert_eq!(m["spin_manifest_version"].as_integer(), Some(2));
    let components = m["component"].as_table().expect("components");
    for trigger in m["trigger"]["http"].as_array().expect("http triggers") {
        let name = trigger["component"].as_str().unwrap();
        assert!(
            components.contains_key(name),
            "trigger names unknown component {name}"
        );
    }
    for name in ["search", "otp-request", "otp-verify", "rate-limit"] {
        let c = &components[name];
        let crate_file = name.replace('-', "_");
        assert_eq!(
            c["source"].as_str(),
            Some(format!("target/wasm32-wasip2/wasm/{crate_file}.wasm").as_str())
        );
        assert!(root().join(c["source"].as_str().unwrap()).is_file());
        assert_eq!(
            c["build"]["command"].as_str(),
            Some(format!("cargo build --target wasm32-wasip2 --profile wasm -p {name}").as_str())
        );
        assert!(root()
            .join("components")
            .join(name)
            .join("Cargo.toml")
            .is_file());
        // Every variable a component reads is a template over a declared app variable.
        for (var, template) in c["variables"].as_table().unwrap() {
            assert_eq!(template.as_str(), Some(format!("{{{{ {var} }}}}").as_str()));
            assert!(m["variables"].get(var).is_some(), "{var} is not declared");
        }
    }
}

/// The names operators and outside checks rely on (architecture.md) are all declared.
#[test]
fn spin_toml_declares_the_documented_variables() {
    let m = manifest();
    let vars = m["variables"].as_table().unwrap();
    let mut expected: Vec<String> = [
        "es_url",
        "es_index",
        "es_timeout_ms",
        "search_backend",
        "version_cache_seconds",
        "app_version",
        "app_dns",
        "token_secret",
        "admin_user",
        "admin_password",
        "user_token_days",
        "token_renewal_days",
        "admin_token_hours",
        "static_users_json",
        "otp_ttl_seconds",
        "otp_max_attempts",
        "otp_resend_cooldown_seconds",
        "disposable_domains_extra",
        "mail_mode",
        "mail_api_url",
        "mail_api_key",
        "mail_from",
        "dev_routes",
        "anonymous_quota_max",
        "anonymous_quota_window_seconds",
        "anonymous_ban_seconds",
        "trusted_proxies",
        "rate_limit_on_store_error",
        "cors_allowed_origins",
        "bulk_rate_global",
        "bulk_burst_global",
    ]
    .map(String::from)
    .to_vec();
    for family in ["search", "agg", "accounts", "other"] {
        for limit in [
            "rate_per_client",
            "burst_per_client",
            "rate_global",
            "burst_global",
        ] {
            expected.push(format!("{family}_{limit}"));
        }
    }
    for name in &expected {
        let var = vars.get(name).unwrap_or_else(|| panic!("{name} missing"));
        assert!(var.get("default").is_some(), "{name} needs a default");
    }
    for secret in ["token_secret", "admin_password", "mail_api_key"] {
        assert_eq!(
            vars[secret]["default"].as_str(),
            Some(""),
            "{secret} has no default value"
        );
        assert_eq!(vars[secret]["secret"].as_bool(), Some(true));
    }
    assert_eq!(
        vars["es_url"]["default"].as_str(),
        Some("http://127.0.0.1:9200")
    );
    assert_eq!(vars["anonymous_quota_max"]["default"].as_str(), Some("300"));
    assert_eq!(
        vars["search_rate_per_client"]["default"].as_str(),
        Some("1")
    );
    assert_eq!(vars["search_burst_global"]["default"].as_str(), Some("400"));
}

/// The shipped runtime-config examples parse and name the default store.
#[test]
fn runtime_config_examples_are_valid() {
    for (file, kind) in [("sqlite.toml", "spin"), ("redis.toml", "redis")] {
        let path = root().join("deploy/runtime-config").join(file);
        let text = std::fs::read_to_string(&path).expect("runtime config example");
        let value: toml::Value = toml::from_str(&text).expect("valid TOML");
        assert_eq!(
            value["key_value_store"]["default"]["type"].as_str(),
            Some(kind),
            "{file}"
        );
    }
}
