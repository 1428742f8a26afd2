//! `flotilla drift`: the drift report across the fleet.

use std::process::ExitCode;

use flotilla_core::report::{Drift, OutputFormat, Report};

use crate::live::{LiveArgs, print_report};
use crate::repo::RepoArgs;

/// Arguments of `flotilla drift`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    repo: RepoArgs,
    #[command(flatten)]
    live: LiveArgs,
    /// Output format; JSON follows docs/drift-report.schema.json.
    #[arg(short = 'o', long, value_parser = crate::output_formats(Drift::FORMATS), default_value_t = OutputFormat::Text)]
    output: OutputFormat,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    print_report(&args.repo, &args.live, args.output, false)
}
