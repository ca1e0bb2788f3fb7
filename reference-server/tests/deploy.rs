//! The deployment files agree with the server: every variable the compose file sets for the
//! server is one the server reads, ports match its defaults, Prometheus scrapes the right place,
//! and every metric the Grafana dashboard charts is one the server exports.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::CommandFactory;
use common::*;
use reqwest::StatusCode;
use vehicleops_server::config::Config;
use yaml_rust2::{Yaml, YamlLoader};

fn deploy(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(file)
}

fn yaml(file: &str) -> Yaml {
    let text = std::fs::read_to_string(deploy(file)).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

fn default_port() -> u16 {
    let c = Config::command();
    let arg = c
        .get_arguments()
        .find(|a| a.get_id() == "app_port")
        .unwrap();
    arg.get_default_values()[0]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn compose_sets_only_variables_the_server_reads() {
    let compose = yaml("docker-compose.yml");
    let server = &compose["services"]["server"];
    let env = server["environment"]
        .as_hash()
        .expect("server.environment is a map");
    let known: BTreeSet<String> = Config::environment_variables().into_iter().collect();
    let mut set = BTreeSet::new();
    for (k, v) in env {
        let name = k.as_str().unwrap().to_owned();
        assert!(
            known.contains(&name),
            "compose sets {name}, which the server does not read"
        );
        assert!(!v.is_badvalue() && !v.is_null(), "{name} has no value");
        set.insert(name);
    }
    // The settings that make it the production topology are there.
    for required in [
        "APP_ENV",
        "SECRET_KEY",
        "VEHICLEOPS_STORE",
        "VEHICLEOPS_BUS",
        "POSTGRES_HOST",
        "KAFKA_BOOTSTRAP_SERVERS",
    ] {
        assert!(set.contains(required), "compose does not set {required}");
    }
    // The values parse: each variable becomes its flag (interpolated secrets become
    // placeholders of a valid length).
    let command = Config::command();
    let mut args = vec!["vehicleops-server".to_owned()];
    for (k, v) in env {
        let name = k.as_str().unwrap();
        let arg = command
            .get_arguments()
            .find(|a| a.get_env().is_some_and(|e| e == name))
            .unwrap();
        let value = v
            .as_str()
            .map(str::to_owned)
            .or_else(|| v.as_i64().map(|i| i.to_string()))
            .unwrap();
        let value = if value.contains("${") {
            "x".repeat(40)
        } else {
            value
        };
        args.push(format!("--{}", arg.get_long().unwrap()));
        args.push(value);
    }
    let config = Config::load_from(&args).expect("the compose values parse");
    config
        .validate()
        .expect("the compose values are consistent");
}

#[test]
fn ports_match_the_server_defaults() {
    let port = default_port();
    assert_eq!(port, 8000, "the original's APP_PORT");
    let compose = yaml("docker-compose.yml");
    let server = &compose["services"]["server"];
    let ports: Vec<&str> = server["ports"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(ports, [format!("{port}:{port}")]);
    assert_eq!(
        server["environment"]["APP_PORT"].as_str(),
        Some(port.to_string().as_str())
    );

    let prometheus = yaml("prometheus/prometheus.yml");
    let job = &prometheus["scrape_configs"][0];
    assert_eq!(job["metrics_path"].as_str(), Some("/metrics"));
    assert_eq!(
        job["static_configs"][0]["targets"][0].as_str(),
        Some(format!("server:{port}").as_str())
    );

    let dockerfile = std::fs::read_to_string(deploy("Dockerfile")).unwrap();
    assert!(dockerfile.contains(&format!("EXPOSE {port}")));
    assert!(dockerfile.contains(&format!("APP_PORT={port}")));
}

/// The `ENV` settings of the Dockerfile's final image, as `(variable, value)`.
fn dockerfile_env() -> Vec<(String, String)> {
    let dockerfile = std::fs::read_to_string(deploy("Dockerfile")).unwrap();
    let mut env = Vec::new();
    let mut in_env = false;
    for line in dockerfile.lines() {
        let line = line.trim();
        let rest = if let Some(rest) = line.strip_prefix("ENV ") {
            rest
        } else if in_env {
            line
        } else {
            continue;
        };
        in_env = rest.ends_with('\\');
        let pair = rest.trim_end_matches('\\').trim();
        if let Some((k, v)) = pair.split_once('=') {
            env.push((k.to_owned(), v.to_owned()));
        }
    }
    env
}

#[test]
fn the_image_runs_production_mode() {
    let env = dockerfile_env();
    let value = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    assert_eq!(value("APP_ENV"), Some("production"), "{env:?}");
    assert_eq!(value("APP_HOST"), Some("0.0.0.0"), "{env:?}");
    assert_eq!(value("VEHICLEOPS_DEMO_ALLOW_PUBLIC"), None, "{env:?}");
    let command = Config::command();
    let mut args = vec!["vehicleops-server".to_owned()];
    for (k, v) in &env {
        let arg = command
            .get_arguments()
            .find(|a| a.get_env().is_some_and(|e| e == k.as_str()))
            .unwrap_or_else(|| panic!("the image sets {k}, which the server does not read"));
        args.push(format!("--{}", arg.get_long().unwrap()));
        args.push(v.clone());
    }
    let config = Config::load_from(&args).expect("the image's values parse");
    // Without SECRET_KEY the image refuses to start rather than run with a known key.
    let e = config.validate().unwrap_err().to_string();
    assert!(e.contains("SECRET_KEY"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grafana_dashboard_charts_exported_metrics() {
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(deploy("grafana/dashboards/vehicleops.json")).unwrap(),
    )
    .unwrap();
    let mut charted = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("vehicleops_") {
                    charted.insert(word.to_owned());
                }
            }
        }
    }
    assert!(charted.len() >= 8, "{charted:?}");

    // Make every kind of metric appear: traffic, a stored reading and an alert.
    let s = TestServer::start(&[]).await;
    let operator = s.token("operator").await;
    s.inject(vec![reading("fleet-001-VH-970", "fleet-001", 99.0, 1)])
        .await;
    eventually("the alert", || async {
        let (st, b) = s
            .get("/api/v1/alerts?vehicle_id=fleet-001-VH-970", &operator)
            .await;
        (st == StatusCode::OK && b["total"] == 1).then_some(())
    })
    .await;
    let metrics = s
        .http
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in &charted {
        assert!(
            metrics.lines().any(|l| l.starts_with(name.as_str())),
            "{name} is charted but not exported"
        );
    }
    s.stop().await;
}
