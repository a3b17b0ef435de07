"""The prompt replay buffer: admit, graduate, evict, replay, save/load."""

from __future__ import annotations

import pickle

from mmzppo.data import Sample
from mmzppo.train.buffer import ReplayBuffer


def samples(*uids):
    return {u: Sample(uid=u, question=f"q {u}", answer="1") for u in uids}


def test_admit_graduate_evict_sequence():
    buf = ReplayBuffer(capacity=2)
    s = samples("a", "b", "c", "d")
    c = buf.update({"a": 0.0, "b": 0.5, "c": 0.375}, s, step=0)  # b is not hard
    assert list(buf.entries) == ["a", "c"] and c == {"admitted": 2}
    c = buf.update({"a": 0.25, "c": 0.5}, s, step=1)  # a stays (still hard), c graduates
    assert list(buf.entries) == ["a"] and c == {"graduated": 1}
    assert buf.graduated_by_entry == {"0.38": 1}  # c entered at 3/8
    c = buf.update({"b": 0.0, "d": 0.125}, s, step=2)  # over capacity: FIFO evicts the oldest (a)
    assert list(buf.entries) == ["b", "d"] and c == {"admitted": 2, "evicted": 1}
    assert buf.counts == {"admitted": 4, "graduated": 1, "evicted": 1}


def test_replay_is_uniform_without_replacement():
    buf = ReplayBuffer(capacity=100, seed=1)
    s = samples(*[f"q{i}" for i in range(10)])
    buf.update({u: 0.0 for u in s}, s, step=0)
    draw = buf.sample_replay(4)
    assert len({x.uid for x in draw}) == 4
    assert len(buf.sample_replay(50)) == 10  # never more than the buffer holds
    hits = {u: 0 for u in s}
    for _ in range(2000):
        for x in buf.sample_replay(2):
            hits[x.uid] += 1
    assert min(hits.values()) > 300 and max(hits.values()) < 500  # ~400 each


def test_replay_fraction_of_a_batch():
    from mmzppo.core.selection import slots

    assert slots(0.25, 384) == 96  # |X_replay| = rho_replay * |X_new|


def test_save_load_equality():
    buf = ReplayBuffer(capacity=3, seed=5)
    s = samples("a", "b", "c", "d")
    buf.update({"a": 0.0, "b": 0.1, "c": 0.2, "d": 0.3}, s, step=4)
    buf.update({"b": 0.9}, s, step=5)
    state = pickle.loads(pickle.dumps(buf.state_dict()))
    again = ReplayBuffer(capacity=1)
    again.load_state_dict(state)
    assert list(again.entries) == list(buf.entries) and again.counts == buf.counts
    assert again.graduated_by_entry == buf.graduated_by_entry
    assert [x.uid for x in again.sample_replay(2)] == [x.uid for x in buf.sample_replay(2)]  # same RNG state


def test_admitted_and_graduated_per_entry_bin_split_by_reformulation():
    """The paper's mechanism numbers: of the questions admitted at 0/8, how many graduated, for
    those that got a BCQ/NCQ while buffered and for those that did not; kept across save/load."""
    buf = ReplayBuffer(capacity=3)
    s = samples("a", "b", "c", "d", "e", "f")
    buf.update({"a": 0.0, "b": 0.0, "c": 0.125}, s, step=0)
    buf.mark_reformulated(["a", "c", "not-buffered"])  # a, c got a reformulated prompt this step
    buf.update({"a": 0.5, "b": 0.625, "d": 0.0}, s, step=1)  # a and b graduate
    state = pickle.loads(pickle.dumps(buf.state_dict()))
    buf.update({"e": 0.25, "f": 0.0}, s, step=2)  # c (oldest) is evicted
    assert buf.by_entry() == {
        "0.00/reformulated/admitted": 1,
        "0.00/reformulated/graduated": 1,
        "0.00/plain/admitted": 3,  # b (graduated), d and f (buffered)
        "0.00/plain/graduated": 1,
        "0.12/reformulated/admitted": 1,  # c, evicted
        "0.25/plain/admitted": 1,
    }
    again = ReplayBuffer()
    again.load_state_dict(state)
    assert again.by_entry() == {
        "0.00/reformulated/admitted": 1,
        "0.00/reformulated/graduated": 1,
        "0.00/plain/admitted": 2,
        "0.00/plain/graduated": 1,
        "0.12/reformulated/admitted": 1,
    }
