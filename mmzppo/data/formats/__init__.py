"""Real benchmark records -> `Sample`, for the layouts in the official releases.

Small, one function per layout, each turning one source record into a `Sample`;
`mmzppo.data.convert` walks the source files, skips and counts unusable records, and writes
shards. Uids never hold dots (they are WebDataset keys): `safe_uid` cleans source ids.

`common` holds the shared pieces (ids, answers, GIF frames) and the first layouts; `text`,
`image` and `video` the layouts by modality (video also the generic JSONL / video-QA ones).
Every name is importable from `mmzppo.data.formats` as before.
"""

from mmzppo.data.formats.common import (  # noqa: F401
    LETTERS,
    DEFAULT_BENCHDATA,
    read_jsonl,
    mathvision_sample,
    mmlu_sample,
    gsm8k_sample,
    tempcompass_sample,
    RecordError,
    safe_uid,
    with_boxed,
    infer_answer,
    gif_frames,
)
from mmzppo.data.formats.text import (  # noqa: F401
    aime_sample,
    aime25_sample,
    clean_short_answer,
    imo_answerbench_sample,
    redux_error_type,
    mmlu_redux_sample,
    math500_sample,
    mmlu_pro_sample,
)
from mmzppo.data.formats.image import (  # noqa: F401
    logicvista_sample,
    puzzlevqa_sample,
    DYNAMATH_ANSWER_TYPES,
    dynamath_sample,
    mmvet_golds,
    mmvet_sample,
    wemath_options,
    wemath_sample,
    write_embedded,
    mmmu_sample,
)
from mmzppo.data.formats.video import (  # noqa: F401
    tgifqa_sample,
    GENERIC_FIELDS,
    pick,
    generic_sample,
)
