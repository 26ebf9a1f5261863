//! Writes a tiny random checkpoint in Hugging Face layout (the one the
//! tests use) into a directory, to upload to a hub by hand:
//!
//! ```text
//! cargo run -p inference-worker --example tiny_checkpoint -- MODEL_TYPE DIR
//! ```

use inference_worker::testing::{Arch, Spec, write_checkpoint};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [arch, dir] = args.as_slice() else {
        anyhow::bail!("usage: tiny_checkpoint MODEL_TYPE DIR");
    };
    let Some(arch) = Arch::from_model_type(arch) else {
        let known: Vec<&str> = Arch::ALL.iter().map(|a| a.model_type()).collect();
        anyhow::bail!("unknown model_type {arch:?}: one of {}", known.join(", "));
    };
    write_checkpoint(std::path::Path::new(dir), &Spec::tiny(arch))?;
    Ok(())
}
