"""LoRA fine-tuning of a causal language model on chat examples, run by the
Kaiyuan inference worker (src/finetune/) in its own pinned environment.

    python train.py CONFIG.json

CONFIG.json: base_model (a local Hugging Face checkpoint directory),
train_file, validation_file (or null), output_dir, checkpoints_dir,
resume_dir (a checkpoint directory, or null), hyperparameters (n_epochs,
batch_size, learning_rate, seed, lora_r, lora_alpha, lora_dropout,
target_modules), max_length, checkpoint_every_steps, and optionally
progress_every_seconds and base_model_id/base_revision (what
adapter_config.json names as the base).

Stdout carries one JSON object per line and nothing else: `progress`,
`checkpoint` (after its files are written), `done` (the adapter is in
output_dir) or `error` (message, retryable). Everything else goes to
stderr. SIGTERM stops training after the current step without saving, with
exit status 3.
"""

import json
import math
import os
import random
import shutil
import signal
import sys
import time

# Local files only: a trainer never reaches the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CANCELLED_EXIT = 3
STATE_FILE = "training_state.pt"
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "added_tokens.json",
)


class TrainError(Exception):
    """A failure reported on stdout; `retryable`: another attempt (another
    machine) may succeed, so it is not the request's fault."""

    def __init__(self, message, retryable):
        super().__init__(message)
        self.retryable = retryable


def emit(event, **fields):
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def log(message):
    print(message, file=sys.stderr, flush=True)


stop_requested = False


def on_sigterm(_signum, _frame):
    global stop_requested
    stop_requested = True


def stop_if_asked():
    if stop_requested:
        log("stopped (SIGTERM); nothing saved")
        sys.exit(CANCELLED_EXIT)


def read_examples(path):
    examples = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                messages = json.loads(line)["messages"]
                for m in messages:
                    m["role"], m["content"]  # noqa: B018 (both must be there)
            except (ValueError, KeyError, TypeError) as e:
                raise TrainError(f"{os.path.basename(path)} line {n}: not a chat example ({e})", False)
            examples.append(messages)
    return examples


def tokenize(tokenizer, messages, max_length):
    """Token ids and labels of one conversation: labels are the ids on the
    tokens of assistant messages whose weight is not 0, -100 elsewhere.

    An assistant message's span is found in the rendered text, between the
    conversation before it (with the generation prompt) and the
    conversation through it; tokens are mapped to it by their offsets."""
    plain = [{"role": m["role"], "content": m["content"]} for m in messages]

    def render(upto, generation_prompt):
        return tokenizer.apply_chat_template(
            plain[:upto], tokenize=False, add_generation_prompt=generation_prompt
        )

    try:
        text = render(len(plain), False)
        spans = []
        for i, m in enumerate(messages):
            if m["role"] != "assistant" or m.get("weight", 1) == 0:
                continue
            before, through = render(i, True), render(i + 1, False)
            if not (text.startswith(before) and text.startswith(through)):
                raise TrainError(
                    "the chat template does not render a conversation as the sum of its turns", False
                )
            spans.append((len(before), len(through)))
    except TrainError:
        raise
    except Exception as e:  # the template's own errors (roles it refuses)
        raise TrainError(f"the chat template cannot render an example: {e}", False)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = encoded["input_ids"][:max_length]
    offsets = encoded["offset_mapping"][:max_length]
    labels = [
        token if any(start <= begin < end for start, end in spans) else -100
        for token, (begin, _) in zip(ids, offsets)
    ]
    return ids, labels


class Batches:
    """The examples in batches, shuffled per epoch by (seed, epoch) alone,
    so a resumed run sees the same batches from any step."""

    def __init__(self, examples, batch_size, seed):
        self.examples = examples
        self.batch_size = batch_size
        self.seed = seed
        self.per_epoch = math.ceil(len(examples) / batch_size)

    def epoch(self, epoch):
        order = list(range(len(self.examples)))
        random.Random(self.seed * 1_000_003 + epoch).shuffle(order)
        for start in range(0, len(order), self.batch_size):
            yield [self.examples[i] for i in order[start : start + self.batch_size]]


