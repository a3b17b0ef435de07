"""HFRollout and score(): a tiny Qwen3.5 on real benchmark items (image, video, text).

The central check: the log-probs the rollout records while sampling equal the log-probs
`score` computes for the same tokens in one forward pass (greedy, and sampling at
temperature 1 / top-p 1 / top-k 0), which only holds when the prompt + completion
concatenation, the masks, `mm_token_type_ids` and the M-RoPE positions are all right.
"""

from __future__ import annotations

import pytest
import torch
from helpers import batch, logprobs

from mmzppo.data.vision import TINY_VISION
from mmzppo.policy.encoding import encode_prompts
from mmzppo.policy.generation.base import SamplingParams
from mmzppo.policy.generation.hf import HFRollout
from mmzppo.policy.loading import load_policy, suppressed_token_ids
from mmzppo.prompting.builders import plain, prefix

SHORT = SamplingParams(temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=10)
GREEDY = SamplingParams(temperature=0.0, max_new_tokens=10)


@pytest.fixture(scope="module")
def items(mixed_items):
    return mixed_items


def flat(groups):
    return [c for g in groups for c in g]


def assert_scores_match(policy, prompts, groups, atol):
    """Recorded log-probs == score() of the same tokens, completion by completion."""
    n = len(groups[0])
    completions = flat(groups)
    scored = logprobs(
        policy.model,
        policy.processor,
        policy.vision,
        [p for p in prompts for _ in range(n)],
        [c.token_ids for c in completions],
        with_grad=False,
    )
    for i, c in enumerate(completions):
        t = len(c.token_ids)
        assert scored.mask[i].sum() == t
        torch.testing.assert_close(scored.logprobs[i, :t], torch.tensor(c.logprobs), atol=atol, rtol=0)
    return scored


def test_groups_shapes_and_fields(tiny_xs, items):
    prompts = [plain(items["image"]), plain(items["text"])]
    groups = HFRollout(tiny_xs).generate(prompts, 3, SHORT)
    assert [len(g) for g in groups] == [3, 3]
    eos = tiny_xs.tokenizer.convert_tokens_to_ids("<|im_end|>")
    for c in flat(groups):
        assert 1 <= len(c.token_ids) == len(c.logprobs) <= SHORT.max_new_tokens
        assert all(lp <= 0.0 for lp in c.logprobs)
        assert c.finished == (c.token_ids[-1] == eos) and eos not in c.token_ids[:-1]
        assert c.text == tiny_xs.tokenizer.decode(c.token_ids, skip_special_tokens=True)
    image_tokens = batch(tiny_xs.processor, prompts[:1], tiny_xs.vision)["attention_mask"].sum()
    (encoded,) = encode_prompts(tiny_xs.processor, tiny_xs.vision, prompts[:1])
    assert encoded.length == int(image_tokens)  # the prompt's tokens, image tokens included


@pytest.mark.parametrize("sampling,n", [(GREEDY, 1), (SHORT, 2)], ids=["greedy", "temperature1"])
def test_recorded_logprobs_equal_score(tiny_xs, items, sampling, n):
    """Image, video, text and a continue_final prefix prompt, batched together."""
    prompts = [plain(items["image"]), plain(items["video"]), plain(items["text"])]
    prompts.append(prefix(items["text"], items["text"].solution, tiny_xs.tokenizer))
    torch.manual_seed(0)
    groups = HFRollout(tiny_xs).generate(prompts, n, sampling)
    assert_scores_match(tiny_xs, prompts, groups, atol=1e-4)


def test_greedy_is_deterministic_and_chunk_independent(tiny_xs, items):
    """Greedy: same tokens on every call and in every group member, whether the prompts
    share a left-padded batch or are generated one call at a time."""
    prompts = [plain(items["image"]), plain(items["text"])]
    batched = HFRollout(tiny_xs).generate(prompts, 2, GREEDY)
    one_by_one = HFRollout(tiny_xs, batch_size=1).generate(prompts, 2, GREEDY)
    for g, k in zip(batched, one_by_one):
        assert g[0].token_ids == g[1].token_ids == k[0].token_ids == k[1].token_ids
        torch.testing.assert_close(torch.tensor(g[0].logprobs), torch.tensor(k[0].logprobs), atol=1e-5, rtol=0)


def test_seeded_sampling_is_reproducible(tiny_xs, items):
    prompts = [plain(items["text"])]
    sampling = SamplingParams(max_new_tokens=6)

    def tokens(rollout):
        return [c.token_ids for c in flat(rollout.generate(prompts, 2, sampling))]

    torch.manual_seed(7)
    first = tokens(HFRollout(tiny_xs))
    torch.manual_seed(7)
    assert tokens(HFRollout(tiny_xs)) == first  # unseeded rollouts follow the global RNG
    a, b = HFRollout(tiny_xs, seed=1), HFRollout(tiny_xs, seed=1)
    a1, a2 = tokens(a), tokens(a)
    assert a1 != a2  # each call draws anew
    assert [tokens(b), tokens(b)] == [a1, a2]  # the same seed replays the same calls


