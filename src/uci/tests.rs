use std::path::Path;
use std::time::Duration;

use super::*;
use crate::config::SoftwareVersion;

const FILE: &str = "/etc/config/tr069-client";

fn to_config(uci: &str) -> Result<Config, UciError> {
    let toml = translate(uci, Path::new(FILE))?;
    // The output is what the daemon reads: it must load as is.
    Ok(
        Config::from_toml_str(&toml, Path::new("/etc/tr069-client/config.toml"))
            .unwrap_or_else(|e| panic!("{e}\n{toml}")),
    )
}

fn err(uci: &str) -> String {
    translate(uci, Path::new(FILE)).unwrap_err().to_string()
}

/// Every option of every section, and every setting, with a value other than its default where
/// one exists, lands in the configuration the daemon reads.
#[test]
fn every_option_and_setting_is_mapped() {
    let mut uci = String::from(
        "package tr069-client\n\
         config agent 'agent'\n\
         \toption data_dir '/srv/tr069'\n\
         \toption control_socket '/var/run/tr069.sock'\n\
         \toption boot_id_file '/tmp/boot_id'\n\
         config device\n\
         \toption manufacturer 'ACME'\n\
         \toption oui '00A0C6'\n\
         \toption product_class 'HomeGW'\n\
         \toption serial_number 'SN42'\n\
         \toption model_name 'GW-1'\n\
         \toption description \"ACME \\\"home\\\" gateway\"\n\
         \toption hardware_version 'rev-C'\n\
         \toption software_version '23.05.3'\n\
         config hooks\n\
         \toption reboot 'reboot'\n\
         \toption factory_reset 'firstboot -y'\n\
         \toption firmware_apply 'sysupgrade {file}'\n\
         \toption config_apply 'apply {file} {mode}'\n\
         \toption config_export 'sysupgrade -b {file}'\n\
         \toption log_export 'logread > {file}'\n\
         \toption reboot_attempts '5'\n\
         config session\n\
         \toption timeout '10m'\n\
         \toption request_timeout '45s'\n\
         \toption get_rpc_methods 'yes'\n\
         \toption boot_inform_delay '5s..1m'\n\
         config connection_request\n\
         \toption listen_address '192.168.1.1'\n\
         \toption path '/cr-x'\n\
         \toption address_check_interval '2m'\n\
         \toption failed_auth_limit '5/1h'\n\
         \toption challenge_limit '100/1m'\n\
         \toption global_limit '1000/1m'\n\
         config journal\n\
         \toption max_live_bytes '65536'\n\
         \toption history_records '50'\n\
         config datamodel\n\
         \toption notification_sample_interval '10s'\n\
         config external\n\
         \toption subtree 'Device.X_A.'\n\
         \toption command '/usr/bin/a'\n\
         \tlist args '--one'\n\
         \tlist args 'two words'\n\
         \toption timeout '7s'\n\
         config external 'b'\n\
         \toption subtree 'Device.X_B.'\n\
         \toption command '/usr/bin/b'\n\
         \toption args '--only'\n\
         config settings\n",
    );
    // Each setting's default is valid by construction; a few get a distinct value.
    let distinct = [
        ("enabled", "1", "true"),
        (
            "acs-url",
            "https://acs.example.com/cwmp",
            "https://acs.example.com/cwmp",
        ),
        ("periodic-inform-interval", "1h30m", "5400"),
        ("password", "s3cret", "s3cret"),
    ];
    for s in settings::SETTINGS {
        let value = distinct
            .iter()
            .find(|(n, _, _)| *n == s.name)
            .map_or(s.default, |(_, v, _)| v);
        uci.push_str(&format!("\toption {} '{value}'\n", setting_option(s.name)));
    }
    let c = to_config(&uci).unwrap();

    assert_eq!(c.data_dir, Path::new("/srv/tr069"));
    assert_eq!(c.control_socket, Path::new("/var/run/tr069.sock"));
    assert_eq!(c.boot_id_file, Path::new("/tmp/boot_id"));
    let d = &c.device;
    assert_eq!(
        (
            d.manufacturer.as_str(),
            d.oui.as_str(),
            d.product_class.as_str(),
            d.serial_number.as_str(),
            d.model_name.as_str(),
            d.description.as_str(),
            d.hardware_version.as_str(),
        ),
        (
            "ACME",
            "00A0C6",
            "HomeGW",
            "SN42",
            "GW-1",
            "ACME \"home\" gateway",
            "rev-C"
        )
    );
    assert_eq!(d.software_version, SoftwareVersion::Fixed("23.05.3".into()));
    let h = &c.hooks;
    assert_eq!(h.reboot.as_deref(), Some("reboot"));
    assert_eq!(h.factory_reset.as_deref(), Some("firstboot -y"));
    assert_eq!(h.firmware_apply.as_deref(), Some("sysupgrade {file}"));
    assert_eq!(h.config_apply.as_deref(), Some("apply {file} {mode}"));
    assert_eq!(h.config_export.as_deref(), Some("sysupgrade -b {file}"));
    assert_eq!(h.log_export.as_deref(), Some("logread > {file}"));
    assert_eq!(h.reboot_attempts, 5);
    let s = &c.session;
    assert_eq!(s.timeout, Duration::from_secs(600));
    assert_eq!(s.request_timeout, Duration::from_secs(45));
    assert!(s.get_rpc_methods);
    assert_eq!(
        s.boot_inform_delay,
        Duration::from_secs(5)..=Duration::from_secs(60)
    );
    let cr = &c.connection_request;
    assert_eq!(cr.listen_address.to_string(), "192.168.1.1");
    assert_eq!(cr.path.as_deref(), Some("/cr-x"));
    assert_eq!(cr.address_check_interval, Duration::from_secs(120));
    use crate::connection_request::rate_limit::Limit;
    assert_eq!(
        cr.limits.failed_auth_per_source,
        Some(Limit::new(5, Duration::from_secs(3600)))
    );
    assert_eq!(
        cr.limits.challenges_per_source,
        Some(Limit::new(100, Duration::from_secs(60)))
    );
    assert_eq!(
        cr.limits.global,
        Some(Limit::new(1000, Duration::from_secs(60)))
    );
    assert_eq!(c.journal.max_live_bytes, 65536);
    assert_eq!(c.journal.history_records, 50);
    assert_eq!(
        c.datamodel.notification_sample_interval,
        Duration::from_secs(10)
    );
    let ext = &c.datamodel.external;
    assert_eq!(ext.len(), 2);
    assert_eq!(ext[0].subtree, "Device.X_A.");
    assert_eq!(ext[0].command, Path::new("/usr/bin/a"));
    assert_eq!(ext[0].args, ["--one", "two words"]);
    assert_eq!(ext[0].timeout, Duration::from_secs(7));
    assert_eq!(ext[1].subtree, "Device.X_B.");
    assert_eq!(ext[1].args, ["--only"]);

    // Every setting arrived, in canonical form.
    for s in settings::SETTINGS {
        let expected = distinct.iter().find(|(n, _, _)| *n == s.name).map_or_else(
            || settings::validate(s.name, s.default).unwrap(),
            |(_, _, canonical)| (*canonical).to_owned(),
        );
        assert_eq!(
            c.factory_settings.get(s.name),
            Some(&expected),
            "setting {}",
            s.name
        );
    }
    // software_version and software_version_file exclude each other: the second one here.
    let uci2 = uci.replace(
        "option software_version '23.05.3'",
        "option software_version_file '/etc/openwrt_version'",
    );
    assert_eq!(
        to_config(&uci2).unwrap().device.software_version,
        SoftwareVersion::File("/etc/openwrt_version".into())
    );
    // And every option of the table was used above: the table and the test move together.
    let uci = uci + &uci2;
    for def in SECTIONS {
        for (name, _) in def.options.unwrap_or(&[]) {
            assert!(
                uci.contains(&format!("option {name} ")) || uci.contains(&format!("list {name} ")),
                "option {name} of config {} is not covered",
                def.kind
            );
        }
    }
}

