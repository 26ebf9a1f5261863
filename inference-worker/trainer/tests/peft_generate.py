"""The reference for the worker's merged adapters: transformers + PEFT
greedy decoding (the adapter applied as PEFT applies it, unmerged).

    python peft_generate.py BASE_DIR ADAPTER_DIR PROMPT_IDS_JSON N

Prints the N token ids that follow the prompt, as a JSON list: greedy, at
each step the largest logit over the whole vocabulary (end of sequence or
not, so that nothing but the weights decides).
"""

import json
import os
import sys

os.environ["HF_HUB_OFFLINE"] = "1"

import torch  # noqa: E402
from peft import PeftModel  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402


def main():
    base, adapter, prompt, n = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32, local_files_only=True)
    model = PeftModel.from_pretrained(model, adapter).eval()
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(n):
            logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
            ids.append(int(torch.argmax(logits)))
    print(json.dumps(ids[len(prompt) :]))


if __name__ == "__main__":
    main()
