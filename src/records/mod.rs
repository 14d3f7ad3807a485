//! The agent's journal records: the CWMP schema over the schema-agnostic `journal` crate.
//!
//! The journal stores typed byte frames and knows no record type. This module gives them their
//! meaning: every frame's payload is a prost-encoded [`Record`] from `proto/journal.proto`
//! (compiled by the package's `build.rs` with prost-build fed by protox, so no system `protoc`)
//! and its tag is the oneof field number of the record's kind ([`kind_tag`]). The journal only
//! learns what it must from [`RecordSchema`]: snapshots are `Snapshot` records, a payload is well
//! formed when it decodes as a `Record`, and the note it writes after a recovery is a
//! `JournalRecovered` record.
//!
//! - [`Journal`]: the journal with records going in and [`StoredRecord`]s (decoded) coming out.
//! - [`RecordSet`] / [`MemberJournal`]: the same over a `journal::JournalSet` (fleet mode: one
//!   journal per simulated device in one store); [`RecordStore`]: what the edge appends through,
//!   whichever of them it holds.
//! - [`proto`]: the generated types, with `From<X> for Record` for every kind.
//! - [`type_name`], [`payload_tag`], [`SNAPSHOT_TAG`], [`JOURNAL_RECOVERED_TAG`]: tags and names.
//! - [`export_json`] (one stable JSON object per record) and [`summary`] (the timeline's line),
//!   both masking secrets as `"***"` ([`is_secret_name`]); [`rfc3339_utc`] for times.
//!
//! Evolution rules of the schema are in `proto/journal.proto`: fields are only added, numbers
//! never reused, and unknown fields survive because the journal returns the original payload
//! bytes and nothing re-encodes a stored payload.

mod export;
mod schema;
mod set_store;
mod store;
mod tags;
#[cfg(test)]
mod tests;

/// The generated record types of `proto/journal.proto`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/tr069.journal.v1.rs"));
}

pub use export::{export_json, is_secret_name, mask_url, rfc3339_utc, summary};
pub use proto::Record;
pub use schema::RecordSchema;
pub use set_store::{MemberJournal, RecordSet, RecordStore};
pub use store::{Iter, Journal, StoredRecord};
pub use tags::{JOURNAL_RECOVERED_TAG, SNAPSHOT_TAG, kind_tag, payload_tag, type_name};
