//! `flotilla`: the command-line edge of the engine. Argument parsing, logs,
//! output files and exit codes live here; everything else is the library.
//!
//! Exit codes follow `diff(1)`: 0 nothing wrong (or nothing differs), 1 the
//! fleet is invalid (or something differs), 2 or more an error.

mod agent;
mod connect;
mod diff;
mod drift;
mod live;
mod render;
mod repo;
mod serve;
mod sync;
mod validate;

use std::process::ExitCode;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand, ValueEnum};
use flotilla_core::report::OutputFormat;

/// GitOps sync engine for fleets of Kubernetes clusters.
#[derive(Parser)]
#[command(name = "flotilla", version, about, propagate_version = true)]
struct Cli {
    /// Log format on stderr.
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
    Validate(validate::Args),
    /// Print, or write to a folder, the desired state of one or all clusters.
    Render(render::Args),
    /// Desired vs live per cluster, or --from/--to: the rendered change between commits (exit 1 when something differs).
    Diff(diff::Args),
    /// The drift report across the fleet: InSync, Drifted, Unreachable, RenderError (exit 1 on drift).
    Drift(drift::Args),
    /// The daemon: poll Git, roll out in waves, self-heal drift, serve status over HTTP.
    Serve(serve::Args),
    /// Pull mode: run beside one member cluster, dial out to the hub, apply its assignment, report back.
    Agent(agent::Args),
    /// Apply desired state to clusters: ordered server-side apply, safe prune (exit 2 on any failure).
    Sync(sync::Args),
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
    init_logs(cli.log_format);
    let result = match cli.command {
        Command::Validate(a) => validate::run(a),
        Command::Render(a) => render::run(a),
        Command::Diff(a) => diff::run(a),
        Command::Drift(a) => drift::run(a),
        Command::Sync(a) => sync::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Agent(a) => agent::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FLOTILLA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
