"""Whether two runs of a task and seed are a pair: the same student start, rows, batch order and teacher outputs.

A paired difference cancels the seed's luck only between runs that share those by design. Records with
`identity` (rwkd/records/identity.py) are compared by its digests; older records (the first two studies) by
what they recorded instead: the teacher's weights (its SHA-256, else its written outputs' id, else its scores),
which fix both the teacher's logits and, under student.init=teacher, the student's start; the further teachers';
the train file's fingerprint, the split settings and the student. In the second study a rebuilt RTE teacher
(same scores, other weights) was distilled by some schemes and not by others on seeds 2-5: only the teacher's
SHA-256 tells them apart.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from rwkd.checkout import locate
from rwkd.records.identity import outputs_digest

# the logits file of a teacher-outputs folder and its record (rwkd/teacher/outputs.py writes them; importing that
# module here would load torch into every report)
LOGITS, OUTPUTS_RECORD = "logits.parquet", "outputs.json"

# the digests two runs of different schemes must share; teacher outputs apart (compared per term)
SHARED_DIGESTS = ("student_init", "split", "batch_order")
SPLIT_SETTINGS = ("max_train_samples", "meta_size", "split_seed", "batch_size", "max_len", "group_by_length")


def pair_difference(a: dict, b: dict) -> str | None:
    """Why the runs `a` and `b` (results.json records of one task and seed) are not a pair; None where they are.
    A digest or field is compared only where both records hold it."""
    if (labels := _label_noise_difference(a, b)) is not None:
        return labels
    if a.get("identity") and b.get("identity"):
        return _identity_difference(a["identity"], b["identity"], _teacher_terms(a), _teacher_terms(b))
    return _recorded_difference(a, b)


def _label_noise_difference(a: dict, b: dict) -> str | None:
    """The training labels: the split digest covers which rows train, not their labels, so runs with noisy labels
    (data.label_noise) pair only where they changed the same rows to the same labels."""
    noise_a, noise_b = ((r.get("data") or {}).get("label_noise") for r in (a, b))
    if bool(noise_a) != bool(noise_b):
        return "training labels differ (one run's are noisy, the other's clean)"
    if noise_a and noise_b and noise_a.get("digest") != noise_b.get("digest"):
        return "training labels differ (label_noise digest)"
    return None


def _written_outputs(folder: str) -> dict | None:
    """A teacher-outputs folder's record, the folder as rwkd train finds it."""
    return _read_record(str(locate(folder).resolve() / OUTPUTS_RECORD))


@functools.lru_cache(maxsize=64)
def _read_record(path: str) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def _teacher_terms(record: dict) -> dict:
    """The record's teacher-output digest per term, the kd term's by the content of the logits it read where it
    can be told: a run that distilled written teacher outputs (teacher.outputs) records a digest of their folder's
    id, and two folders with the same logits file (one with hidden states beside it, for a run with a hidden-state
    term) give the kd term the same numbers. The folder is the run's teacher.outputs (relative to where the report
    runs), else its recorded path, and counts only where its id is the one the run recorded."""
    terms = dict(record["identity"].get("teacher_terms") or {})
    teacher = record.get("teacher") or {}
    outputs_id = teacher.get("outputs_id")
    if teacher.get("origin") != "outputs" or not outputs_id or terms.get("kd") != outputs_digest(outputs_id, None):
        return terms
    for folder in (((record.get("config") or {}).get("teacher") or {}).get("outputs"), teacher.get("path")):
        written = _written_outputs(str(folder)) if folder else None
        if written and written.get("id") == outputs_id and (sha := (written.get("files") or {}).get(LOGITS)):
            terms["kd"] = f"logits file {sha}"
            break
    return terms


def _identity_difference(a: dict, b: dict, terms_a: dict, terms_b: dict) -> str | None:
    for name in SHARED_DIGESTS:
        if a.get(name) and b.get(name) and a[name] != b[name]:
            return f"{name} differs"
    # a run with more terms distils more: the teacher outputs both distil must agree
    for term in sorted(set(terms_a) & set(terms_b)):
        if terms_a[term] != terms_b[term]:
            return f"teacher_outputs differ (term {term})"
    return None


def _teacher_key(teacher: dict | None) -> tuple[str, str] | None:
    if not teacher:
        return None
    for field in ("weights_sha256", "outputs_id"):
        if teacher.get(field):
            return field, teacher[field]
    return "dev_metrics", json.dumps(teacher.get("dev_metrics"), sort_keys=True)


def _recorded_difference(a: dict, b: dict) -> str | None:
    teachers_a = [a.get("teacher"), *(a.get("more_teachers") or [])]
    teachers_b = [b.get("teacher"), *(b.get("more_teachers") or [])]
    for i, (ta, tb) in enumerate(zip(teachers_a, teachers_b, strict=False)):
        key_a, key_b = _teacher_key(ta), _teacher_key(tb)
        if key_a and key_b and key_a[0] == key_b[0] and key_a[1] != key_b[1]:
            which = "teacher" if i == 0 else f"teacher {i + 1}"
            return f"{which} {key_a[0]} differs ({key_a[1][:12]} vs {key_b[1][:12]})"
    fingerprint_a, fingerprint_b = (r.get("data", {}).get("train_fingerprint") for r in (a, b))
    if fingerprint_a and fingerprint_b and fingerprint_a != fingerprint_b:
        return "data.train_fingerprint differs"
    data_a, data_b = ((r.get("config") or {}).get("data") or {} for r in (a, b))
    for key in SPLIT_SETTINGS:
        if key in data_a and key in data_b and data_a[key] != data_b[key]:
            return f"data.{key} differs"
    student_a, student_b = (_student_settings(r) for r in (a, b))
    if any(student_a[k] != student_b[k] for k in set(student_a) & set(student_b)):
        return "student differs"
    return None


def _student_settings(record: dict) -> dict:
    """The student's config (else its recorded name); a config from before student.stable_head drew the new head
    with torch's draw, which is stable_head=false."""
    config = (record.get("config") or {}).get("student")
    if config is None:
        return dict(record.get("student") or {})
    return {"stable_head": False, **config}


def pairs_left_out(records: dict, comparisons: dict[str, tuple[str, str]]) -> dict[tuple, str]:
    """{(task, scheme, reference, seed): reason} for every pair a comparison {row: (scheme, reference)} would form
    from `records` ({(task, scheme, seed): record}) that is no pair (pair_difference)."""
    left_out = {}
    for scheme, reference in comparisons.values():
        for (task, name, seed), record in records.items():
            other = records.get((task, reference, seed))
            if name == scheme and other is not None and (reason := pair_difference(record, other)) is not None:
                left_out[(task, scheme, reference, seed)] = reason
    return left_out


def left_out_lines(left_out: dict[tuple, str]) -> list[str]:
    """The pairs a table leaves out, one line each, to print under it."""
    if not left_out:
        return []
    lines = [f"Left out of this table: {len(left_out)} pair(s) whose runs did not share their start, data order or "
             "teacher outputs:", ""]
    lines += [f"- {task} seed {seed}: {scheme} vs {reference}: {reason}"
              for (task, scheme, reference, seed), reason in sorted(left_out.items(), key=str)]
    return lines
