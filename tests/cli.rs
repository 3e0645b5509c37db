//! The `msrpd` command line: the embedded default, `--check-config`, and configuration errors
//! that name the key (the real binary, configs in a temporary directory).

mod support;

use std::process::{Command, Output};

use support::TempDir;

fn msrpd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_msrpd"))
        .args(args)
        .output()
        .expect("run msrpd")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn the_default_config_is_printed_and_checks() {
    let o = msrpd(&["--print-default-config"]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).expect("utf-8");
    assert_eq!(text, msrpd::config::DEFAULT_TOML);
    let dir = TempDir::new("cli");
    let path = dir.file("default.toml", &text);
    let o = msrpd(&["--check-config", path.to_str().expect("path")]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).ends_with(": ok\n"));
}

/// The container's config (docker/msrpd.toml) is one the daemon takes.
#[test]
fn the_docker_config_checks() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docker/msrpd.toml");
    let o = msrpd(&["--check-config", path]);
    assert!(o.status.success(), "{}", stderr(&o));
    let c = msrpd::config::Config::load(std::path::Path::new(path)).expect("loads");
    assert_eq!(c.http.listen.to_string(), "0.0.0.0:9855");
    assert_eq!(c.msrp.listen.to_string(), "0.0.0.0:2855");
}

#[test]
fn config_errors_name_the_key() {
    let dir = TempDir::new("cli");
    for (name, text, key) in [
        ("unknown.toml", "[msrp]\nlisen = \"127.0.0.1:1\"\n", "lisen"),
        ("table.toml", "[relais]\nenabled = true\n", "relais"),
        ("type.toml", "[mixer]\nhistory_len = 3\n", "history_len"),
        ("addr.toml", "[http]\nlisten = \"localhost\"\n", "listen"),
        (
            "range.toml",
            "[relay]\nmin_expires = 600\ndefault_expires = 60\n",
            "relay.default_expires",
        ),
        ("token.toml", "[http]\ntoken = \"\"\n", "http.token"),
        (
            "room.toml",
            "[[mixer.rooms]]\nname = \"no spaces\"\n",
            "mixer.rooms[0].name",
        ),
    ] {
        let path = dir.file(name, text);
        let path = path.to_str().expect("path");
        for args in [["--check-config", path], ["--config", path]] {
            let o = msrpd(&args);
            assert_eq!(o.status.code(), Some(2), "{name} {args:?}");
            let e = stderr(&o);
            assert!(e.contains(key), "{name}: {e:?} should name {key:?}");
        }
    }
    let o = msrpd(&["--config", "/nonexistent/msrpd.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent/msrpd.toml"));
}

#[test]
fn version_and_help() {
    let o = msrpd(&["--version"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("msrpd "));
    let o = msrpd(&["--help"]);
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout).into_owned();
    for flag in ["--config", "--print-default-config", "--check-config"] {
        assert!(help.contains(flag), "{help}");
    }
}

/// A listener that cannot be bound stops start-up with the key and the address named.
#[test]
fn a_port_in_use_names_the_listener() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let dir = TempDir::new("cli");
    let path = dir.file(
        "busy.toml",
        &format!("[msrp]\nlisten = \"127.0.0.1:0\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n"),
    );
    let o = msrpd(&["--config", path.to_str().expect("path")]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains(&format!("http.listen 127.0.0.1:{port}")), "{e}");
}
