//! `flotilla diff`: desired against live for clusters (like `kubectl diff`),
//! or with `--from REV --to REV` the rendered change between two commits,
//! per cluster, for pull-request review (no cluster access needed).

use std::process::ExitCode;

use anyhow::bail;

use flotilla_core::report::{Drift, OutputFormat, Report};

use crate::live::{LiveArgs, print_report};
use crate::repo::RepoArgs;

/// Arguments of `flotilla diff`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    repo: RepoArgs,
    #[command(flatten)]
    live: LiveArgs,
    /// The base revision (branch, tag or commit), e.g. `main`. Alone, it
    /// is compared with the work tree of the local folder.
    #[arg(long, value_name = "REV")]
    from: Option<String>,
    /// The revision under review, e.g. `HEAD` (needs --from).
    #[arg(long, value_name = "REV", requires = "from")]
    to: Option<String>,
    /// Output format; markdown is fit for a pull-request comment.
    #[arg(short = 'o', long, value_parser = crate::output_formats(Drift::FORMATS), default_value_t = OutputFormat::Text)]
    output: OutputFormat,
    #[command(flatten)]
    comment: CommentArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (from, to) = match (&args.from, &args.to) {
        (Some(from), to) => (from, to.as_deref()),
        (None, None) => return live(args),
        (None, Some(_)) => bail!("--to REV needs --from REV"),
    };
    let mut source = args.repo.open()?;
    let old = source.snapshot(Some(from))?;
    // Without --to: the work tree of a local folder (a remote's default
    // branch, or --rev, for a URL).
    let new = source.snapshot(to)?;
    let label = |rev: &str, snap: &flotilla_core::snapshot::Snapshot| match snap.revision() {
        Some(id) if !id.starts_with(rev) => format!("{rev} ({})", &id[..id.len().min(12)]),
        _ => rev.to_string(),
    };
    let new_label = match to {
        Some(to) => label(to, &new),
        None => match new.revision() {
            Some(id) => id[..id.len().min(12)].to_string(),
            None => "work tree".to_string(),
        },
    };
    let threads = flotilla_source::Threads::available();
    let old_fleet = flotilla_core::load::load_with(&old, &threads);
    let new_fleet = flotilla_core::load::load_with(&new, &threads);
    let report = flotilla_core::diff::diff_fleets(
        &label(from, &old),
        old_fleet.as_ref(),
        &new_label,
        new_fleet.as_ref(),
    );
    args.comment.print(&report, args.output)?;
    Ok(ExitCode::from(if report.to_failed() {
        2
    } else if report.has_changes() {
        1
    } else {
        0
    }))
}

/// Desired against live, with unified diffs: exit 0 in sync, 1 drift, 2 a
/// cluster not compared.
fn live(args: Args) -> anyhow::Result<ExitCode> {
    if args.comment.out_file.is_some() {
        bail!("--out-file works with --from REV --to REV");
    }
    print_report(&args.repo, &args.live, args.output, true)
}

/// The pull-request comment's budget and the full report's file.
#[derive(clap::Args)]
struct CommentArgs {
    /// With `-o markdown`: the most characters the comment may hold; larger
    /// changes are cut, section by section, with a note saying so.
    #[arg(long, value_name = "N", default_value_t = 60_000,
          value_parser = clap::value_parser!(u32).range(2_000..=10_000_000))]
    max_comment_chars: u32,
    /// Also write the whole report, never cut, to FILE (in the `-o` format),
    /// e.g. to keep as a CI artifact.
    #[arg(long, value_name = "FILE")]
    out_file: Option<std::path::PathBuf>,
}

impl CommentArgs {
    /// Prints the report (markdown within the budget) and writes the whole
    /// one to `--out-file`.
    fn print(
        &self,
        report: &flotilla_core::diff::FleetDiff,
        format: OutputFormat,
    ) -> anyhow::Result<()> {
        use anyhow::Context;
        use std::io::Write;
        if let Some(file) = &self.out_file {
            std::fs::write(file, report.render(format)?)
                .with_context(|| format!("writing the full report to {}", file.display()))?;
        }
        if format != OutputFormat::Markdown {
            return crate::print_report(report, format);
        }
        let shown = self.out_file.as_ref().map(|f| f.display().to_string());
        let comment = flotilla_core::report::diff_comment(
            report,
            &flotilla_core::report::CommentOptions {
                max_chars: self.max_comment_chars as usize,
                full_report: shown.as_deref(),
            },
        );
        let mut out = std::io::stdout().lock();
        out.write_all(comment.text.as_bytes())?;
        out.flush()?;
        Ok(())
    }
}
