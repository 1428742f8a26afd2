//! A test API server on 127.0.0.1 for manual trials: writes its kubeconfig
//! to the path given (or prints it) and serves until killed.
#[tokio::main]
async fn main() {
    let server = kube_testserver::TestApiServer::start().await;
    match std::env::args().nth(1) {
        Some(path) => std::fs::write(path, server.kubeconfig_yaml()).unwrap(),
        None => println!("{}", server.kubeconfig_yaml()),
    }
    tokio::signal::ctrl_c().await.unwrap();
}
