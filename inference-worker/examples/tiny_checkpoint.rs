//! Writes a tiny random checkpoint in Hugging Face layout (the one the
//! tests use) into a directory, to upload to a hub by hand:
//!
//! ```text
//! cargo run -p inference-worker --example tiny_checkpoint -- MODEL_TYPE DIR
//! ```
//!
//! `gguf-qwen2` or `gguf-llama` instead writes a GGUF-only repo: the same
//! tiny random model quantised as `tiny-Q4_K_M.gguf` and `tiny-Q8_0.gguf`.

use candle_core::quantized::GgmlDType;
use inference_worker::testing::gguf::{GgufSpec, write_gguf};
use inference_worker::testing::{Arch, Spec, write_checkpoint};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [arch, dir] = args.as_slice() else {
        anyhow::bail!("usage: tiny_checkpoint MODEL_TYPE|gguf-qwen2|gguf-llama DIR");
    };
    if let Some(arch) = arch.strip_prefix("gguf-") {
        let spec = GgufSpec::tiny(match arch {
            "qwen2" => Arch::Qwen2,
            "llama" => Arch::Llama,
            other => anyhow::bail!("unknown GGUF architecture {other:?}: qwen2 or llama"),
        });
        let dir = std::path::Path::new(dir);
        std::fs::create_dir_all(dir)?;
        write_gguf(&dir.join("tiny-Q4_K_M.gguf"), &spec, GgmlDType::Q4K)?;
        write_gguf(&dir.join("tiny-Q8_0.gguf"), &spec, GgmlDType::Q8_0)?;
        return Ok(());
    }
    let Some(arch) = Arch::from_model_type(arch) else {
        let known: Vec<&str> = Arch::ALL.iter().map(|a| a.model_type()).collect();
        anyhow::bail!("unknown model_type {arch:?}: one of {}", known.join(", "));
    };
    write_checkpoint(std::path::Path::new(dir), &Spec::tiny(arch))?;
    Ok(())
}
