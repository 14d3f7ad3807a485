//! The TR-181 Issue 2 (Device:2.11) data model: the registry of supported objects and
//! parameters, and the providers their values come from.

pub mod catalog;
pub mod config_file;
pub mod external;
pub mod host;
pub mod host_tables;
pub mod host_values;
pub mod registry;
pub mod registry_troubleshooting;

/// The TR-181 version the data model is based on (as RouterOS: Issue 2 Amendment 11).
pub const ROOT_DATA_MODEL_VERSION: &str = "2.11";

pub mod model;
pub mod notify;
pub mod path;
pub mod validate;

pub use model::{DataModel, DeviceIdentity, Entry, Node, View, XmppLive};
