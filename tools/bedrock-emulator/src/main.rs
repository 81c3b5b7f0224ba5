//! `ferry-bedrock-emulator [PORT]`: serves the Custom Model Import API on
//! 127.0.0.1:PORT (default: a free port) until interrupted. Configuration:
//! `FERRY_EMULATOR_*` (see `Config::from_env`). Prints the endpoint on stdout.

use anyhow::Context;
use ferry_bedrock_emulator::{Config, Emulator};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = match std::env::args().nth(1) {
        Some(arg) => arg
            .parse()
            .with_context(|| format!("{arg:?} is not a port number"))?,
        None => 0,
    };
    let config = Config::from_env(|name| std::env::var(name).ok())?;
    let emulator = Emulator::start(config, port).await?;
    println!("{}", emulator.endpoint());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
