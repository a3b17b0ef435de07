"""The algorithms as pure functions, each module a page of the paper (arXiv:2606.18216).

`advantages` (Eqs. 2-3), `ppo` (Eqs. 4-6), `divergences` (the distillation baselines' JSD),
`selection` (Algorithm 1 steps 3-6: hard questions, caps, the BCQ/NCQ plan),
`reformulation` (step 6's prompts), `guidance` (what a hint may say). Functions of tensors,
samples and text: nothing here loads, runs or knows a model, so every equation is tested
alone in `tests/unit`.
"""
