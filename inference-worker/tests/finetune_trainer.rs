//! The real trainer (trainer/train.py, PyTorch and PEFT in the pinned
//! environment the worker builds) run through the worker's runner on a tiny
//! random Qwen2: the loss falls, a resumed run goes on where its checkpoint
//! was, cancellation stops it, and the adapter served merged by the worker
//! generates what transformers + PEFT generate with it.
//!
//! The environment is `HUB_TEST_TRAINER_ENVS` (tests/run builds it), else
//! built once under `$CARGO_TARGET_DIR/trainer-envs`
//! (`target/trainer-envs` without it): minutes the first time. Under
//! CI=true a failure to build it fails the tests; elsewhere they are
//! skipped with a message.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use candle_core::Device;
use inference_worker::TextModel;
use inference_worker::finetune::{Outcome, Report, TrainerConfig, TrainerEnv, env, trainer};
use inference_worker::generation::prompt_tokens;
use inference_worker::sampling::argmax;
use inference_worker::spaces::LogSink;
use inference_worker::testing::{Arch, Spec, write_checkpoint};
use serde_json::json;
use tokio::sync::mpsc;
use worker_protocol::{ChatMessage, LogStream, Prompt, TrainHyperparameters, TrainProgress};

fn trainer_env() -> Option<TrainerEnv> {
    // Where tests/run builds it, else under the target dir.
    let envs = std::env::var_os("HUB_TEST_TRAINER_ENVS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
                .join("trainer-envs")
        });
    match env::ensure(&envs, "python3") {
        Ok(env) => Some(env),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("the trainer environment cannot be built: {e:#}")
        }
        Err(e) => {
            eprintln!("skipped: the trainer environment cannot be built here: {e:#}");
            None
        }
    }
}

const WORDS: &[&str] = &["hello", "world", "red", "blue", "green", "你好"];

/// 50 chat examples ("say X" → "X X X"), some with a system message, some
/// with an earlier assistant turn of weight 0.
fn write_examples(path: &Path, n: usize, offset: usize) {
    let mut lines = String::new();
    for i in offset..offset + n {
        let word = WORDS[i % WORDS.len()];
        let mut messages = vec![];
        if i % 3 == 0 {
            messages.push(json!({"role": "system", "content": "Repeat."}));
        }
        if i % 4 == 0 {
            messages.push(json!({"role": "user", "content": "hi"}));
            messages.push(json!({"role": "assistant", "content": "the world", "weight": 0}));
        }
        messages.push(json!({"role": "user", "content": format!("say {word}")}));
        messages.push(json!({"role": "assistant", "content": format!("{word} {word} {word}")}));
        lines.push_str(&json!({ "messages": messages }).to_string());
        lines.push('\n');
    }
    std::fs::write(path, lines).unwrap();
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        write_checkpoint(&dir.path().join("base"), &Spec::tiny(Arch::Qwen2)).unwrap();
        write_examples(&dir.path().join("train.jsonl"), 50, 0);
        write_examples(&dir.path().join("validation.jsonl"), 10, 50);
        Fixture { dir }
    }

    fn base(&self) -> PathBuf {
        self.dir.path().join("base")
    }

    /// A configuration whose outputs go under `name`/.
    fn config(&self, name: &str, resume_dir: Option<PathBuf>) -> TrainerConfig {
        let root = self.dir.path();
        let work = root.join(name);
        std::fs::create_dir_all(&work).unwrap();
        TrainerConfig {
            base_model: self.base(),
            train_file: root.join("train.jsonl"),
            validation_file: Some(root.join("validation.jsonl")),
            output_dir: work.join("output"),
            checkpoints_dir: work.join("checkpoints"),
            resume_dir,
            hyperparameters: TrainHyperparameters {
                n_epochs: 3,
                batch_size: 4,
                // High for a real model; what makes this tiny one learn.
                learning_rate: 1e-2,
                seed: 7,
                lora_r: 8,
                lora_alpha: 16.0,
                lora_dropout: 0.05,
                target_modules: vec!["all-linear".into()],
            },
            max_length: 64,
            checkpoint_every_steps: 5,
            progress_every_seconds: Some(0.0),
            base_model_id: None,
            base_revision: None,
        }
    }
}

#[derive(Default)]
struct Run {
    /// Progress by step (one report per step here).
    progress: BTreeMap<u64, TrainProgress>,
    checkpoints: Vec<(u64, PathBuf, Vec<String>)>,
    outcome: Option<Outcome>,
    /// From setting the cancel flag to the runner's return.
    stopping: Option<Duration>,
}

