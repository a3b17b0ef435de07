"""WebDataset shards of `Sample`s: one writer, one reader, both tolerant of real-world damage.

Layout of one sample (all members share the key = the sample uid, which has no dots):

    <uid>.json          question, answer, answer_type, choices, solution, source, meta,
                        video_fps, n_images, and the member names of the media (`images`, `video`);
                        reward_type and tolerance only when the sample has them
    <uid>.img0.jpg ...  images, original bytes and extension when the source was a file,
                        PNG when it was an in-memory PIL image
    <uid>.mp4           a video file, original bytes (or .webm/.mkv/.avi/.mov)
    <uid>.frame0.jpg .. a video given as a frame list (then json.video_fps is its frame rate)
    <uid>.teacher.json  optional precomputed teacher responses:
                        [{"response": str, "reward": float, "parsed": str | None}, ...]

Shards are written with `webdataset.ShardWriter` as `shard-%06d.tar` next to an `index.json`
(shard names and counts, counts per source and modality, media bytes, the VisionSettings the
media were made under, and what a converter skipped).

The reader (`ShardReader`, a torch IterableDataset) decodes a sample only when it is about to
be handed out, applies the consumer's `VisionSettings` to video at read time (decord counts
the frames of the in-memory mp4 as `encode` counts a video file, the same rule picks the
frames Qwen-VL would sample, and only those are converted, with PyAV, pixel-identical to
decord and faster), and hands out `Sample`s whose images are PIL images and whose video is a
list of PIL frames (resized to the video pixel budget) with `video_fps` = the sampled rate,
which `mmzppo.policy.encoding.encode` takes through its frame-list path. Teacher responses go to
`sample.meta["teacher"]`.

Why a reader of our own rather than webdataset's pipeline: the failure policy must be exact.
Every sample that is not handed out is skipped, logged once with its key and reason, and
counted in `reader.skipped`: bad JSON, a missing member, an empty gold answer, a corrupt or
empty image (the message names the member and its size), a truncated video or one with no
decodable frame, a key read twice (inside one tar, where WebDataset would merge the two
samples silently, or in two shards), and the samples a truncated or unreadable tar lost (one
count each when index.json gives the shard's count; otherwise one, saying how many is
unknown). Nothing stops the run and nothing hangs. Reading shards is a few lines of
`tarfile`; the format stays plain WebDataset, so `webdataset.WebDataset(urls)` reads these
shards too.

Modules: `layout` (names, index.json, skip reasons), `writer` (ShardWriter, write_shards),
`tar` (one shard's members grouped into samples, damage as events), `decode` (one sample's
json, images and video frames), `seen` (the key set DataLoader workers share), `reader`
(ShardReader). Everything is importable from `mmzppo.data.shards`.
"""

from mmzppo.data.shards.decode import (
    decode_frame_list,
    decode_frames,
    decode_image,
    decode_sample,
    decode_video_file,
    fit_frames,
    parse_info,
    sampled_frames,
)
from mmzppo.data.shards.layout import (
    FORMAT_VERSION,
    IMAGE_EXTS,
    INDEX_NAME,
    SHARD_PATTERN,
    SKIP_REASONS,
    VIDEO_EXTS,
    SkipSample,
    read_index,
    resolve_shards,
    shard_count,
)
from mmzppo.data.shards.reader import NotEnoughShardsError, ShardReader
from mmzppo.data.shards.tar import RawSample, SkipEvent, has_end_marker, iter_shard, split_member
from mmzppo.data.shards.writer import (
    ShardWriter,
    WriteStats,
    _quiet,  # noqa: F401  (mmzppo.data.convert and the CLI use it)
    check_teacher,
    check_uid,
    media_bytes,
    sample_to_record,
    write_shards,
)

__all__ = [
    "FORMAT_VERSION",
    "IMAGE_EXTS",
    "INDEX_NAME",
    "SHARD_PATTERN",
    "SKIP_REASONS",
    "VIDEO_EXTS",
    "NotEnoughShardsError",
    "RawSample",
    "ShardReader",
    "ShardWriter",
    "SkipEvent",
    "SkipSample",
    "WriteStats",
    "check_teacher",
    "check_uid",
    "decode_frame_list",
    "decode_frames",
    "decode_image",
    "decode_sample",
    "decode_video_file",
    "fit_frames",
    "has_end_marker",
    "iter_shard",
    "media_bytes",
    "parse_info",
    "read_index",
    "resolve_shards",
    "sample_to_record",
    "shard_count",
    "sampled_frames",
    "split_member",
    "write_shards",
]
