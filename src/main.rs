//! `flotilla`: the command-line edge of the engine. Argument parsing, logs,
//! output files and exit codes live here; everything else is the library.
//!
//! Exit codes follow `diff(1)`: 0 nothing wrong (or nothing differs), 1
//! something differs (or `validate`/`render` found the fleet invalid), 2 an
//! error (`sync`, `diff` and `drift` exit 2 when the fleet does not load).

mod agent;
mod clusters;
mod connect;
mod diff;
mod drift;
mod live;
mod render;
mod repo;
mod serve;
mod sync;
mod validate;

/// mimalloc: the daemon's syncs and checks and `render` allocate and free
/// many small JSON values; glibc's malloc spent a quarter to a half of
/// their CPU (README, Benchmarks: "The allocator"). Without the default
/// `mimalloc` feature the system allocator serves (heap profilers see it).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand, ValueEnum};
use flotilla_core::report::OutputFormat;

/// `flotilla --version` and `flotilla version`: the version, the Git
/// commit and the build date (set by build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("FLOTILLA_COMMIT"),
    ", built ",
    env!("FLOTILLA_BUILD_DATE"),
    ")"
);

const EXAMPLES: &str = "\
Examples:
  flotilla validate --repo .                      check the fleet in this folder
  flotilla render --cluster eu-1 | less           what eu-1 should run
  flotilla diff --from main                       the change of the work tree, per cluster
  flotilla drift -l env=prod -o json              drift of the production clusters
  flotilla sync --dry-run --cluster eu-1,eu-2     what a sync would change
  flotilla serve --config flotilla.yaml           the daemon

Logs go to stderr: FLOTILLA_LOG (or RUST_LOG) sets the filter, e.g.
FLOTILLA_LOG=debug or FLOTILLA_LOG=info,kube_client=debug; the default is
`warn` (`info` for serve).";

/// GitOps sync engine for fleets of Kubernetes clusters.
#[derive(Parser)]
#[command(
    name = "flotilla",
    version = VERSION,
    about,
    propagate_version = true,
    after_help = EXAMPLES
)]
struct Cli {
    /// Log format on stderr (`json`: one JSON object a line).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "FLOTILLA_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Load and render every cluster; report every error found (exit 1 on any).
    #[command(
        after_help = "Examples:\n  flotilla validate --repo .\n  flotilla validate --watch\n  flotilla validate --repo https://git.example.com/fleet.git --rev main -o json"
    )]
    Validate(validate::Args),
    /// Print, or write to a folder, the desired state of one or all clusters.
    #[command(
        after_help = "Examples:\n  flotilla render --cluster eu-1\n  flotilla render -l env=prod --out rendered/\n  flotilla render --cluster eu-1 -o json | jq '.items | length'"
    )]
    Render(render::Args),
    /// Desired vs live per cluster, or --from[/--to]: the rendered change between commits (exit 1 when something differs).
    #[command(
        after_help = "Examples:\n  flotilla diff --cluster eu-1                 desired against live\n  flotilla diff --from main                    main against the work tree\n  flotilla diff --from main --to HEAD -o markdown > comment.md"
    )]
    Diff(diff::Args),
    /// The drift report across the fleet: InSync, Drifted, Unreachable, RenderError (exit 1 on drift).
    #[command(
        after_help = "Examples:\n  flotilla drift\n  flotilla drift -l env=prod --request-timeout 10s\n  flotilla drift -o json > drift.json"
    )]
    Drift(drift::Args),
    /// The daemon: poll Git, roll out in waves, self-heal drift, serve status over HTTP.
    #[command(
        after_help = "Examples:\n  flotilla serve --repo . --listen 127.0.0.1:8080\n  flotilla serve --config /etc/flotilla/flotilla.yaml\n  FLOTILLA_LOG=debug flotilla serve --repo https://git.example.com/fleet.git --rev main\n\nEvery flag also reads its environment variable and the config file key; flags win over\nthe environment, which wins over the file. Defaults shown are the config file's."
    )]
    Serve(serve::Args),
    /// Pull mode: run beside one member cluster, dial out to the hub, apply its assignment, report back.
    Agent(agent::Args),
    /// Apply desired state to clusters: ordered server-side apply, safe prune (exit 2 on any failure).
    #[command(
        after_help = "Examples:\n  flotilla sync --dry-run\n  flotilla sync --cluster eu-1,eu-2 --no-prune\n  flotilla sync -l env=staging --wait --health-timeout 10m"
    )]
    Sync(sync::Args),
    /// Print the version, the Git commit and the build date.
    Version,
    /// Print a shell completion script (bash, zsh or fish) to stdout.
    #[command(
        after_help = "Examples:\n  flotilla completion bash > ~/.local/share/bash-completion/completions/flotilla\n  flotilla completion zsh > \"${fpath[1]}/_flotilla\"\n  flotilla completion fish > ~/.config/fish/completions/flotilla.fish"
    )]
    Completion {
        /// The shell.
        shell: Shell,
    },
}