def test_top_k_one_is_greedy(tiny_xs, items):
    """top_k reaches the sampler: top-k 1 sampling is greedy decoding, each token certain."""
    prompts = [plain(items["image"])]
    greedy = HFRollout(tiny_xs).generate(prompts, 1, GREEDY)[0][0]
    topk = HFRollout(tiny_xs).generate(prompts, 2, SamplingParams(temperature=1.3, top_k=1, max_new_tokens=10))[0]
    assert topk[0].token_ids == topk[1].token_ids == greedy.token_ids
    assert all(lp == 0.0 for lp in topk[0].logprobs)


def test_vision_control_tokens_never_sampled(tiny_xs_dir, items):
    """With the LM head biased towards the vision tokens they would be sampled; the rollout
    suppresses them, and its completions can be re-scored."""
    policy = load_policy(tiny_xs_dir, vision=TINY_VISION)
    head = policy.model.lm_head
    biased = torch.nn.Linear(head.in_features, head.out_features, bias=True)
    biased.weight.data.copy_(head.weight.data)
    biased.bias.data.zero_()
    banned = suppressed_token_ids(policy.tokenizer)
    biased.bias.data[banned] = 30.0
    policy.model.lm_head = biased
    prompts = [plain(items["image"])]
    groups = HFRollout(policy, seed=0).generate(prompts, 4, SHORT)
    sampled = torch.tensor([t for c in flat(groups) for t in c.token_ids])
    assert not torch.isin(sampled, torch.tensor(banned)).any()
    assert_scores_match(policy, prompts, groups, atol=1e-4)  # suppressed in score() too


def test_presence_penalty_changes_generation(tiny_xs, items):
    """A large penalty forbids repeats: greedy decoding then never reuses a token, and the
    recorded distribution (penalised) differs from the model's (what score() sees)."""
    prompts = [plain(items["text"])]
    long_greedy = SamplingParams(temperature=0.0, max_new_tokens=24)
    free = HFRollout(tiny_xs).generate(prompts, 1, long_greedy)[0][0]
    assert len(set(free.token_ids)) < len(free.token_ids)  # the untrained model repeats itself
    penalty = SamplingParams(temperature=0.0, max_new_tokens=24, presence_penalty=100.0)
    penalised = HFRollout(tiny_xs).generate(prompts, 1, penalty)[0][0]
    assert len(set(penalised.token_ids)) == len(penalised.token_ids)
    policy = tiny_xs
    plain_scores = logprobs(
        policy.model, policy.processor, policy.vision, prompts, [penalised.token_ids], with_grad=False
    )
    first_repeat_free = next(i for i, t in enumerate(free.token_ids) if t in free.token_ids[:i])
    assert penalised.token_ids[:first_repeat_free] == free.token_ids[:first_repeat_free]
    assert not torch.allclose(plain_scores.logprobs[0, 1:], torch.tensor(penalised.logprobs[1:]), atol=1e-3)


def test_continue_final_prefix_prompt(tiny_xs, items):
    """The prefix baseline's prompt ends inside the assistant turn, and the rollout continues it."""

    sample = items["text"]
    p = prefix(sample, sample.solution, tiny_xs.tokenizer)
    ids = batch(tiny_xs.processor, [p], tiny_xs.vision)["input_ids"][0].tolist()
    head = p.messages[-1]["content"][0]["text"]
    assert tiny_xs.tokenizer.decode(ids).rstrip().endswith(head.strip())  # no end-of-turn after the prefix
    (c,) = HFRollout(tiny_xs).generate([p], 1, GREEDY)[0]
    assert len(c.token_ids) > 0


def test_score_batched_equals_alone(tiny_xs, items):
    """Left-padded prompts of different lengths and media + right-padded completions of
    different lengths: each pair scored in the batch equals it scored alone (M-RoPE
    positions and masks), also with micro-batches."""
    prompts = [plain(items["image"]), plain(items["video"]), plain(items["text"]), plain(items["image"])]
    vocab = len(tiny_xs.tokenizer)
    g = torch.Generator().manual_seed(0)
    banned = set(suppressed_token_ids(tiny_xs.tokenizer))
    completions = []
    for length in (7, 3, 12, 1):
        ids = torch.randint(0, vocab, (length,), generator=g).tolist()
        completions.append([t if t not in banned else 0 for t in ids])
    model, proc, vision = tiny_xs.model, tiny_xs.processor, tiny_xs.vision
    batched = logprobs(model, proc, vision, prompts, completions, with_grad=False)
    assert batched.logprobs.shape == batched.mask.shape == batched.entropy.shape == (4, 12)
    assert batched.mask.sum(1).tolist() == [7, 3, 12, 1]
    micro = logprobs(model, proc, vision, prompts, completions, with_grad=False, micro_batch_size=3)
    torch.testing.assert_close(micro.logprobs, batched.logprobs, atol=1e-5, rtol=0)
    for i, (p, c) in enumerate(zip(prompts, completions)):
        alone = logprobs(model, proc, vision, [p], [c], with_grad=False)
        torch.testing.assert_close(batched.logprobs[i, : len(c)], alone.logprobs[0], atol=1e-5, rtol=0)
        torch.testing.assert_close(batched.entropy[i, : len(c)], alone.entropy[0], atol=1e-4, rtol=0)
    assert (batched.logprobs[~batched.mask] == 0).all() and (batched.entropy[batched.mask] > 0).all()


