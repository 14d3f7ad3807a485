//! `--journal memory`: a device's journal kept in the fleet process's memory, for pure load
//! generation where the disk would be the bottleneck. Never the default: it skips the durability
//! path the fleet exists to exercise, and a power cut then loses nothing (every append counts as
//! durable at once).

use std::future::Future;
use std::sync::Mutex;

use journal::{AppendAck, Result};
use prost::Message as _;

use crate::records::proto::{AgentSnapshot, Record};
use crate::records::{RecordStore, SNAPSHOT_TAG, StoredRecord, kind_tag};

/// Live bytes above which a snapshot is asked for (as the set's default member bound).
const MAX_LIVE_BYTES: u64 = 64 << 10;

/// One device's records in memory. Survives the device's reboots and power cuts (the fleet keeps
/// it), not the fleet process.
#[derive(Debug, Default)]
pub struct MemoryJournal {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    records: Vec<StoredRecord>,
    last_seq: u64,
    live: u64,
    boot_id: String,
    sidecar: Option<Vec<u8>>,
}

impl MemoryJournal {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new boot stamps its boot id on what it appends.
    pub fn set_boot_id(&self, boot_id: &str) {
        self.lock().boot_id = boot_id.to_owned();
    }

    pub fn sidecar(&self) -> Option<Vec<u8>> {
        self.lock().sidecar.clone()
    }

    pub fn put_sidecar(&self, value: Vec<u8>) {
        self.lock().sidecar = Some(value);
    }

    fn push(&self, batch: Vec<Record>, snapshot: bool) -> AppendAck {
        let mut inner = self.lock();
        let time_ms = crate::agent::now_ms();
        let first_seq = inner.last_seq + 1;
        if snapshot {
            inner.records.clear();
            inner.live = 0;
        }
        for record in batch {
            inner.last_seq += 1;
            let payload = record.encode_to_vec();
            inner.live += 8 + payload.len() as u64;
            let tag = record.kind.as_ref().map_or(0, kind_tag);
            let stored = StoredRecord {
                seq: inner.last_seq,
                time_ms,
                boot_id: inner.boot_id.clone(),
                tag,
                record,
                payload,
            };
            inner.records.push(stored);
        }
        AppendAck {
            first_seq,
            last_seq: inner.last_seq,
            live_bytes: inner.live,
            needs_snapshot: inner.live > MAX_LIVE_BYTES,
        }
    }
}

impl RecordStore for MemoryJournal {
    fn append(&self, batch: Vec<Record>) -> impl Future<Output = Result<AppendAck>> + Send {
        std::future::ready(Ok(self.push(batch, false)))
    }

    fn append_snapshot(
        &self,
        snapshot: AgentSnapshot,
        _folded_up_to: u64,
    ) -> impl Future<Output = Result<AppendAck>> + Send {
        std::future::ready(Ok(self.push(vec![snapshot.into()], true)))
    }

    fn records_from(&self, seq: u64) -> Box<dyn Iterator<Item = Result<StoredRecord>> + Send + '_> {
        let records: Vec<StoredRecord> = self
            .lock()
            .records
            .iter()
            .filter(|r| r.seq >= seq)
            .cloned()
            .collect();
        Box::new(records.into_iter().map(Ok))
    }

    fn latest_snapshot_record(&self) -> Result<Option<StoredRecord>> {
        Ok(self
            .lock()
            .records
            .iter()
            .rev()
            .find(|r| r.tag == SNAPSHOT_TAG)
            .cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::proto::record::Kind;
    use crate::state::{AgentState, event_raised};

    #[test]
    fn appends_read_back_and_snapshots_compact() {
        let j = MemoryJournal::default();
        j.set_boot_id("b1");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let ack = rt
            .block_on(j.append(vec![
                event_raised("1 BOOT", ""),
                event_raised("2 PERIODIC", ""),
            ]))
            .unwrap();
        assert_eq!((ack.first_seq, ack.last_seq), (1, 2));
        let back: Vec<_> = j.records_from(2).map(|r| r.unwrap()).collect();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].boot_id, "b1");
        assert!(matches!(back[0].record.kind, Some(Kind::EventRaised(_))));
        let mut state = AgentState::default();
        for r in j.records_from(1) {
            let r = r.unwrap();
            state.apply(r.seq, r.time_ms, &r.record);
        }
        let ack = rt
            .block_on(j.append_snapshot(state.to_snapshot(), state.last_seq))
            .unwrap();
        assert_eq!(ack.last_seq, 3);
        assert_eq!(j.latest_snapshot_record().unwrap().unwrap().seq, 3);
        assert_eq!(j.records_from(1).count(), 1);
    }
}
