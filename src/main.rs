//! The `hookscope` binary: parses the command line and runs the library.

use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use hookscope::forward::ForwardArgs;
use hookscope::wait::{WaitArgs, WaitError};
use hookscope::{AppState, Config};

/// mimalloc: captures allocate and free many small buffers across threads;
/// glibc's malloc was a large share of the CPU time (bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "hookscope", version, about = "Self-hosted request inspector")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Settings of `serve`, which is also what runs with no subcommand.
    #[command(flatten)]
    serve: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(Config),
    /// Relay every request a bin captures to a local app.
    Forward(ForwardArgs),
    /// Wait for a request matching a query (for CI): print it and exit 0,
    /// or exit 1 when none comes in time, 2 on any other error.
    Wait(WaitArgs),
}

/// `RUST_LOG`, else `info`; but the PostgreSQL driver never below `info`:
/// at debug it logs every statement's parameters, which are captured
/// bodies and verifier secrets.
fn log_filter() -> EnvFilter {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info"));
    match "tokio_postgres=info".parse() {
        Ok(cap) => filter.add_directive(cap),
        Err(_) => filter,
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Logs go to stderr: `forward` prints its report on stdout.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(log_filter())
        .init();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    match &cli.command {
        Some(Command::Serve(config)) => builder.worker_threads(config.worker_threads()),
        Some(Command::Forward(_) | Command::Wait(_)) => &mut builder,
        None => builder.worker_threads(cli.serve.worker_threads()),
    };
    let runtime = match builder.build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("hookscope: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Some(Command::Wait(args)) => {
            return finish_wait(runtime.block_on(hookscope::wait::run(args)))
        }
        Some(Command::Forward(args)) => runtime
            .block_on(hookscope::forward::run(args))
            .map_err(|e| e.to_string()),
        Some(Command::Serve(config)) => runtime.block_on(run(config)).map_err(|e| e.to_string()),
        None => runtime.block_on(run(cli.serve)).map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hookscope: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Prints what `hookscope wait` found, or why it found nothing, and
/// gives its exit status.
fn finish_wait(result: Result<String, WaitError>) -> std::process::ExitCode {
    match result {
        Ok(printed) => {
            print!("{printed}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            if let WaitError::Signature { printed, .. } = &e {
                print!("{printed}");
            }
            eprintln!("hookscope wait: {e}");
            std::process::ExitCode::from(e.exit_code())
        }
    }
}

async fn run(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let db = config.db.clone();
    let state = AppState::open(config).map_err(|e| format!("cannot open {}: {e}", db.display()))?;
    tracing::info!(
        "hookscope listening on http://{} (database {})",
        listener.local_addr()?,
        db.display()
    );
    hookscope::serve(listener, state, shutdown_signal()).await?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