def collate(batch, pad_id, device):
    import torch

    width = max(len(ids) for ids, _ in batch)
    input_ids, labels, mask = [], [], []
    for ids, lab in batch:
        pad = width - len(ids)
        input_ids.append(ids + [pad_id] * pad)
        labels.append(lab + [-100] * pad)
        mask.append([1] * len(ids) + [0] * pad)
    as_tensor = lambda rows: torch.tensor(rows, dtype=torch.long, device=device)  # noqa: E731
    return as_tensor(input_ids), as_tensor(labels), as_tensor(mask)


def batch_loss(model, batch, pad_id, device):
    """Mean cross-entropy over the batch's trained tokens, and their count."""
    import torch

    input_ids, labels, mask = collate(batch, pad_id, device)
    logits = model(input_ids=input_ids, attention_mask=mask).logits.float()
    targets = labels[:, 1:]
    n = int((targets != -100).sum())
    loss = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=-100,
        reduction="sum",
    )
    return loss / max(n, 1), n


def validation_loss(model, examples, batch_size, pad_id, device):
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(examples), batch_size):
            loss, n = batch_loss(model, examples[start : start + batch_size], pad_id, device)
            total += float(loss) * n
            count += n
    model.train()
    return total / count if count else None


def listing(directory):
    return sorted(f for f in os.listdir(directory) if os.path.isfile(os.path.join(directory, f)))


def save_adapter(model, directory):
    os.makedirs(directory, exist_ok=True)
    model.save_pretrained(directory)
    # PEFT writes a model card; the hub writes its own.
    readme = os.path.join(directory, "README.md")
    if os.path.exists(readme):
        os.remove(readme)


def finite(value, what):
    if value is not None and not math.isfinite(value):
        raise TrainError(f"the {what} is {value}: training diverged (try a lower learning rate)", False)
    return value


