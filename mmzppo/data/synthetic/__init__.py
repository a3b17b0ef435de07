"""The built-in synthetic task suite: verifiable image, video and text questions from a seed.

Every item is a `Sample` with a gold answer, a short worked solution ending in
``\\boxed{answer}`` (what a reference teacher or a warm-up reads), `source` = task name and
`meta` = {"task", "level", "split", "modality", "seed", "index", "content_hash", "scene"}.
`scene` is the item's ground truth as plain data (positions, colours, heights, frames), so
an item can be inspected or re-checked without looking at its pixels.

Images are PIL-drawn PNGs (64..128 px, no anti-aliasing, so colours are exact); videos are
real mp4 files (PyAV, libx264, yuv420p, even sizes, 4..8 frames); digits and labels use
PIL's built-in bitmap font, so nothing is read from outside the package.

Levels 1..5 (what grows with the level; level 1 should be easy for a small student and
level 5 hard):

- count_color (image, number): grid 3x3 .. 7x7; up to 3 .. 9 targets; 0-2 .. 10-18
  distractors, which from level 3 share the target's colour or its shape.
- bar_compare (image, choice or number): 2, 3, 4, 5, 5 bars; heights up to 5 .. 9; margin of
  the extreme bar 2 -> 1; asks the tallest, then the shortest, a height, a difference.
- spatial (image, yesno or choice): left/right yes-no, then any relation, then a 4-way
  choice; 0 .. 4 distractor shapes; smaller objects and gaps.
- digit_arith (image, number): 2, 3, 3, 4, 5 numbers; values up to 9, 9, 20, 50, 99;
  coloured ink from level 3.
- motion_direction (video, choice): 4 .. 8 frames; 2, then 4, then 8 directions; smaller
  dot and step; 0 .. 2 distractor dots (static at level 3, moving after).
- first_appearance (video, choice): 2, 2, 3, 4, 5 shapes; 4 .. 8 frames; appearance gap
  2 -> 1 frame; asks the first, from level 4 also the last.
- count_events (video, number): 4, 6, 6, 8, 8 frames; up to 2 .. 4 flashes; 0 .. 2
  distractor lights.
- arith_chain (text, number): `level` operations: + and -, then also x, then also /;
  operands up to 9 .. 99.
- word_problem (text, number): `level` events: gain and lose, then packs, doubling or
  tripling, equal splitting.
- choose_option (text, choice): four statements, one true, three near misses; the facts are
  1-digit sums, 2-digit sums/differences, times tables, 2-digit x 1-digit, two-operation
  expressions.

Splits. An item's randomness comes from a stable hash of (task, split, seed, index), and an
item belongs to the split its *content* hashes to (80% train, 10% validation, 10% test of
the content space): `generate` draws until it gets an item of the requested split. So the
same arguments give identical items (PNG bytes identical; mp4 frames identical up to rare
encoder noise), and no question/picture of the test split can
ever be produced for train, whatever seeds are used (small spaces, like level-1 sums,
would otherwise repeat across splits).

Video timing. The event tasks (first_appearance, count_events) are written at 2 fps with an
even number of frames: at the default `VisionSettings(fps=2)` every frame is seen. Sampled at
a lower rate (or with fewer `nframes`) a flash can fall between sampled frames.

Modules: `suite` (tasks, registry, splits, generation, the CLI), `draw` (palette, bitmap text,
shapes, files), `image_tasks`, `video_tasks`, `text_tasks`. Everything is importable from
`mmzppo.data.synthetic`.
"""

from mmzppo.data.formats import LETTERS
from mmzppo.data.synthetic.draw import (
    BLACK,
    GRID_GRAY,
    PALETTE,
    SHAPES,
    WHITE,
    bitmap_font,
    text_size,
)
from mmzppo.data.synthetic.image_tasks import DIGIT_SCALE, bar_compare, count_color, digit_arith, spatial
from mmzppo.data.synthetic.suite import (
    LEVELS,
    MAX_DRAWS,
    SPLIT_BUCKETS,
    SPLITS,
    TASKS,
    Task,
    content_hash,
    generate,
    generate_suite,
    item_rng,
    main,
    split_of,
    task_of_uid,
    uid_for,
)
from mmzppo.data.synthetic.text_tasks import MAX_VALUE, arith_chain, choose_option, word_problem
from mmzppo.data.synthetic.video_tasks import (
    DIRECTIONS,
    EVENT_FPS,
    count_events,
    first_appearance,
    motion_direction,
)

__all__ = [
    "BLACK",
    "DIGIT_SCALE",
    "DIRECTIONS",
    "EVENT_FPS",
    "GRID_GRAY",
    "LETTERS",
    "LEVELS",
    "MAX_DRAWS",
    "MAX_VALUE",
    "PALETTE",
    "SHAPES",
    "SPLITS",
    "SPLIT_BUCKETS",
    "TASKS",
    "Task",
    "WHITE",
    "arith_chain",
    "bar_compare",
    "bitmap_font",
    "choose_option",
    "content_hash",
    "count_color",
    "count_events",
    "digit_arith",
    "first_appearance",
    "generate",
    "generate_suite",
    "item_rng",
    "main",
    "motion_direction",
    "spatial",
    "split_of",
    "text_size",
    "task_of_uid",
    "uid_for",
    "word_problem",
]
