//! Running the device's hook commands (`[hooks]` in the config file): one function for every
//! hook, with one time limit.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::config::Hooks;

/// Longest a hook may run (a firmware apply can take minutes on a slow flash).
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs `template` with `/bin/sh -c`, `{file}` and `{mode}` filled in. `Err` carries a sentence
/// for the operator (and the ACS's FaultString): the exit status and the start of stderr.
///
/// The child is killed if the future is dropped (the agent stopping mid-hook), so a hook never
/// outlives the agent that started it.
pub async fn run_hook(
    name: &str,
    template: &str,
    file: Option<&Path>,
    mode: &str,
) -> Result<(), String> {
    let command = Hooks::render(template, file, mode);
    let child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&command)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let result = match tokio::time::timeout(HOOK_TIMEOUT, child).await {
        Err(_) => Err(format!("the hook did not finish within {HOOK_TIMEOUT:?}")),
        Ok(Err(e)) => Err(format!("the hook could not be started: {e}")),
        Ok(Ok(out)) if out.status.success() => Ok(()),
        Ok(Ok(out)) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stderr = stderr.trim();
            Err(format!(
                "the hook failed ({}){}{}",
                out.status,
                if stderr.is_empty() { "" } else { ": " },
                stderr.chars().take(200).collect::<String>()
            ))
        }
    };
    match &result {
        Ok(()) => tracing::info!(hook = name, "hook ran"),
        Err(why) => tracing::error!(hook = name, %why, "hook failed"),
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reports_success_failure_and_stderr() {
        assert_eq!(run_hook("t", "true", None, "").await, Ok(()));
        let err = run_hook("t", "echo broken >&2; exit 3", None, "")
            .await
            .unwrap_err();
        assert!(err.contains("broken") && err.contains('3'), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let file = dir.path().join("in put");
        run_hook(
            "t",
            &format!("printf '%s %s' {{mode}} {{file}} > {}", out.display()),
            Some(&file),
            "overwrite",
        )
        .await
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            format!("overwrite {}", file.display())
        );
    }
}
