//! The audit trail: the engine records what operators do through it (commands, missions, alert
//! acknowledgements); hosts add what only they see (logins) with [`Engine::record_audit`].

use tracing::warn;
use vehicleops_core::{AuditEntry, AuditFilter, Error, Result};

use crate::Engine;

/// Longest `detail` kept, in characters: a reason or a note is free text of any size.
const MAX_DETAIL_CHARS: usize = 500;

impl Engine {
    /// Adds an entry to the audit trail, for what the engine does not see itself (a host's
    /// logins). `detail` is cut to 500 characters.
    pub async fn record_audit(&self, mut entry: AuditEntry) -> Result<()> {
        if let Some((cut, _)) = entry.detail.char_indices().nth(MAX_DETAIL_CHARS) {
            entry.detail.truncate(cut);
        }
        self.store().insert_audit(&entry).await
    }

    /// A page of the audit trail, newest first; the next page starts `before` the last entry
    /// of this one.
    pub async fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        if filter.range.to - filter.range.from > chrono::Duration::days(Self::EXPORT_MAX_DAYS) {
            return Err(Error::validation(
                "from",
                format!(
                    "the audit trail is read at most {} days at a time",
                    Self::EXPORT_MAX_DAYS
                ),
            ));
        }
        self.store().list_audit(filter).await
    }

    /// Records what was done through the engine. The action has happened by then, so a store
    /// failure is logged rather than returned.
    pub(crate) async fn audit(&self, entry: AuditEntry) {
        let action = entry.action.as_str();
        if let Err(e) = self.record_audit(entry).await {
            warn!(action, error = %e, "could not record the audit entry");
        }
    }
}