/// The shells `flotilla completion` writes scripts for.
#[derive(Clone, Copy, ValueEnum)]
enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// A number of at least 1 (`--concurrency`).
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{text:?} is not a whole number")),
    }
}

/// A duration longer than zero, written like `30s`, `5m`, `1h30m`.
fn positive_duration(text: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| format!("{text:?} is not a duration like 30s or 5m: {e}"))?;
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(d)
}

/// The clap parser of `-o/--output` for a report that has `formats`
/// (its `Report::FORMATS`): any other value is a usage error that lists the
/// accepted ones.
fn output_formats(formats: &'static [OutputFormat]) -> impl TypedValueParser<Value = OutputFormat> {
    PossibleValuesParser::new(
        formats
            .iter()
            .map(|f| PossibleValue::new(f.name()).help(f.help())),
    )
    .map(|name| {
        name.parse::<OutputFormat>()
            .expect("a possible value is a format name")
    })
}

/// Renders `report` in `format` and prints it as is.
fn print_report(
    report: &impl flotilla_core::report::Report,
    format: OutputFormat,
) -> anyhow::Result<()> {
    use std::io::Write;
    let text = report.render(format)?;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    init_logs(cli.log_format, default_level);
    let result = match cli.command {
        Command::Validate(a) => validate::run(a),
        Command::Render(a) => render::run(a),
        Command::Diff(a) => diff::run(a),
        Command::Drift(a) => drift::run(a),
        Command::Sync(a) => sync::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Version => print_text(&format!("flotilla {VERSION}\n")),
        Command::Completion { shell } => completion(shell),
        Command::Agent(a) => agent::run(a),
    };
    match result {
        Ok(code) => code,
        // `flotilla render | head`: the reader left; nothing is wrong.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Whether an error is a write to a pipe whose reader has gone.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Prints `text` on stdout as is.
fn print_text(text: &str) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `flotilla completion SHELL`: the completion script on stdout.
fn completion(shell: Shell) -> anyhow::Result<ExitCode> {
    use clap::CommandFactory;
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "flotilla", &mut script);
    print_text(&String::from_utf8_lossy(&script))
}

/// The log filter: `FLOTILLA_LOG`, else `RUST_LOG`, else `default_level`
/// with the Kubernetes client library's own lines off (its failures reach
/// the user as Flotilla's errors, which name the server and the cause).
fn log_filter(default_level: &str) -> tracing_subscriber::EnvFilter {
    for var in ["FLOTILLA_LOG", "RUST_LOG"] {
        if let Ok(text) = std::env::var(var)
            && !text.trim().is_empty()
        {
            match tracing_subscriber::EnvFilter::try_new(&text) {
                Ok(filter) => return filter,
                Err(e) => eprintln!(
                    "warning: {var}={text:?} is not a log filter ({e}); using the default"
                ),
            }
        }
    }
    tracing_subscriber::EnvFilter::new(format!(
        "{default_level},kube_client=off,kube_runtime=off,hyper=off,hyper_util=off,rustls=off"
    ))
}

fn init_logs(format: LogFormat, default_level: &str) {
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(log_filter(default_level))
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// SIGTERM (Kubernetes stopping the pod) or Ctrl-C: `serve` and `agent`
/// stop on it.
pub(crate) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
