//! Record types and frame tags: a record's frame tag is the oneof field number of its kind.

use super::proto::{Record, record::Kind};

/// Frame tag of `Record.kind = snapshot`.
pub const SNAPSHOT_TAG: u16 = 22;
/// Frame tag of `Record.kind = journal_recovered`.
pub const JOURNAL_RECOVERED_TAG: u16 = 21;

/// Names of the record types by tag (the oneof field number); index 0 is unused.
const NAMES: [&str; 27] = [
    "",
    "EventRaised",
    "InformAcknowledged",
    "SessionStarted",
    "SessionEnded",
    "TransferAccepted",
    "TransferStageChanged",
    "TransferCompleteAcknowledged",
    "ParametersSet",
    "ObjectAdded",
    "ObjectDeleted",
    "AttributesSet",
    "SettingsChanged",
    "RebootRequested",
    "BootObserved",
    "FactoryResetDone",
    "ScheduleInformRequested",
    "ScheduleInformFired",
    "ValueChanged",
    "DiagnosticsCompleted",
    "ConfigReset",
    "JournalRecovered",
    "Snapshot",
    "ConfigurationApplied",
    "RebootAttempted",
    "RebootAbandoned",
    "AgentStopped",
];

/// The record type's name for a tag, or `None` for a tag this build does not know (a record
/// written by a newer agent).
pub fn type_name(tag: u16) -> Option<&'static str> {
    NAMES
        .get(usize::from(tag))
        .copied()
        .filter(|n| !n.is_empty())
}

/// The tag of an encoded `Record`: the field number of its first top-level field, which is the
/// oneof member (a `Record` has no other fields). Works for kinds this build does not know.
pub fn payload_tag(payload: &[u8]) -> Option<u64> {
    let mut value: u64 = 0;
    for (i, b) in payload.iter().take(10).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(value >> 3);
        }
    }
    None
}

impl Record {
    /// The record type's name, e.g. `"EventRaised"`; `None` when no kind is set.
    pub fn type_name(&self) -> Option<&'static str> {
        self.kind.as_ref().and_then(|k| type_name(kind_tag(k)))
    }
}

/// The frame tag of a record kind: its oneof field number.
pub fn kind_tag(kind: &Kind) -> u16 {
    match kind {
        Kind::EventRaised(_) => 1,
        Kind::InformAcknowledged(_) => 2,
        Kind::SessionStarted(_) => 3,
        Kind::SessionEnded(_) => 4,
        Kind::TransferAccepted(_) => 5,
        Kind::TransferStageChanged(_) => 6,
        Kind::TransferCompleteAcknowledged(_) => 7,
        Kind::ParametersSet(_) => 8,
        Kind::ObjectAdded(_) => 9,
        Kind::ObjectDeleted(_) => 10,
        Kind::AttributesSet(_) => 11,
        Kind::SettingsChanged(_) => 12,
        Kind::RebootRequested(_) => 13,
        Kind::BootObserved(_) => 14,
        Kind::FactoryResetDone(_) => 15,
        Kind::ScheduleInformRequested(_) => 16,
        Kind::ScheduleInformFired(_) => 17,
        Kind::ValueChanged(_) => 18,
        Kind::DiagnosticsCompleted(_) => 19,
        Kind::ConfigReset(_) => 20,
        Kind::JournalRecovered(_) => 21,
        Kind::Snapshot(_) => 22,
        Kind::ConfigurationApplied(_) => 23,
        Kind::RebootAttempted(_) => 24,
        Kind::RebootAbandoned(_) => 25,
        Kind::AgentStopped(_) => 26,
    }
}

macro_rules! record_from {
    ($($ty:ident => $variant:ident),* $(,)?) => {
        $(impl From<super::proto::$ty> for Record {
            fn from(r: super::proto::$ty) -> Record {
                Record { kind: Some(Kind::$variant(r)) }
            }
        })*
    };
}

record_from!(
    EventRaised => EventRaised,
    InformAcknowledged => InformAcknowledged,
    SessionStarted => SessionStarted,
    SessionEnded => SessionEnded,
    TransferAccepted => TransferAccepted,
    TransferStageChanged => TransferStageChanged,
    TransferCompleteAcknowledged => TransferCompleteAcknowledged,
    ParametersSet => ParametersSet,
    ObjectAdded => ObjectAdded,
    ObjectDeleted => ObjectDeleted,
    AttributesSet => AttributesSet,
    SettingsChanged => SettingsChanged,
    RebootRequested => RebootRequested,
    BootObserved => BootObserved,
    FactoryResetDone => FactoryResetDone,
    ScheduleInformRequested => ScheduleInformRequested,
    ScheduleInformFired => ScheduleInformFired,
    ValueChanged => ValueChanged,
    DiagnosticsCompleted => DiagnosticsCompleted,
    ConfigReset => ConfigReset,
    JournalRecovered => JournalRecovered,
    AgentSnapshot => Snapshot,
    ConfigurationApplied => ConfigurationApplied,
    RebootAttempted => RebootAttempted,
    RebootAbandoned => RebootAbandoned,
    AgentStopped => AgentStopped,
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::proto;
    use prost::Message;

    #[test]
    fn tag_of_the_wire_matches_the_kind() {
        let all: Vec<Record> = vec![
            proto::EventRaised::default().into(),
            proto::FactoryResetDone::default().into(),
            proto::ConfigReset::default().into(),
            proto::AgentSnapshot::default().into(),
            proto::JournalRecovered::default().into(),
        ];
        for r in all {
            let tag = kind_tag(r.kind.as_ref().unwrap());
            assert_eq!(payload_tag(&r.encode_to_vec()), Some(u64::from(tag)));
            assert!(r.type_name().is_some());
        }
        assert_eq!(type_name(SNAPSHOT_TAG), Some("Snapshot"));
        assert_eq!(type_name(99), None);
    }
}
