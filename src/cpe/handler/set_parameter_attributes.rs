//! SetParameterAttributes: Notification 0 (off), 1 (passive) or 2 (active) and the AccessList
//! (only "Subscriber"), for parameters or whole partial paths, all or nothing, kept in the
//! journal.
//!
//! Active notification is refused (9009) on parameters the data model marks `canDeny` when the
//! ACS names them directly; a partial path skips them rather than failing the whole request
//! (they change continually — counters, uptime — and would start a session every sample).
//! Forced-active parameters cannot be turned off (9009).

use crate::cwmp::rpc::set_parameter_attributes::{
    SetParameterAttributes, SetParameterAttributesResponse,
};
use crate::cwmp::{Body, Fault, FaultCode};
use crate::datamodel::registry::ActiveNotify;
use crate::datamodel::{Entry, View};
use crate::records::proto::{self, record::Kind};
use crate::state::record;

pub fn apply(
    view: &View,
    request: &SetParameterAttributes,
) -> Result<(Vec<proto::Record>, Body), Fault> {
    let mut items = Vec::new();
    for s in &request.parameter_list {
        let notification = if s.notification_change {
            match s.notification {
                Some(n @ 0..=2) => n.unsigned_abs(),
                Some(n) => {
                    return Err(Fault::with_string(
                        FaultCode::InvalidArguments,
                        format!(
                            "Notification {n} for {} is not supported (0, 1 or 2)",
                            s.name
                        ),
                    ));
                }
                None => {
                    return Err(Fault::with_string(
                        FaultCode::InvalidArguments,
                        format!(
                            "NotificationChange is true but Notification is missing for {}",
                            s.name
                        ),
                    ));
                }
            }
        } else {
            0
        };
        if s.access_list_change
            && let Some(bad) = s.access_list.iter().find(|a| a.as_str() != "Subscriber")
        {
            return Err(Fault::with_string(
                FaultCode::InvalidArguments,
                format!("AccessList entry {bad:?} is not supported (only \"Subscriber\")"),
            ));
        }
        let direct = !s.name.is_empty() && !s.name.ends_with('.');
        for entry in super::parameters_under(view, &s.name)? {
            let (name, active_notify) = match entry {
                Entry::Param { name, def, .. } => (name, def.active_notify),
                Entry::ExternalParam { name, .. } => (name, ActiveNotify::Normal),
                Entry::Object { .. } => continue,
            };
            if s.notification_change {
                match active_notify {
                    ActiveNotify::CanDeny if notification == 2 => {
                        if direct {
                            return Err(Fault::with_string(
                                FaultCode::NotificationRequestRejected,
                                format!("Active notification is not available for {name}"),
                            ));
                        }
                        continue;
                    }
                    ActiveNotify::ForceEnabled if notification != 2 => {
                        if direct {
                            return Err(Fault::with_string(
                                FaultCode::NotificationRequestRejected,
                                format!("{name} is always notified actively"),
                            ));
                        }
                        continue;
                    }
                    _ => {}
                }
            }
            items.push(proto::AttributeItem {
                name,
                notification_change: s.notification_change,
                notification,
                access_list_change: s.access_list_change,
                access_list: s.access_list.clone(),
            });
        }
    }
    let records = if items.is_empty() {
        Vec::new()
    } else {
        vec![record(Kind::AttributesSet(proto::AttributesSet { items }))]
    };
    Ok((records, SetParameterAttributesResponse.into()))
}