#[test]
fn an_empty_file_is_all_defaults() {
    assert_eq!(
        to_config("# nothing\n\n").unwrap(),
        Config::from_toml_str("", Path::new("/etc/tr069-client/config.toml")).unwrap()
    );
}

#[test]
fn the_shipped_sample_translates() {
    let text = include_str!("../../packaging/openwrt/files/tr069-client.config");
    let c = to_config(text).unwrap();
    assert_eq!(c.data_dir, Path::new("/etc/tr069-client"));
    assert_eq!(c.factory_settings["enabled"], "false");
    assert_eq!(c.factory_settings["periodic-inform-interval"], "3600");
    assert_eq!(
        c.device.software_version,
        SoftwareVersion::File("/etc/openwrt_version".into())
    );
    assert_eq!(c.hooks.firmware_apply.as_deref(), Some("sysupgrade {file}"));
}

/// The sample's commented-out options are valid too: uncommented, they still translate, and
/// they name every setting.
#[test]
fn the_sample_s_commented_options_are_valid() {
    let text = include_str!("../../packaging/openwrt/files/tr069-client.config");
    let uncommented: String = text
        .lines()
        .map(|l| {
            let t = l.trim_start();
            match t.strip_prefix("# ").or_else(|| t.strip_prefix("#\t")) {
                Some(rest)
                    if ["config ", "option ", "list "]
                        .iter()
                        .any(|k| rest.trim_start().starts_with(k)) =>
                {
                    rest.to_owned()
                }
                _ => l.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let c = to_config(&uncommented).unwrap();
    for s in settings::SETTINGS {
        assert!(
            c.factory_settings.contains_key(s.name),
            "the sample does not show setting {}",
            s.name
        );
    }
    assert_eq!(c.datamodel.external.len(), 1);
    assert_eq!(c.hooks.factory_reset.as_deref(), Some("firstboot -y"));
}

#[test]
fn bad_values_name_the_option_and_the_accepted_form() {
    for (uci, option, form) in [
        (
            "config settings\n\toption acs_url 'ftp://acs'\n",
            "tr069-client.@settings[0].acs_url",
            "http://",
        ),
        (
            "config settings 'main'\n\toption periodic_inform_interval 'soon'\n",
            "tr069-client.main.periodic_inform_interval",
            "30s, 15m",
        ),
        (
            "config settings\n\toption enabled 'maybe'\n",
            "tr069-client.@settings[0].enabled",
            "yes or no",
        ),
        (
            "config device\n\toption oui '00000c'\n",
            "tr069-client.@device[0].oui",
            "upper-case",
        ),
        (
            "config hooks\n\toption firmware_apply 'sysupgrade'\n",
            "tr069-client.@hooks[0].firmware_apply",
            "{file}",
        ),
        (
            "config hooks\n\toption reboot_attempts '0'\n",
            "tr069-client.@hooks[0].reboot_attempts",
            "1 to 100",
        ),
        (
            "config hooks\n\toption reboot_attempts 'three'\n",
            "tr069-client.@hooks[0].reboot_attempts",
            "whole number",
        ),
        (
            "config session\n\toption get_rpc_methods 'perhaps'\n",
            "tr069-client.@session[0].get_rpc_methods",
            "1 or 0",
        ),
        (
            "config connection_request\n\toption global_limit '600'\n",
            "tr069-client.@connection_request[0].global_limit",
            "10/10m",
        ),
        (
            "config journal\n\toption max_live_bytes '-1'\n",
            "tr069-client.@journal[0].max_live_bytes",
            "whole number",
        ),
        (
            "config external\n\toption subtree 'Device.X_A.'\n\toption command '/a'\nconfig external\n\toption subtree 'Bad'\n\toption command '/b'\n",
            "tr069-client.@external[1].subtree",
            "below Device.",
        ),
        (
            "config agent\n\toption data_dir ''\n",
            "tr069-client.@agent[0].data_dir",
            "directory",
        ),
    ] {
        let e = err(uci);
        assert!(
            e.contains(FILE) && e.contains(option) && e.contains(form),
            "{uci:?}: {e}"
        );
    }
    // The line is the option's.
    let e = err("config settings\n\toption enabled 'yes'\n\toption acs_url 'x'\n");
    assert!(e.contains(&format!("{FILE}:3:")), "{e}");
    // Secrets are never echoed.
    let e = err("config settings\n\toption password 'x\u{1}y'\n");
    assert!(e.contains("password") && !e.contains("x\u{1}y"), "{e}");
}

#[test]
fn structural_errors_are_refused() {
    for (uci, needle) in [
        ("config colours\n", "unknown section type \"colours\""),
        ("config settings\n\toption colour 'red'\n", "acs_url"),
        ("config settings\n\toption acs-url 'x'\n", "acs_url"),
        ("option acs_url 'x'\n", "before any `config` section"),
        ("config settings\n\toption acs_url 'x\n", "unterminated"),
        ("config settings\n\tlist acs_url 'x'\n", "is a list"),
        (
            "config session\nconfig session\n",
            "second `config session`",
        ),
        (
            "config settings\n\toption acs_url\n",
            "expected `option NAME 'VALUE'`",
        ),
        ("set tr069-client.x=y\n", "unknown keyword"),
        (
            "config device\n\toption software_version '1'\n\toption software_version_file '/v'\n",
            "not both",
        ),
    ] {
        let e = err(uci);
        assert!(e.contains(needle) && e.contains(FILE), "{uci:?}: {e}");
    }
}

#[test]
fn quoting_follows_libuci() {
    let sections = parse(
        "config settings 'main' # comment\n\toption username \"a b\"'c'd\\ e # trailing\n\toption password 'it''s'\n",
        Path::new(FILE),
    )
    .unwrap();
    assert_eq!(sections[0].name.as_deref(), Some("main"));
    assert_eq!(
        sections[0].options[0].value,
        UciValue::Single("a bcd e".into())
    );
    assert_eq!(sections[0].options[1].value, UciValue::Single("its".into()));
    // A later option replaces an earlier one.
    let s = parse(
        "config settings\n\toption enabled '0'\n\toption enabled '1'\n",
        Path::new(FILE),
    )
    .unwrap();
    assert_eq!(s[0].options.len(), 1);
    assert_eq!(s[0].options[0].value, UciValue::Single("1".into()));
}

#[test]
fn the_output_says_where_it_came_from() {
    let out = translate("config settings\n\toption enabled '1'\n", Path::new(FILE)).unwrap();
    assert!(
        out.starts_with("# Generated from /etc/config/tr069-client"),
        "{out}"
    );
    assert!(
        out.contains("[settings]") && out.contains("enabled = \"1\""),
        "{out}"
    );
}
