//! Live updates for one fleet, read in batches by the TypeScript async iterator.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use napi_derive::napi;
use serde_json::{Value, json};
use tokio::sync::{Mutex, Notify};
use vehicleops_core::{LiveEvent, Subscription};

use crate::convert::to_js;

/// Most events handed over per call, so one promise carries many events under load.
const DEFAULT_BATCH: u32 = 256;

/// A subscription to a fleet's live events. `close()` cancels it: a pending `nextBatch()`
/// resolves with an empty batch and the hub forgets the subscriber.
#[napi]
pub struct NativeSubscription {
    inner: Arc<Mutex<Option<Subscription>>>,
    closed: Arc<AtomicBool>,
    wake: Arc<Notify>,
}

impl NativeSubscription {
    pub fn new(sub: Subscription) -> Self {
        NativeSubscription {
            inner: Arc::new(Mutex::new(Some(sub))),
            closed: Arc::new(AtomicBool::new(false)),
            wake: Arc::new(Notify::new()),
        }
    }
}

/// `{type, data}` with `type` one of `update`, `alert`, `command`, `mission`.
fn event_to_js(event: &LiveEvent) -> napi::Result<Value> {
    let (kind, data) = match event {
        LiveEvent::Update(u) => ("update", to_js(&**u)?),
        LiveEvent::Alert(a) => ("alert", to_js(&**a)?),
        LiveEvent::Command(c) => ("command", to_js(&**c)?),
        LiveEvent::Mission(m) => ("mission", to_js(&**m)?),
    };
    Ok(json!({ "type": kind, "data": data }))
}

#[napi]
impl NativeSubscription {
    /// Waits for at least one event and returns up to `max` of them; an empty array once the
    /// subscription is closed (by `close()` or because the engine closed).
    #[napi]
    pub async fn next_batch(&self, max: Option<u32>) -> napi::Result<Vec<Value>> {
        let max = max.unwrap_or(DEFAULT_BATCH).max(1) as usize;
        let wake = self.wake.clone();
        let closed = self.closed.clone();
        let inner = self.inner.clone();
        let mut guard = inner.lock().await;
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if closed.load(Ordering::Acquire) {
            guard.take();
            return Ok(Vec::new());
        }
        let Some(sub) = guard.as_mut() else {
            return Ok(Vec::new());
        };
        let first = tokio::select! {
            _ = &mut notified => None,
            e = sub.recv() => e,
        };
        let Some(first) = first else {
            // Cancelled or the hub closed: drop the subscription now, so the hub forgets it.
            guard.take();
            return Ok(Vec::new());
        };
        let mut events = vec![first];
        sub.drain_into(&mut events, max - 1);
        events.iter().map(event_to_js).collect()
    }

    /// Cancels the subscription; idempotent.
    #[napi]
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake.notify_waiters();
        // Not being read right now: drop it here. Otherwise the reader drops it on waking.
        if let Ok(mut guard) = self.inner.try_lock() {
            guard.take();
        }
    }
}