/// Runs the trainer through the worker's runner; `stop_after` sets the
/// cancel flag once that step is reported.
async fn train(env: &TrainerEnv, config: &TrainerConfig, stop_after: Option<u64>) -> Run {
    let (events, _rx) = mpsc::unbounded_channel();
    let cancel = Arc::new(AtomicBool::new(false));
    let logs = LogSink::new(events, LogStream::Train, &[], cancel.clone());
    let mut run = Run::default();
    let mut cancelled_at = None;
    let work = config.output_dir.parent().unwrap();
    let outcome = trainer::run(env, config, work, logs, &cancel, |report| {
        match report {
            Report::Progress(p) => {
                if stop_after.is_some_and(|s| p.step >= s) && cancelled_at.is_none() {
                    cancel.store(true, Ordering::SeqCst);
                    cancelled_at = Some(Instant::now());
                }
                run.progress.insert(p.step, p);
            }
            Report::Checkpoint {
                step, dir, files, ..
            } => run.checkpoints.push((step, dir, files)),
            other => panic!("not passed on: {other:?}"),
        }
        Box::pin(std::future::ready(Ok(())))
    })
    .await
    .unwrap();
    run.outcome = Some(outcome);
    run.stopping = cancelled_at.map(|t: Instant| t.elapsed());
    run
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let values: Vec<f64> = values.collect();
    values.iter().sum::<f64>() / values.len() as f64
}

