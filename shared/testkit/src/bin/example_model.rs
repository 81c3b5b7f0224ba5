//! Writes an example model folder for the README's first command: Llama 3.1 8B's real
//! config and tensor layout in four sparse shards (16 GB that take a few KB of disk).

use anyhow::{bail, Result};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        bail!("usage: ferry-example-model DIR");
    };
    ferry_testkit::fixtures::write_llama_3_1_8b_sparse(std::path::Path::new(&dir))?;
    eprintln!("wrote a Llama-3.1-8B-shaped model folder (sparse shards) to {dir}");
    Ok(())
}