def train(config):
    import torch
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hp = config["hyperparameters"]
    seed = int(hp["seed"])
    random.seed(seed)
    torch.manual_seed(seed)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32

    base = config["base_model"]
    tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
    max_length = int(config["max_length"])

    def load(path):
        examples = []
        for messages in read_examples(path):
            ids, labels = tokenize(tokenizer, messages, max_length)
            if any(label != -100 for label in labels[1:]):
                examples.append((ids, labels))
        return examples

    train_examples = load(config["train_file"])
    if not train_examples:
        raise TrainError("no example has assistant tokens to train on", False)
    valid_examples = load(config["validation_file"]) if config.get("validation_file") else []

    model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype, local_files_only=True).to(device)
    targets = hp["target_modules"]
    lora = LoraConfig(
        r=int(hp["lora_r"]),
        lora_alpha=hp["lora_alpha"],
        lora_dropout=hp["lora_dropout"],
        target_modules="all-linear" if targets == ["all-linear"] else targets,
        task_type="CAUSAL_LM",
    )
    try:
        model = get_peft_model(model, lora)
    except ValueError as e:  # target modules the model does not have
        raise TrainError(f"cannot apply LoRA: {e}", False)
    # adapter_config.json names the base as the hub knows it, not as a
    # local directory that exists only on this machine.
    if config.get("base_model_id"):
        model.peft_config["default"].base_model_name_or_path = config["base_model_id"]
        model.peft_config["default"].revision = config.get("base_revision")
    model.train()

    batch_size = int(hp["batch_size"])
    batches = Batches(train_examples, batch_size, seed)
    total_steps = batches.per_epoch * int(hp["n_epochs"])
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=hp["learning_rate"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: max(0.0, 1.0 - s / total_steps)
    )

    step, trained_tokens = 0, 0
    resume = config.get("resume_dir")
    if resume:
        set_peft_model_state_dict(model, load_file(os.path.join(resume, "adapter_model.safetensors")))
        state = torch.load(os.path.join(resume, STATE_FILE), map_location="cpu", weights_only=True)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        if cuda and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"])
        step, trained_tokens = int(state["step"]), int(state["trained_tokens"])
        log(f"resuming at step {step} of {total_steps}")

    def checkpoint(train_loss, valid_loss):
        directory = os.path.join(config["checkpoints_dir"], str(step))
        save_adapter(model, directory)
        state = {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": torch.get_rng_state(),
            "step": step,
            "trained_tokens": trained_tokens,
        }
        if cuda:
            state["cuda_rng"] = torch.cuda.get_rng_state()
        torch.save(state, os.path.join(directory, STATE_FILE))
        fields = {"step": step, "dir": os.path.abspath(directory), "files": listing(directory)}
        fields["train_loss"] = train_loss
        if valid_loss is not None:
            fields["valid_loss"] = valid_loss
        emit("checkpoint", **fields)

    every = int(config["checkpoint_every_steps"])
    report_every = float(config.get("progress_every_seconds", 2.0))
    last_report, window_tokens, window_losses = time.monotonic(), 0, []
    for epoch in range(step // batches.per_epoch, int(hp["n_epochs"])):
        for index, batch in enumerate(batches.epoch(epoch)):
            if epoch * batches.per_epoch + index < step:
                continue  # done by an earlier attempt
            loss, _ = batch_loss(model, batch, pad_id, device)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            tokens = sum(len(ids) for ids, _ in batch)
            trained_tokens += tokens
            window_tokens += tokens
            window_losses.append(finite(float(loss.detach()), "training loss"))
            stop_if_asked()

            end_of_epoch = index == batches.per_epoch - 1
            save = step < total_steps and (step % every == 0 or end_of_epoch)
            valid_loss = None
            if (save or step == total_steps) and valid_examples:
                valid_loss = finite(
                    validation_loss(model, valid_examples, batch_size, pad_id, device), "validation loss"
                )
            now = time.monotonic()
            if save or step == total_steps or valid_loss is not None or now - last_report >= report_every:
                train_loss = sum(window_losses) / len(window_losses)
                progress = {
                    "step": step,
                    "total_steps": total_steps,
                    "epoch": step / batches.per_epoch,
                    "train_loss": train_loss,
                    "learning_rate": scheduler.get_last_lr()[0],
                    "tokens_per_second": window_tokens / max(now - last_report, 1e-6),
                    "trained_tokens": trained_tokens,
                }
                if valid_loss is not None:
                    progress["valid_loss"] = valid_loss
                emit("progress", **progress)
                last_report, window_tokens, window_losses = now, 0, []
                if save:
                    checkpoint(train_loss, valid_loss)
                    stop_if_asked()

    out = config["output_dir"]
    save_adapter(model, out)
    for name in TOKENIZER_FILES:
        if os.path.isfile(os.path.join(base, name)):
            shutil.copyfile(os.path.join(base, name), os.path.join(out, name))
    emit("done", files=listing(out), trained_tokens=trained_tokens, steps=step)


def main():
    signal.signal(signal.SIGTERM, on_sigterm)
    if len(sys.argv) != 2:
        emit("error", message="usage: train.py CONFIG.json", retryable=False)
        return 2
    try:
        with open(sys.argv[1], encoding="utf-8") as f:
            config = json.load(f)
        train(config)
    except TrainError as e:
        emit("error", message=str(e), retryable=e.retryable)
        return 1
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 (reported, then the traceback on stderr)
        import traceback

        traceback.print_exc()
        out_of_memory = "out of memory" in str(e).lower()
        message = "out of memory" if out_of_memory else f"{type(e).__name__}: {e}"
        emit("error", message=message, retryable=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
