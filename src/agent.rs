//! `flotilla agent`: pull mode. Runs beside (or inside) one member cluster,
//! dials out to the hub, applies the cluster's assignment with the engine
//! and reports back (the `flotilla-agent` crate). Every flag is also a
//! `FLOTILLA_AGENT_*` environment variable.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use flotilla_agent::AgentConfig;

/// Arguments of `flotilla agent`.
#[derive(clap::Args)]
pub struct Args {
    /// The hub's URL (`https://flotilla.example.com`); the agent connects out.
    #[arg(long, env = "FLOTILLA_AGENT_HUB")]
    hub: String,
    /// The fleet cluster this agent syncs (its name in fleet.yaml).
    #[arg(long, env = "FLOTILLA_AGENT_CLUSTER")]
    cluster: String,
    /// A file holding this cluster's token (the hub's `<agentTokenDir>/<cluster>`).
    #[arg(long, env = "FLOTILLA_AGENT_TOKEN_FILE")]
    token_file: PathBuf,
    /// The member's kubeconfig; in-cluster config when unset (else the default kubeconfig).
    #[arg(long, env = "FLOTILLA_AGENT_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context.
    #[arg(long, env = "FLOTILLA_AGENT_CONTEXT")]
    context: Option<String>,
    /// A PEM CA bundle to verify an https:// hub with (the system's roots otherwise).
    #[arg(long, env = "FLOTILLA_AGENT_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// Where the last assignment and unsent reports are kept across restarts.
    #[arg(long, env = "FLOTILLA_AGENT_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// The longest wait between reconnect attempts (e.g. 30s).
    #[arg(long, env = "FLOTILLA_AGENT_MAX_BACKOFF", value_parser = humantime::parse_duration, default_value = "30s")]
    max_backoff: Duration,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let token = flotilla_agent::read_token(&args.token_file)?;
    let config = AgentConfig {
        hub: args.hub,
        cluster: args.cluster,
        token,
        kubeconfig: args.kubeconfig,
        context: args.context,
        ca_file: args.ca_file,
        state_dir: args.state_dir,
        max_backoff: args.max_backoff,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            crate::wait_for_signal().await;
            let _ = stop_tx.send(true);
        });
        eprintln!(
            "flotilla agent: cluster {} -> hub {}",
            config.cluster,
            flotilla_redact::redact_url(&config.hub)
        );
        flotilla_agent::run(config, stop_rx)
            .await
            .context("flotilla agent")
    })?;
    Ok(ExitCode::SUCCESS)
}
