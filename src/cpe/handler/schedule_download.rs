//! ScheduleDownload: a Download that may only run inside one of one or two time windows
//! (seconds from now). WindowMode "1 At Any Time" and "2 Immediately" are carried out (the
//! transfer starts at the window's start); "3 When Idle", "4 Confirmation Needed" and vendor
//! modes are refused with 9003. A transfer that cannot finish inside its windows is reported with
//! fault 9020.

use crate::cwmp::rpc::schedule_download::{
    ScheduleDownload, ScheduleDownloadResponse, window_mode,
};
use crate::cwmp::{Body, Fault, FaultCode};
use crate::datamodel::View;
use crate::records::proto::{self, record::Kind};
use crate::state::record;

use super::transfer_policy::{TransferSupport, accepted, check_queue, check_url};

pub fn apply(
    view: &View,
    support: &TransferSupport,
    request: &ScheduleDownload,
) -> Result<(Vec<proto::Record>, Body), Fault> {
    let invalid = |why: String| Err(Fault::with_string(FaultCode::InvalidArguments, why));
    support.check_download_type(&request.file_type)?;
    check_url(&request.url)?;
    check_queue(view.state)?;
    let windows = &request.time_window_list;
    if windows.is_empty() || windows.len() > 2 {
        return invalid(format!(
            "TimeWindowList must hold 1 or 2 windows, not {}",
            windows.len()
        ));
    }
    for (i, w) in windows.iter().enumerate() {
        if w.window_end <= w.window_start {
            return invalid(format!("time window {} ends before it starts", i + 1));
        }
        if i == 1 && w.window_start < windows[0].window_end {
            return invalid("the second time window overlaps or precedes the first".into());
        }
        if w.window_mode != window_mode::AT_ANY_TIME && w.window_mode != window_mode::IMMEDIATELY {
            return invalid(format!(
                "WindowMode {:?} is not supported (only {:?} and {:?})",
                w.window_mode,
                window_mode::AT_ANY_TIME,
                window_mode::IMMEDIATELY
            ));
        }
    }
    let accepted = accepted(
        view,
        proto::TransferKind::ScheduleDownload,
        proto::TransferAccepted {
            command_key: request.command_key.clone(),
            file_type: request.file_type.clone(),
            url: request.url.clone(),
            username: request.username.clone(),
            password: request.password.clone(),
            file_size: u64::from(request.file_size),
            target_file_name: request.target_file_name.clone(),
            // The first window's start is the delay; the windows bound the rest.
            delay_seconds: windows[0].window_start,
            time_windows: windows
                .iter()
                .map(|w| proto::TimeWindow {
                    start: w.window_start,
                    end: w.window_end,
                    mode: w.window_mode.clone(),
                    user_message: w.user_message.clone(),
                    max_retries: w.max_retries,
                })
                .collect(),
            ..Default::default()
        },
    );
    Ok((
        vec![record(Kind::TransferAccepted(accepted))],
        ScheduleDownloadResponse.into(),
    ))
}
