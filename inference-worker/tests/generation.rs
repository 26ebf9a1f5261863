//! Generation on tiny random checkpoints written by `testing`, through the
//! real loaders, tokenizer and chat templates.

use std::path::Path;

use candle_core::Device;
use chat_template::ChatTemplate;
use inference_worker::generation::{BadRequest, Step, generate, greedy, prompt_tokens};
use inference_worker::sampling::argmax;
use inference_worker::testing::{Arch, Spec, write_checkpoint};
use inference_worker::text_stream::TextStream;
use inference_worker::{TextModel, generate_local};
use worker_protocol::{ChatMessage, FinishReason, GenerationParams, Prompt};

fn checkpoint(arch: Arch) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_checkpoint(dir.path(), &Spec::tiny(arch)).unwrap();
    dir
}

fn chat(text: &str) -> Prompt {
    Prompt::Chat(vec![ChatMessage {
        role: "user".into(),
        content: text.into(),
    }])
}

/// The slowest correct thing: re-run the whole sequence for every token,
/// no KV cache, and take the largest logit.
fn reference_greedy(dir: &Path, prompt: &Prompt, n: usize) -> Vec<u32> {
    let model = TextModel::load(dir, &Device::Cpu).unwrap();
    let mut ids = prompt_tokens(&model, prompt).unwrap();
    let prompt_len = ids.len();
    let mut lm = model.session().unwrap();
    for _ in 0..n {
        let mut logits = lm.forward_uncached(&ids).unwrap();
        logits.truncate(model.usable_vocab);
        let next = argmax(&logits);
        ids.push(next);
        if model.eos_token_ids.contains(&next) {
            break;
        }
    }
    ids.split_off(prompt_len)
}

fn greedy_matches_reference(arch: Arch) {
    let dir = checkpoint(arch);
    for prompt in [chat("你好, hello world"), Prompt::Text("hello 世界".into())] {
        let out = generate_local(dir.path(), &prompt, &greedy(24))
            .unwrap_or_else(|e| panic!("{arch:?}: {e:#}"));
        let expected = reference_greedy(dir.path(), &prompt, 24);
        assert_eq!(out.tokens, expected, "{arch:?}, {prompt:?}");
        assert!(!out.tokens.is_empty());
        assert_eq!(out.usage.generated_tokens as usize, out.tokens.len());
        assert_eq!(out.usage.prompt_tokens as usize, out.prompt_tokens.len());
        match out.finish_reason {
            Some(FinishReason::Length) => assert_eq!(out.tokens.len(), 24),
            Some(FinishReason::EosToken) => {}
            other => panic!("unexpected finish {other:?}"),
        }
    }
}

/// Every architecture the worker runs, each from its own tiny checkpoint:
/// prefill + KV-cached decoding gives the tokens of a full recompute.
#[test]
fn every_architecture_greedy_equals_the_uncached_reference() {
    for &arch in Arch::ALL {
        greedy_matches_reference(arch);
    }
}

/// Sessions of one loaded model do not share a cache: two in turn (and
/// interleaved) give what each gives alone. Matters for the families whose
/// session is a rebuilt or cloned module tree.
#[test]
fn sessions_of_one_model_are_independent() {
    for &arch in Arch::ALL {
        let dir = checkpoint(arch);
        let model = TextModel::load(dir.path(), &Device::Cpu).unwrap();
        let a = model.encode("hello 世界", false).unwrap();
        let b = model.encode("你好 the world", false).unwrap();
        let mut one = model.session().unwrap();
        let alone_a = one.forward(&a, 0).unwrap();
        let mut two = model.session().unwrap();
        let alone_b = two.forward(&b, 0).unwrap();
        // Interleaved decoding steps on both.
        let next_a = one.forward(&[argmax(&alone_a)], a.len()).unwrap();
        let next_b = two.forward(&[argmax(&alone_b)], b.len()).unwrap();
        let mut reference = model.session().unwrap();
        for (prompt, first, next) in [(&a, &alone_a, &next_a), (&b, &alone_b, &next_b)] {
            let mut ids = prompt.clone();
            ids.push(argmax(first));
            let expected = reference.forward_uncached(&ids).unwrap();
            let diff = expected
                .iter()
                .zip(next)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert!(diff < 1e-3, "{arch:?}: logits differ by {diff}");
        }
    }
}

