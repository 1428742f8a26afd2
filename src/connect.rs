//! `--kubeconfig [CLUSTER=]PATH` and `--context [CLUSTER=]NAME`, shared by
//! `sync`, `diff` (live) and `drift`. The rules are the library's
//! (`flotilla_engine::destination::connect::effective_connection`).

use flotilla_core::model::Fleet;
use flotilla_engine::destination::ConnectOptions;
use flotilla_engine::destination::kube::Timeouts;

/// Connection overrides for one run, without editing fleet.yaml.
#[derive(clap::Args)]
pub struct ConnectArgs {
    /// Kubeconfig to use (repeatable). `CLUSTER=PATH`: for that cluster
    /// only, whatever its connection in fleet.yaml (a directory or agent
    /// cluster becomes a kubeconfig one). `PATH` alone: for every cluster
    /// that connects through a kubeconfig (in fleet.yaml or by a
    /// per-cluster --kubeconfig/--context); it switches no other cluster.
    ///
    /// A per-cluster value wins over the global one, which wins over
    /// fleet.yaml. The argument is split at its first `=` only when the
    /// text before it is a DNS label (a cluster name); so `./a=b/config` is
    /// a path for every cluster, while `a=b/config` names cluster `a`
    /// (write `./a=b/config` for the file). An unknown cluster is an error.
    #[arg(long, value_name = "[CLUSTER=]PATH")]
    pub kubeconfig: Vec<String>,
    /// Kubeconfig context to use (repeatable). `CLUSTER=NAME`: for that
    /// cluster only, whatever its connection in fleet.yaml (a directory or
    /// agent cluster then reads its --kubeconfig, else the global one, else
    /// the default: $KUBECONFIG or ~/.kube/config, as kubectl). `NAME` alone: for every cluster that connects
    /// through a kubeconfig. Precedence and splitting as for --kubeconfig.
    #[arg(long, value_name = "[CLUSTER=]NAME")]
    pub context: Vec<String>,
    /// How long opening a connection to an API server may take (TCP and
    /// TLS), e.g. `5s`.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = crate::positive_duration)]
    pub connect_timeout: std::time::Duration,
    /// How long one request to an API server may take, retries included,
    /// e.g. `1m`: a server that accepts and never answers fails its cluster
    /// after this long.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = crate::positive_duration)]
    pub request_timeout: std::time::Duration,
}

impl ConnectArgs {
    /// The connect options of these arguments for `fleet`; an argument
    /// naming a cluster the fleet lacks is an error (exit 2).
    pub fn options(&self, fleet: &Fleet) -> anyhow::Result<ConnectOptions> {
        let mut options = ConnectOptions::default().with_overrides(
            &self.kubeconfig,
            &self.context,
            &fleet.clusters,
        )?;
        options.timeouts = Timeouts {
            connect: self.connect_timeout,
            request: self.request_timeout,
        };
        Ok(options)
    }
}
