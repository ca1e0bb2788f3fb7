//! VDA 5050 messages as the telemetry source receives them: MQTT topic + payload through topic
//! parsing, JSON, the official 2.1.0 schemas, header/topic identity checks, repeat detection,
//! typed decoding and the mapping to a validated reading (or a rejection), for a sequence of
//! messages against one mapper (so per-vehicle memory and eviction are exercised too). States
//! that decode are also run through `status_of` and `order::progress`, as the command sink does.
//!
//! Input (hand-rolled so the seeds stay readable): the first byte holds the options (bit 0: a
//! site georeference; bits 1-3: remember 1 + n vehicles), then messages separated by NUL bytes,
//! each `topic\npayload`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vehicleops_core::GeoPoint;
use vehicleops_vda5050::messages::{Header, State};
use vehicleops_vda5050::source::fuzzing::MessageMapper;
use vehicleops_vda5050::{RoutePoint, SiteGeoreference, TopicScheme, order, status_of};

const MAX_MESSAGES: usize = 16;

fuzz_target!(|data: &[u8]| {
    let Some((&options, rest)) = data.split_first() else {
        return;
    };
    let georeference = (options & 1 == 1).then_some(SiteGeoreference {
        origin: GeoPoint {
            latitude: 4.711,
            longitude: -74.0721,
        },
        rotation_deg: 30.0,
    });
    let max_vehicles = 1 + usize::from((options >> 1) & 7);
    let mut mapper = MessageMapper::new(max_vehicles, georeference);
    let scheme = TopicScheme::default();
    for message in rest.split(|&b| b == 0).take(MAX_MESSAGES) {
        let (topic, payload) = match message.iter().position(|&b| b == b'\n') {
            Some(i) => (&message[..i], &message[i + 1..]),
            None => (message, &[][..]),
        };
        // MQTT topics are UTF-8 (rumqttc hands them over as `String`).
        let topic = String::from_utf8_lossy(topic);
        let address = scheme.parse(&topic);
        if let Some(a) = &address {
            assert_eq!(
                scheme.topic(&a.manufacturer, &a.serial_number, a.kind),
                topic,
                "a parsed topic rebuilds to itself"
            );
        }
        match mapper.map(&topic, payload) {
            Ok(Some(t)) => {
                t.validate().expect("a mapped reading is valid");
                let a = address.expect("a reading comes from a topic of the scheme");
                assert_eq!(t.vehicle_id, a.serial_number);
                assert_eq!(t.fleet_id, "fuzz-fleet");
            }
            Ok(None) => {}
            Err((field, reason)) => assert!(!field.is_empty() && !reason.is_empty()),
        }
        assert!(mapper.vehicles() <= max_vehicles);
        if let Ok(state) = serde_json::from_slice::<State>(payload) {
            let _ = status_of(&state);
            let _ = state.fatal_errors().count();
            let points: Vec<RoutePoint> = (0..3)
                .map(|i| RoutePoint {
                    node_id: format!("n{i}"),
                    x: f64::from(i),
                    y: 0.0,
                    map_id: "site".into(),
                })
                .collect();
            let (nodes, edges) = order::route(&points, 0, 2, Vec::new());
            let header = Header {
                header_id: 0,
                timestamp: state.header.timestamp,
                version: "2.1.0".into(),
                manufacturer: state.header.manufacturer.clone(),
                serial_number: state.header.serial_number.clone(),
            };
            let order = order::order(header, &state.order_id, state.order_update_id, nodes, edges);
            if let Some(p) = order::progress(&order, &state) {
                assert!(p.nodes_reached <= p.nodes_total);
            }
        }
    }
});
