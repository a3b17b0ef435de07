"""The model side: loading a policy, encoding prompts, log-probs, generation, parallelism.

`loading` (a checkpoint and its processor), `encoding` (a `Prompt` into model inputs, once per
step), `logprobs` (the log pi(token) every loss reads), `generation/` (sampling backends:
transformers `hf` and a colocated `vllm` engine), `parallel` (replicated or FSDP2 over
ranks), `threads` (torch threads for a command-line run). Knows nothing of methods, teachers
or configs: callers pass the few values a function needs.
"""
