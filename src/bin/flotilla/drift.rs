//! `flotilla drift`: the drift report across the fleet.

use std::process::ExitCode;

use clap::ValueEnum;

use crate::live::{LiveArgs, exit_code, report};
use crate::repo::RepoArgs;

/// Arguments of `flotilla drift`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    repo: RepoArgs,
    #[command(flatten)]
    live: LiveArgs,
    /// Output format; JSON follows docs/drift-report.schema.json.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Markdown,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let snapshot = args.repo.snapshot(None)?;
    let fleet = match flotilla::load::load(&snapshot) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}\nthe fleet does not load: no drift report");
            return Ok(ExitCode::from(2));
        }
    };
    let r = report(&fleet, &args.live)?;
    match args.output {
        Format::Text => print!("{}", flotilla::report::drift_text(&r, false)),
        Format::Markdown => print!("{}", flotilla::report::drift_markdown(&r)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&r)?),
    }
    Ok(ExitCode::from(exit_code(&r)))
}
