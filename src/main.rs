//! `msrpd`: the MSRP relay and chat-room service (RFC 4975, RFC 4976, RFC 7701).
//!
//! `msrpd chat sip:lobby@localhost --as sip:alice@localhost` is a terminal chat client for a
//! running msrpd ([`msrpd::chat`]).
//!
//! `msrpd` runs on the embedded default configuration (a demo on loopback, see
//! `msrpd --print-default-config`); `msrpd --config FILE` on a TOML file, which needs only the
//! keys it changes; `msrpd --check-config FILE` checks one and exits (0: usable, 2: not, with
//! the key named). SIGTERM or SIGINT drains and exits 0.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use msrpd::config::{Config, DEFAULT_TOML, LogFormat, LogLevel};

/// MSRP relay and chat-room service (RFC 4975, RFC 4976, RFC 7701).
#[derive(Debug, Parser)]
#[command(name = "msrpd", version, about, long_about = None, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The configuration file (TOML); without it, the embedded default.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Prints the embedded default configuration (every key, commented) and exits.
    #[arg(long, conflicts_with_all = ["config", "check_config"])]
    print_default_config: bool,
    /// Checks a configuration file and exits: 0 when it can be used, 2 when not.
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    check_config: Option<PathBuf>,
}

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// A terminal chat client: joins a room of a running msrpd (by SIP INVITE to its focus, or
    /// through its control API) and chats; `/help` lists its commands.
    Chat(msrpd::chat::ChatArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Chat(args)) = cli.command {
        return chat(args);
    }
    if cli.print_default_config {
        print!("{DEFAULT_TOML}");
        return ExitCode::SUCCESS;
    }
    if let Some(path) = &cli.check_config {
        return match Config::load(path) {
            Ok(_) => {
                println!("{}: ok", path.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("msrpd: {}: {e}", path.display());
                ExitCode::from(2)
            }
        };
    }
    let cfg = match &cli.config {
        Some(path) => match Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("msrpd: {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => Config::default(),
    };
    init_logging(&cfg);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("msrpd: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The signal handlers are installed before the service starts (and so before it prints
    // `ready`): a SIGTERM that comes right after `ready` drains like any other, where it used
    // to kill the process if the main task had not been polled yet.
    match runtime.block_on(async {
        let stop = signalled();
        msrpd::service::run(cfg, stop).await
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            eprintln!("msrpd: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `msrpd chat`: stdin to the room, the room to stdout.
fn chat(args: msrpd::chat::ChatArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("msrpd chat: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let input = tokio::io::BufReader::new(tokio::io::stdin());
    let result = runtime.block_on(msrpd::chat::run(args, input, tokio::io::stdout()));
    // A read of stdin may still be pending on tokio's blocking thread (the room ended the
    // session while nothing was typed): exit without waiting for it.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("msrpd chat: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Installs the SIGTERM and SIGINT handlers now (inside the runtime); the future resolves on
/// either signal.
fn signalled() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut term), Ok(mut int)) = handlers else {
            // No signal handling: run until killed.
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM"),
            _ = int.recv() => tracing::info!("SIGINT"),
        }
    }
}

/// Log lines on stderr, `[log]` format and level.
fn init_logging(cfg: &Config) {
    let level = match cfg.log.level {
        LogLevel::Error => tracing::Level::ERROR,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Trace => tracing::Level::TRACE,
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match cfg.log.format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