def test_score_gradients_reach_the_vision_tower(tiny_xs, items):
    model = tiny_xs.model
    model.zero_grad(set_to_none=True)
    prompts = [plain(items["image"])] * 2
    completions = [[10, 11, 12, 13], [20, 21]]
    scored = logprobs(model, tiny_xs.processor, tiny_xs.vision, prompts, completions, with_grad=True)
    assert scored.logprobs.requires_grad and not scored.entropy.requires_grad
    scored.logprobs.sum().backward()
    grads = [p.grad for p in model.model.visual.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    model.zero_grad(set_to_none=True)
    no_grad = logprobs(model, tiny_xs.processor, tiny_xs.vision, prompts, completions, with_grad=False)
    assert not no_grad.logprobs.requires_grad


def test_restores_training_mode(tiny_xs, items):
    tiny_xs.model.train()
    HFRollout(tiny_xs).generate([plain(items["text"])], 1, GREEDY)
    assert tiny_xs.model.training
    tiny_xs.model.eval()


def test_text_only_policy(tiny_xs_dir, tmp_path, items):
    """A text-only causal LM (tiny Llama on the tiny tokenizer) through load_policy: rollout,
    score equality, and media rejected."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from mmzppo.data.media import MediaError

    tok = AutoTokenizer.from_pretrained(tiny_xs_dir)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    policy = load_policy(tmp_path)
    assert policy.vision is None
    sample = items["text"]
    prompts = [plain(sample), prefix(sample, sample.solution, tok)]
    for sampling in (GREEDY, SHORT):
        groups = HFRollout(policy, seed=0).generate(prompts, 2, sampling)
        assert_scores_match(policy, prompts, groups, atol=1e-4)
    with pytest.raises(MediaError, match="text-only"):
        HFRollout(policy).generate([plain(items["image"])], 1, GREEDY)


def test_checkpoint_generation_config_does_not_leak(tiny_xs_dir, items):
    """A real checkpoint ships sampling defaults (Qwen3.5: top_k 20, top_p 0.95, ...);
    rollouts must sample exactly what SamplingParams says, so log-probs still match score()."""
    policy = load_policy(tiny_xs_dir, vision=TINY_VISION)
    cfg = policy.model.generation_config
    cfg.temperature, cfg.top_k, cfg.top_p, cfg.min_p, cfg.repetition_penalty = 0.3, 20, 0.5, 0.5, 1.3
    prompts = [plain(items["text"])]
    torch.manual_seed(0)
    groups = HFRollout(policy).generate(prompts, 2, SHORT)
    assert_scores_match(policy, prompts, groups, atol=1e-4)


def test_eos_ends_completions_of_different_lengths(tiny_xs_dir, items):
    """With EOS made likely, rows finish at different steps: each completion stops at its
    first EOS (the padding after it is dropped), is `finished`, and still re-scores exactly."""
    policy = load_policy(tiny_xs_dir, vision=TINY_VISION)
    eos = policy.tokenizer.convert_tokens_to_ids("<|im_end|>")
    head = policy.model.lm_head
    biased = torch.nn.Linear(head.in_features, head.out_features, bias=True)
    biased.weight.data.copy_(head.weight.data)
    biased.bias.data.zero_()
    biased.bias.data[eos] = 6.0
    policy.model.lm_head = biased
    prompts = [plain(items["image"]), plain(items["text"])]
    groups = HFRollout(policy, seed=0).generate(prompts, 4, SHORT)
    completions = flat(groups)
    assert any(c.finished for c in completions)
    assert len({len(c.token_ids) for c in completions}) > 1
    for c in completions:
        assert c.finished == (c.token_ids[-1] == eos) and eos not in c.token_ids[:-1]
        if c.finished:
            assert c.text == policy.tokenizer.decode(c.token_ids[:-1], skip_special_tokens=True)
    assert_scores_match(policy, prompts, groups, atol=1e-4)
