"""Teachers: correct answers, candidate rewrites, hints and token distributions for the student.

One protocol (`base.Teacher`) and four kinds: `local` (a transformers model), `text`
(`ReferenceTeacher`: the dataset's worked solutions; `PrecomputedTeacher`: answers stored in
the shards), `served` (an OpenAI-compatible server through `client.ChatClient`, the same
client the evaluation judge uses). `annotate` writes teacher answers into shards
(`python -m mmzppo.teachers annotate`). Only `mmzppo.train` builds a teacher from a run config.
"""