#[test]
fn checkpoints_are_reproducible_from_the_seed() {
    let a = checkpoint(Arch::Qwen2);
    let b = checkpoint(Arch::Qwen2);
    for f in ["model.safetensors", "tokenizer.json", "config.json"] {
        assert_eq!(
            std::fs::read(a.path().join(f)).unwrap(),
            std::fs::read(b.path().join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn seeded_sampling_is_reproducible() {
    let dir = checkpoint(Arch::Qwen2);
    let model = TextModel::load(dir.path(), &Device::Cpu).unwrap();
    let params = |seed| GenerationParams {
        max_new_tokens: 32,
        temperature: Some(1.5),
        top_p: Some(0.95),
        top_k: Some(100),
        repetition_penalty: Some(1.1),
        seed,
        stop: vec![],
    };
    let prompt = chat("hello");
    let run = |seed| {
        generate(&model, &prompt, &params(seed), |_| true)
            .unwrap()
            .tokens
    };
    let first = run(7);
    assert_eq!(first, run(7), "same seed, same tokens");
    assert_ne!(first, run(8), "another seed, other tokens");
    let greedy_tokens = generate(&model, &prompt, &greedy(32), |_| true)
        .unwrap()
        .tokens;
    assert_ne!(first, greedy_tokens, "sampling is not greedy");
}

#[test]
fn streamed_tokens_add_up_to_the_output() {
    let dir = checkpoint(Arch::Qwen2);
    let model = TextModel::load(dir.path(), &Device::Cpu).unwrap();
    let mut started = None;
    let mut streamed = Vec::new();
    let out = generate(&model, &chat("中文"), &greedy(40), |step| {
        match step {
            Step::Started { prompt_tokens } => started = Some(prompt_tokens),
            Step::Token(t) => streamed.push(t),
        }
        true
    })
    .unwrap();
    assert_eq!(started, Some(out.prompt_tokens.len() as u32));
    assert_eq!(
        streamed.iter().map(|t| t.id).collect::<Vec<_>>(),
        out.tokens
    );
    assert_eq!(
        streamed.iter().map(|t| t.text.as_str()).collect::<String>(),
        out.text
    );
    assert!(streamed.iter().all(|t| t.logprob <= 0.0));
}

#[test]
fn stopping_from_the_callback_ends_generation() {
    let dir = checkpoint(Arch::Llama);
    let model = TextModel::load(dir.path(), &Device::Cpu).unwrap();
    let mut n = 0;
    let out = generate(&model, &chat("hello"), &greedy(40), |step| {
        if matches!(step, Step::Token(_)) {
            n += 1;
        }
        n < 3
    })
    .unwrap();
    assert_eq!(out.tokens.len(), 3);
    assert_eq!(out.finish_reason, None);
}

#[test]
fn a_prompt_longer_than_the_context_is_a_bad_request() {
    let dir = checkpoint(Arch::Qwen2);
    let model = TextModel::load(dir.path(), &Device::Cpu).unwrap();
    let long = "hello ".repeat(600);
    let err = generate(&model, &Prompt::Text(long), &greedy(4), |_| true).unwrap_err();
    assert!(err.is::<BadRequest>(), "{err:#}");
    assert!(err.to_string().contains("at most 511"), "{err}");
}

#[test]
fn utf8_streaming_never_splits_a_chinese_character() {
    let dir = checkpoint(Arch::Qwen2);
    let model = TextModel::load(dir.path(), &Device::Cpu).unwrap();
    // 你好 and 中文 are merged tokens; 很, 。 and the rest are 3 byte tokens each.
    let text = "你好，世界！中文很好。🙂 ok";
    let ids = model.encode(text, false).unwrap();
    assert!(
        ids.len() > text.chars().count(),
        "some characters span several tokens"
    );
    let mut stream = TextStream::new(&model.tokenizer);
    let mut pieces = Vec::new();
    for &id in &ids {
        pieces.push(stream.push(id).unwrap());
    }
    pieces.push(stream.flush().unwrap());
    assert!(pieces.iter().all(|p| !p.contains('\u{FFFD}')), "{pieces:?}");
    assert!(pieces.iter().any(String::is_empty), "bytes were held back");
    assert_eq!(pieces.concat(), text);
}

#[test]
fn the_qwen_chat_template_renders_chatml() {
    let dir = checkpoint(Arch::Qwen2);
    let model = TextModel::load(dir.path(), &Device::Cpu).unwrap();
    let template = model.chat_template.as_ref().unwrap();
    let rendered = template
        .render(&[ChatMessage {
            role: "user".into(),
            content: "你好".into(),
        }])
        .unwrap();
    assert_eq!(
        rendered,
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n"
    );
    // The special tokens are single tokens, not spelled out.
    let ids = model.encode(&rendered, false).unwrap();
    let im_start = model.tokenizer.token_to_id("<|im_start|>").unwrap();
    assert_eq!(ids.iter().filter(|&&i| i == im_start).count(), 3);
}

#[test]
fn chat_templates_get_python_methods_bos_and_raise_exception() {
    let template = ChatTemplate::new(
        "{{ bos_token }}{% for m in messages %}{% if m.role == 'tool' %}{{ raise_exception('no tools here') }}{% endif %}{{ m.content.strip().upper() }}{% if m.content.startswith(' hi') %}!{% endif %}|{% endfor %}{% if add_generation_prompt %}>{% endif %}{{ eos_token }}".into(),
        "<s>".into(),
        "</s>".into(),
    )
    .unwrap();
    let msg = |role: &str, content: &str| ChatMessage {
        role: role.into(),
        content: content.into(),
    };
    assert_eq!(
        template
            .render(&[msg("user", " hi there "), msg("assistant", "ok")])
            .unwrap(),
        "<s>HI THERE!|OK|></s>"
    );
    let err = template.render(&[msg("tool", "x")]).unwrap_err();
    assert!(err.to_string().contains("no tools here"), "{err}");
    assert!(ChatTemplate::new("{% for %}".into(), String::new(), String::new()).is_err());
}

#[test]
fn chat_prompts_without_a_template_are_bad_requests() {
    let dir = checkpoint(Arch::Qwen2);
    std::fs::remove_file(dir.path().join("tokenizer_config.json")).unwrap();
    let model = TextModel::load(dir.path(), &Device::Cpu).unwrap();
    let err = generate(&model, &chat("hi"), &greedy(2), |_| true).unwrap_err();
    assert!(err.is::<BadRequest>(), "{err:#}");
    // Raw text still works, and EOS still comes from config.json.
    assert!(
        model
            .eos_token_ids
            .contains(&model.tokenizer.token_to_id("<|im_end|>").unwrap())
    );
    generate(&model, &Prompt::Text("hello".into()), &greedy(2), |_| true).unwrap();
}

#[test]
fn stop_sequences_end_generation_without_their_text() {
    let dir = checkpoint(Arch::Qwen2);
    let model = TextModel::load(dir.path(), &Device::Cpu).unwrap();
    let full = generate(&model, &chat("hello"), &greedy(40), |_| true).unwrap();
    // Stop on a piece of what greedy decoding produces anyway.
    let chars: Vec<char> = full.text.chars().collect();
    assert!(chars.len() > 6, "{:?}", full.text);
    let stop: String = chars[3..5].iter().collect();
    let mut params = greedy(40);
    params.stop = vec![stop.clone()];
    let mut streamed = String::new();
    let out = generate(&model, &chat("hello"), &params, |step| {
        if let Step::Token(t) = step {
            streamed.push_str(&t.text);
        }
        true
    })
    .unwrap();
    assert_eq!(out.finish_reason, Some(FinishReason::StopSequence));
    let at = full.text.find(&stop).unwrap();
    assert_eq!(out.text, full.text[..at]);
    assert_eq!(streamed, out.text);
}
