"""TRL's side of benchmarks/throughput.py: a `GRPOTrainer` that takes one rollout step per request.

Runs in its own environment (TRL is no dependency of mmzppo, and mmzppo is not importable
here): `python benchmarks/_trl_worker.py SPEC.json`, where the spec (written by
throughput.py) names the tiny model folder, the exact prompt strings mmzppo renders, and
every setting. Protocol on stdin/stdout, one JSON object a line: the worker prints
{"ready": ...} once the trainer is built; then, for every line "step" it reads, it takes one
rollout step (one generation batch of prompts x group completions and its updates) and
prints {"time": s, "generate_s": s, "prompt_ids": [...], "completion_lengths": [...]}, so
that the caller can check token for token what TRL generated from. Timed from the trainer's
on_step_begin of the step's first optimizer update to on_step_end of its last; the
generation batch is drawn (prompt strings only) just before.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time


def main() -> None:
    spec = json.loads(open(sys.argv[1]).read())
    import torch

    torch.set_num_threads(spec["threads"])
    from datasets import Dataset
    from transformers import AutoModelForImageTextToText, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    tokens, group, micro, updates = spec["tokens"], spec["group_size"], spec["micro_batch_size"], spec["updates"]
    per_generation = len(spec["prompts"]) * group  # completions per generation batch
    if per_generation % (updates * micro):
        raise SystemExit(
            f"{per_generation} completions do not split into {updates} updates of micro-batches of {micro}"
        )
    steps_per_generation = per_generation // micro
    accumulation = steps_per_generation // updates

    class Gate(TrainerCallback):
        """Waits for "step" before each rollout step's first update; reports after its last."""

        def __init__(self):
            self.start = None

        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step % updates == 0:
                line = sys.stdin.readline().strip()
                if line != "step":
                    raise SystemExit(0)  # the caller is done (EOF or "stop")
                trainer.generate_s = 0.0
                self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step % updates == 0:
                row = {"time": time.perf_counter() - self.start, "generate_s": trainer.generate_s, **trainer.seen}
                print(json.dumps(row), flush=True)

    class Recording(GRPOTrainer):
        """GRPOTrainer that records what it generated from (prompt ids, completion lengths)."""

        def _generate_and_score_completions(self, inputs):
            start = time.perf_counter()
            out = super()._generate_and_score_completions(inputs)
            self.generate_s += time.perf_counter() - start
            ids = [row[mask.bool()].tolist() for row, mask in zip(out["prompt_ids"], out["prompt_mask"])]
            self.seen = {
                "prompt_ids": sorted({tuple(i) for i in ids}),
                "completion_lengths": sorted(set(out["completion_mask"].sum(1).tolist())),
            }
            return out

    model = AutoModelForImageTextToText.from_pretrained(spec["model"], dtype=torch.float32, attn_implementation="sdpa")
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    tokenizer.padding_side = "left"

    def reward(completions, **kwargs):  # cheap and varied (mmzppo grades against the gold; as cheap here)
        return [float(len(set(c)) % 2) for c in completions]

    with tempfile.TemporaryDirectory() as out:
        config = GRPOConfig(
            output_dir=out,
            max_steps=spec["steps"] * updates,
            learning_rate=spec["lr"],
            lr_scheduler_type="constant",
            warmup_steps=0,
            weight_decay=spec["weight_decay"],
            adam_beta1=spec["betas"][0],
            adam_beta2=spec["betas"][1],
            max_grad_norm=spec["grad_clip"],
            per_device_train_batch_size=micro,
            gradient_accumulation_steps=accumulation,
            steps_per_generation=steps_per_generation,
            num_generations=group,
            max_completion_length=tokens,
            temperature=1.0,
            top_p=1.0,
            top_k=0,
            beta=0.0,
            epsilon=spec["eps_low"],
            epsilon_high=spec["eps_high"],
            generation_kwargs={"min_new_tokens": tokens, "suppress_tokens": spec["suppress_tokens"]},
            bf16=False,
            fp16=False,
            gradient_checkpointing=False,
            use_cpu=True,
            seed=spec["seed"],
            logging_steps=10**9,
            save_strategy="no",
            report_to=[],
            disable_tqdm=True,
            dataloader_num_workers=0,
            log_completions=False,
        )
        data = Dataset.from_dict({"prompt": spec["prompts"]})
        trainer = Recording(
            model=model,
            reward_funcs=reward,
            args=config,
            train_dataset=data,
            processing_class=tokenizer,
            callbacks=[Gate()],
        )
        trainer.generate_s, trainer.seen = 0.0, {}
        import transformers
        import trl

        settings = {
            "trl": trl.__version__,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "per_device_train_batch_size": micro,
            "gradient_accumulation_steps": accumulation,
            "steps_per_generation": steps_per_generation,
            "loss_type": config.loss_type,
            "scale_rewards": config.scale_rewards,
            "old_logprobs_pass": accumulation % steps_per_generation != 0,
        }
        print(json.dumps({"ready": settings}), flush=True)
        trainer.train()


if __name__ == "__main__":
    main()
