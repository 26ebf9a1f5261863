//! Writes a tiny random checkpoint in Hugging Face layout (the one the
//! tests use) into a directory, to upload to a hub by hand:
//!
//! ```text
//! cargo run -p inference-worker --example tiny_checkpoint -- qwen2|qwen3|llama DIR
//! ```

use inference_worker::testing::{Arch, Spec, write_checkpoint};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [arch, dir] = args.as_slice() else {
        anyhow::bail!("usage: tiny_checkpoint qwen2|qwen3|llama DIR");
    };
    let arch = match arch.as_str() {
        "qwen2" => Arch::Qwen2,
        "qwen3" => Arch::Qwen3,
        "llama" => Arch::Llama,
        other => anyhow::bail!("unknown architecture {other:?}: qwen2, qwen3 or llama"),
    };
    write_checkpoint(std::path::Path::new(dir), &Spec::tiny(arch))?;
    Ok(())
}
