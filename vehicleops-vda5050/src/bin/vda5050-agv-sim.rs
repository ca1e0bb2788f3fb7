//! Runs simulated VDA 5050 AGVs against an MQTT broker until Ctrl-C, then takes them OFFLINE.
//!
//! Run with:
//!
//! ```text
//! vda5050-agv-sim [--broker HOST:PORT] [--count N] [--manufacturer NAME]
//!                 [--interface NAME] [--serial-prefix PREFIX] [--speed M_PER_S] [--tick-ms MS]
//! ```
//!
//! Vehicles are `PREFIX-1` … `PREFIX-N`, 5 m apart on the map `site`, publishing `state` and
//! `visualization` every tick under `INTERFACE/v2/MANUFACTURER/SERIAL/…`. Send them orders and
//! instant actions with `Vda5050CommandSink` (or any VDA 5050 master control).

use std::time::Duration;

use vehicleops_vda5050::{MqttEndpoint, SimAgvConfig, SimulatedAgv, TopicScheme};

struct Options {
    broker: String,
    count: u32,
    manufacturer: String,
    interface: String,
    serial_prefix: String,
    speed: f64,
    tick_ms: u64,
}

fn parse() -> Result<Options, String> {
    let mut o = Options {
        broker: "127.0.0.1:1883".into(),
        count: 3,
        manufacturer: "vehicleops".into(),
        interface: "uagv".into(),
        serial_prefix: "AGV".into(),
        speed: 1.5,
        tick_ms: 1000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(String::new());
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| v.parse::<f64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--broker" => o.broker = value,
            "--count" => o.count = number(&value)? as u32,
            "--manufacturer" => o.manufacturer = value,
            "--interface" => o.interface = value,
            "--serial-prefix" => o.serial_prefix = value,
            "--speed" => o.speed = number(&value)?,
            "--tick-ms" => o.tick_ms = number(&value)? as u64,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

fn main() {
    let options = match parse() {
        Ok(o) => o,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("{message}");
            }
            eprintln!(
                "usage: vda5050-agv-sim [--broker HOST:PORT] [--count N] [--manufacturer NAME] \
                 [--interface NAME] [--serial-prefix PREFIX] [--speed M_PER_S] [--tick-ms MS]"
            );
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(run(options));
}

async fn run(o: Options) {
    let mut agvs = Vec::new();
    for i in 1..=o.count {
        let serial = format!("{}-{i}", o.serial_prefix);
        let Some(endpoint) = MqttEndpoint::from_address(&o.broker, format!("sim-{serial}")) else {
            eprintln!("--broker must be HOST:PORT, got {}", o.broker);
            std::process::exit(2);
        };
        let mut config = SimAgvConfig::new(endpoint, &o.manufacturer, &serial);
        config.scheme = TopicScheme {
            interface_name: o.interface.clone(),
            ..TopicScheme::default()
        };
        config.x = 5.0 * f64::from(i - 1);
        config.speed_mps = o.speed;
        config.tick = Duration::from_millis(o.tick_ms.max(10));
        println!(
            "{serial}: {}",
            config.scheme.topic(
                &o.manufacturer,
                &serial,
                vehicleops_vda5050::MessageKind::State
            )
        );
        agvs.push(SimulatedAgv::start(config));
    }
    if tokio::signal::ctrl_c().await.is_err() {
        eprintln!("cannot wait for Ctrl-C; stopping");
    }
    for agv in agvs {
        agv.shutdown().await;
    }
}
