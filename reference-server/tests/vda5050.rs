//! The server in VDA 5050 mode against a real MQTT broker: two simulated AGVs on the broker,
//! their telemetry over REST, and a STOP dispatched over REST that the AGV executes. The broker
//! address comes from `VEHICLEOPS_TEST_MQTT` (`host:port`, e.g. from
//! `bash scripts/mosquitto.sh start`); without it the test prints SKIPPED and passes.
//! Built without the feature, the mode is refused at start with a clear message.

mod common;

#[cfg(not(feature = "vda5050"))]
#[tokio::test]
async fn without_the_feature_the_mode_is_refused_at_start() {
    let config = vehicleops_server::config::Config::load_from([
        "vehicleops-server",
        "--app-port",
        "0",
        "--bus",
        "vda5050",
    ])
    .unwrap();
    let e = vehicleops_server::app::start(config).await.unwrap_err();
    assert!(e.to_string().contains("--features vda5050"), "{e}");
}

#[cfg(feature = "vda5050")]
mod over_mqtt {
    use super::common::{self, SECRET, eventually};
    use reqwest::StatusCode;
    use serde_json::{Value, json};
    use vehicleops_server::app;
    use vehicleops_server::config::Config;

    fn broker() -> Option<(String, String)> {
        match std::env::var("VEHICLEOPS_TEST_MQTT") {
            Ok(address) if !address.trim().is_empty() => {
                let (host, port) = address.trim().rsplit_once(':').expect("host:port");
                Some((host.to_owned(), port.to_owned()))
            }
            _ => {
                eprintln!(
                    "SKIPPED: VEHICLEOPS_TEST_MQTT is not set (start a broker with scripts/mosquitto.sh)"
                );
                None
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn simulated_agvs_report_over_rest_and_execute_a_stop() {
        let Some((host, port)) = broker() else { return };
        // An interface and client ids of its own, so other tests on the broker stay apart.
        let tag = format!("server-{}", uuid::Uuid::new_v4().simple());
        let config = Config::load_from([
            "vehicleops-server",
            "--app-env",
            "demo",
            "--app-host",
            "127.0.0.1",
            "--app-port",
            "0",
            "--secret-key",
            SECRET,
            "--dashboard-dir",
            "/nonexistent-dashboard",
            "--bus",
            "vda5050",
            "--mqtt-host",
            &host,
            "--mqtt-port",
            &port,
            "--mqtt-client-id",
            &tag,
            "--vda5050-interface",
            &tag,
            "--vda5050-origin-lat",
            "4.711",
            "--vda5050-origin-lon",
            "-74.0721",
            "--simulator",
            "true",
            "--simulator-vehicles",
            "2",
            "--simulator-interval-ms",
            "100",
        ])
        .expect("test config");
        let server = app::start(config).await.expect("server starts");
        let s = common::TestServer {
            base: format!("http://{}", server.local_addr()),
            ws_base: format!("ws://{}", server.local_addr()),
            server,
            http: reqwest::Client::new(),
        };
        let admin = s.token("admin").await;

        let (st, vehicles) = s.get("/api/v1/fleet/fleet-vda/vehicles", &admin).await;
        assert_eq!(st, StatusCode::OK, "{vehicles}");
        let listed = vehicles.to_string();
        assert!(
            listed.contains("AGV-1") && listed.contains("AGV-2"),
            "{vehicles}"
        );
        for (serial, east_m) in [("AGV-1", 0.0), ("AGV-2", 5.0)] {
            let latest = eventually("a stored reading", || async {
                let (st, b) = s
                    .get(&format!("/api/v1/telemetry/{serial}/latest"), &admin)
                    .await;
                (st == StatusCode::OK).then_some(b)
            })
            .await;
            assert_eq!(latest["fleet_id"], "fleet-vda");
            assert_eq!(latest["status"], "IDLE");
            assert_eq!(latest["battery_pct"], 90.0);
            // Georeferenced: the second AGV starts 5 m east of the origin.
            let longitude = latest["longitude"].as_f64().unwrap();
            assert_eq!(longitude > -74.0721, east_m > 0.0, "{latest}");
        }

        // The simulated AGVs answer the sink's factsheetRequest: their capabilities are
        // served; an unknown vehicle's are 404.
        let caps = eventually("AGV-2's capabilities", || async {
            let (st, b) = s.get("/api/v1/vehicles/AGV-2/capabilities", &admin).await;
            (st == StatusCode::OK).then_some(b)
        })
        .await;
        assert_eq!(caps["vehicle_id"], "AGV-2");
        assert_eq!(caps["source"], "VDA 5050 2.1.0 factsheet");
        let actions: Vec<&str> = caps["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["action_type"].as_str().unwrap())
            .collect();
        assert!(
            actions.contains(&"startPause") && actions.contains(&"startCharging"),
            "{caps}"
        );
        let (st, b) = s.get("/api/v1/vehicles/AGV-404/capabilities", &admin).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{b}");

        let (st, b) = s
            .post(
                "/api/v1/commands/AGV-2",
                &admin,
                json!({"command": "STOP", "params": {}}),
            )
            .await;
        assert_eq!(st, StatusCode::ACCEPTED, "{b}");
        let id = b["id"].as_str().unwrap().to_owned();
        let executed: Value = eventually("STOP executed", || async {
            let (st, h) = s
                .get("/api/v1/commands/AGV-2/history?limit=5", &admin)
                .await;
            assert_eq!(st, StatusCode::OK, "{h}");
            h["data"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["id"] == id.as_str() && c["status"] == "EXECUTED")
                .cloned()
        })
        .await;
        assert_eq!(executed["command"], "STOP");
        let metrics = s
            .http
            .get(s.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains("vehicleops_source_rejections_total 0"),
            "{metrics}"
        );
        s.stop().await;
    }
}
