//! Simulated fleets an engine runs: the SDK's simulator on the in-process bus or Kafka, or
//! simulated VDA 5050 AGVs on the MQTT broker.

use std::sync::{Arc, Mutex};

use vehicleops_core::simulator::RunReport;
use vehicleops_core::{Error, Result, SimulatorHandle};

/// What runs a simulated fleet.
pub(crate) enum Running {
    Core(SimulatorHandle),
    #[cfg(feature = "vda5050")]
    Vda5050(Vec<vehicleops_vda5050::SimulatedAgv>),
}

/// A simulated fleet started by [`crate::Engine::run_simulator`]. Clones share the run; the
/// engine stops every run still going when it closes.
#[derive(Clone)]
pub struct SimulatorRun {
    fleet_id: String,
    vehicle_ids: Arc<[String]>,
    running: Arc<Mutex<Option<Running>>>,
}

impl std::fmt::Debug for SimulatorRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatorRun")
            .field("fleet_id", &self.fleet_id)
            .field("vehicles", &self.vehicle_ids.len())
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl SimulatorRun {
    pub(crate) fn new(fleet_id: String, vehicle_ids: Vec<String>, running: Running) -> Self {
        SimulatorRun {
            fleet_id,
            vehicle_ids: vehicle_ids.into(),
            running: Arc::new(Mutex::new(Some(running))),
        }
    }

    /// The fleet the simulated vehicles belong to.
    pub fn fleet_id(&self) -> &str {
        &self.fleet_id
    }

    /// The simulated vehicles' ids (`{fleet_id}-VH-001`, … or `AGV-1`, … for VDA 5050).
    pub fn vehicle_ids(&self) -> &[String] {
        &self.vehicle_ids
    }

    /// Whether the run has ended (stopped, `max_ticks` reached, or failed).
    pub fn is_finished(&self) -> bool {
        match &*self.running.lock().expect("simulator lock poisoned") {
            None => true,
            Some(Running::Core(handle)) => handle.is_finished(),
            #[cfg(feature = "vda5050")]
            Some(Running::Vda5050(_)) => false,
        }
    }

    /// Stops the run and returns what it did (ticks, readings, commands; zero for VDA 5050
    /// AGVs, which publish on their own). `Closed` when it was stopped already.
    pub async fn stop(&self) -> Result<RunReport> {
        let running = self
            .running
            .lock()
            .expect("simulator lock poisoned")
            .take()
            .ok_or(Error::Closed("simulator run"))?;
        match running {
            Running::Core(handle) => handle.stop().await,
            #[cfg(feature = "vda5050")]
            Running::Vda5050(agvs) => {
                for agv in agvs {
                    agv.shutdown().await;
                }
                Ok(RunReport::default())
            }
        }
    }
}
