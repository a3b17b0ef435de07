"""Real benchmark records -> `Sample`, for the layouts in the official releases.

Small, one function per layout, each turning one source record into a `Sample`;
`mmzppo.data.convert` walks the source files, skips and counts unusable records, and writes
shards. Uids never hold dots (they are WebDataset keys): `safe_uid` cleans source ids.

`common` holds the shared pieces (ids, answers, GIF frames) and the first layouts; `text`,
`image` and `video` the layouts by modality (video also the generic JSONL / video-QA ones).
Every name is importable from `mmzppo.data.formats` as before.
"""

from mmzppo.data.formats.common import (  # noqa: F401
    DEFAULT_BENCHDATA,
    LETTERS,
    RecordError,
    gif_frames,
    gsm8k_sample,
    infer_answer,
    mathvision_sample,
    mmlu_sample,
    read_jsonl,
    safe_uid,
    tempcompass_sample,
    with_boxed,
)
from mmzppo.data.formats.image import (  # noqa: F401
    DYNAMATH_ANSWER_TYPES,
    dynamath_sample,
    dynamath_variant,
    image_suffix,
    logicvista_sample,
    mmmu_file_sample,
    mmmu_sample,
    mmvet_golds,
    mmvet_sample,
    puzzlevqa_sample,
    wemath_options,
    wemath_sample,
    write_embedded,
)
from mmzppo.data.formats.text import (  # noqa: F401
    aime25_sample,
    aime_sample,
    clean_short_answer,
    imo_answerbench_sample,
    math500_sample,
    mmlu_pro_sample,
    mmlu_redux_sample,
    redux_error_type,
    redux_subject,
)
from mmzppo.data.formats.video import (  # noqa: F401
    GENERIC_FIELDS,
    generic_sample,
    pick,
    tgifqa_sample,
)