/// Greedy decoding over the whole vocabulary, with the KV cache.
fn greedy(model: &TextModel, prompt: &[u32], n: usize) -> Vec<u32> {
    let mut lm = model.session().unwrap();
    let mut logits = lm.forward(prompt, 0).unwrap();
    let mut out = vec![];
    for i in 0..n {
        let next = argmax(&logits);
        out.push(next);
        logits = lm.forward(&[next], prompt.len() + i).unwrap();
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lora_fine_tune_learns_resumes_and_is_served_as_peft_serves_it() {
    let Some(env) = trainer_env() else { return };
    let fixture = Fixture::new();

    // The whole run: 13 steps an epoch, 3 epochs.
    let full = train(&env, &fixture.config("full", None), None).await;
    let Some(Outcome::Done {
        files,
        trained_tokens,
        steps,
    }) = full.outcome.clone()
    else {
        panic!("{:?}", full.outcome);
    };
    assert_eq!(steps, 39);
    assert_eq!(
        full.progress.keys().copied().collect::<Vec<_>>(),
        (1..=39).collect::<Vec<_>>()
    );
    let last = &full.progress[&39];
    assert_eq!(
        (last.total_steps, last.trained_tokens),
        (39, trained_tokens)
    );
    assert!(
        full.progress
            .values()
            .zip(full.progress.values().skip(1))
            .all(|(a, b)| a.trained_tokens < b.trained_tokens)
    );
    let loss = |range: std::ops::RangeInclusive<u64>| {
        mean(range.map(|s| full.progress[&s].train_loss.unwrap()))
    };
    let (first, final_) = (loss(1..=3), loss(37..=39));
    assert!(
        final_ < 0.5 * first,
        "the loss did not fall: {first} → {final_}"
    );
    let first_valid = full.progress[&5].valid_loss.unwrap();
    assert!(
        last.valid_loss.unwrap() < 0.7 * first_valid,
        "{first_valid} → {:?}",
        last.valid_loss
    );
    // Every 5 steps and at each epoch's end (13, 26), but not at the end.
    let saved: Vec<u64> = full.checkpoints.iter().map(|c| c.0).collect();
    assert_eq!(saved, [5, 10, 13, 15, 20, 25, 26, 30, 35]);
    for name in [
        "adapter_config.json",
        "adapter_model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        assert!(files.iter().any(|f| f == name), "{name} not in {files:?}");
    }
    let output = fixture.dir.path().join("full/output");
    let tensors =
        candle_core::safetensors::load(output.join("adapter_model.safetensors"), &Device::Cpu)
            .unwrap();
    assert!(tensors.contains_key("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"));
    assert!(tensors.contains_key("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"));
    for name in tensors.keys() {
        assert!(
            name.starts_with("base_model.model.model.layers.")
                && (name.ends_with(".lora_A.weight") || name.ends_with(".lora_B.weight")),
            "{name}"
        );
    }

    // Resumed from step 10 (another attempt): it goes on at 11 with the
    // losses the whole run had, dropout included.
    let (_, checkpoint, checkpoint_files) = full.checkpoints.iter().find(|c| c.0 == 10).unwrap();
    assert!(checkpoint_files.contains(&"training_state.pt".to_string()));
    let resumed = train(
        &env,
        &fixture.config("resumed", Some(checkpoint.clone())),
        None,
    )
    .await;
    assert_eq!(resumed.progress.keys().next(), Some(&11));
    for (step, p) in &resumed.progress {
        let whole = &full.progress[step];
        let (a, b) = (p.train_loss.unwrap(), whole.train_loss.unwrap());
        assert!(
            (a - b).abs() < 1e-3 * b.abs().max(1.0),
            "step {step}: {a} resumed, {b} whole"
        );
        assert_eq!(p.trained_tokens, whole.trained_tokens, "step {step}");
    }
    assert!(
        matches!(resumed.outcome, Some(Outcome::Done { steps: 39, trained_tokens: t, .. }) if t == trained_tokens)
    );

    // Served: the base with the adapter merged in, by the worker's loader.
    let device = Device::Cpu;
    let merged = TextModel::load_with_adapter(&fixture.base(), &output, &device).unwrap();
    let base = TextModel::load(&fixture.base(), &device).unwrap();
    let chat = Prompt::Chat(vec![ChatMessage {
        role: "user".into(),
        content: "say blue".into(),
    }]);
    let prompt = prompt_tokens(&merged, &chat).unwrap();
    let ours = greedy(&merged, &prompt, 16);
    assert_ne!(
        ours,
        greedy(&base, &prompt, 16),
        "the adapter changed nothing"
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("trainer/tests/peft_generate.py");
    let out = std::process::Command::new(env.python())
        .arg(script)
        .arg(fixture.base())
        .arg(&output)
        .arg(serde_json::to_string(&prompt).unwrap())
        .arg("16")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peft: Vec<u32> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ours, peft, "merged by the worker vs transformers + PEFT");
    // It learnt the examples' shape ("X X X"; too few steps for which X).
    let text = merged.tokenizer.decode(&ours, false).unwrap();
    assert!(
        WORDS
            .iter()
            .any(|w| text.starts_with(&format!("{w} {w} {w}"))),
        "{text:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_fine_tune_stops_after_its_step_and_saves_nothing() {
    let Some(env) = trainer_env() else { return };
    let fixture = Fixture::new();
    let config = fixture.config("cancelled", None);
    let run = train(&env, &config, Some(2)).await;
    assert_eq!(run.outcome, Some(Outcome::Cancelled));
    // SIGTERM is honoured after the step under way (no SIGKILL needed),
    // and nothing is written.
    let last = *run.progress.keys().last().unwrap();
    assert!(last <= 4, "went on to step {last}");
    let stopping = run.stopping.unwrap();
    assert!(stopping < trainer::KILL_AFTER, "{stopping:?}");
    assert!(run.checkpoints.is_empty());
    assert!(!config.output_dir.exists());
    assert!(!config.checkpoints_dir.exists());
}

/// `--trainer`: the worker offers fine-tune jobs for the architectures the
/// trainer handles (its environment is built on the first job, not here).
#[test]
fn a_trainer_worker_offers_fine_tuning_of_its_architectures() {
    use inference_worker::finetune::FineTuneConfig;
    use inference_worker::worker::{Worker, WorkerConfig};
    use worker_protocol::Task;
    let dir = tempfile::tempdir().unwrap();
    let worker = Worker::new(WorkerConfig {
        hub: "http://127.0.0.1:9".into(),
        token: "t".into(),
        device: "cpu".into(),
        cache_dir: dir.path().to_path_buf(),
        memory_budget: Some(1 << 30),
        disk_budget: 1 << 30,
        max_concurrent_jobs: 1,
        batch: Default::default(),
        tasks: vec![Task::TextGeneration, Task::FineTune],
        spaces: None,
        trainer: Some(FineTuneConfig {
            envs: dir.path().join("envs"),
            python: "python3".into(),
            work: dir.path().join("finetune"),
        }),
    })
    .unwrap();
    let caps = worker.capabilities();
    assert_eq!(caps.tasks, [Task::TextGeneration, Task::FineTune]);
    for arch in [
        "train:qwen2",
        "train:qwen3",
        "train:llama",
        "train:mistral",
        "qwen2",
    ] {
        assert!(
            caps.architectures.iter().any(|a| a == arch),
            "{arch}: {:?}",
            caps.architectures
        );
    }
    assert!(!dir.path().join("envs").exists());
}
