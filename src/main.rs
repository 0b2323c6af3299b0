use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    consentry::cli::run().await
}
