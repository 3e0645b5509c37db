//! `msrpd`: the MSRP relay and chat-room service.
//!
//! For now the binary only answers `--help` and `--version`; the relay (RFC 4976), the chat-room
//! mixer (RFC 7701) and the daemon around them are built on the `msrp` engine in later steps.
#![forbid(unsafe_code)]

use clap::Parser;

/// MSRP relay and chat-room service (RFC 4975, RFC 4976, RFC 7701).
#[derive(Debug, Parser)]
#[command(name = "msrpd", version, about, long_about = None)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
    eprintln!(
        "msrpd {}: the service is not assembled yet; this build ships the MSRP engine (crate `msrp`).",
        env!("CARGO_PKG_VERSION")
    );
}
