//! `run`: the daemon, configured from the config file.

use anyhow::Context as _;

use crate::agent::daemon::{self, DaemonConfig, RunEnd};
use crate::agent::inform::DeviceIdentity;
use crate::config::{Config, SoftwareVersion};

/// The daemon's configuration from the validated config file.
pub fn daemon_config(config: &Config) -> DaemonConfig {
    let mut d = DaemonConfig::new(&config.data_dir);
    d.control_socket = Some(config.control_socket.clone());
    d.boot_id_file = config.boot_id_file.clone();
    let (software_version, software_version_file) = match &config.device.software_version {
        SoftwareVersion::Fixed(v) => (v.clone(), None),
        SoftwareVersion::File(p) => (String::new(), Some(p.clone())),
    };
    d.device = DeviceIdentity {
        manufacturer: config.device.manufacturer.clone(),
        oui: config.device.oui.clone(),
        product_class: config.device.product_class.clone(),
        serial_number: config.device.serial_number.clone(),
        model_name: config.device.model_name.clone(),
        description: config.device.description.clone(),
        hardware_version: config.device.hardware_version.clone(),
        software_version,
    };
    d.software_version_file = software_version_file;
    d.factory_settings = config.factory_settings.clone();
    d.externals = config.datamodel.external.clone();
    d.firmware_apply_command = config.hooks.firmware_apply.clone();
    d.config_apply_command = config.hooks.config_apply.clone();
    d.config_export_command = config.hooks.config_export.clone();
    d.log_export_command = config.hooks.log_export.clone();
    d.notification_sample_interval = config.datamodel.notification_sample_interval;
    if let Some(path) = &config.connection_request.path {
        d.factory_settings
            .entry("connection-request-path".to_owned())
            .or_insert_with(|| path.clone());
    }
    d.reboot_command = config.hooks.reboot.clone();
    d.factory_reset_command = config.hooks.factory_reset.clone();
    d.session_timeout = config.session.timeout;
    d.get_rpc_methods = config.session.get_rpc_methods;
    d.connection_request_listen = config.connection_request.listen_address;
    d.connection_request_limits = config.connection_request.limits.clone();
    d.journal_max_live_bytes = config.journal.max_live_bytes;
    d
}

pub(super) fn run(config: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let end = runtime.block_on(daemon::run(daemon_config(&config)))?;
    match end {
        RunEnd::Shutdown => tracing::info!("stopped"),
        RunEnd::Rebooting => tracing::info!("stopped for a reboot"),
    }
    Ok(())
}
