//! `msrpd`: the MSRP relay and chat-room service.
//!
//! For now the binary only answers `--help` and `--version`: the daemon (issue #6) is assembled
//! once the relay and the chat-room mixer (RFC 7701) are done. The relay (RFC 4976) already runs
//! alone as the `msrp-relay` binary of crate `msrp-relay`.
#![forbid(unsafe_code)]

use clap::Parser;

/// MSRP relay and chat-room service (RFC 4975, RFC 4976, RFC 7701).
#[derive(Debug, Parser)]
#[command(name = "msrpd", version, about, long_about = None)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
    eprintln!(
        "msrpd {}: the service is not assembled yet. The relay runs alone: \
         cargo run --release -p msrp-relay --bin msrp-relay -- --help",
        env!("CARGO_PKG_VERSION")
    );
}
