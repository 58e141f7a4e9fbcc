"""Batch rendering for datasets: many prompts -> WAVs, plan MIDIs, annotations and a manifest.

Input rows come from a CSV or JSONL file (:mod:`.rows`) or from a grid (:mod:`.grid`). A row holds a
``prompt`` (the text ``audiodiff generate`` takes) or its fields ``key``, ``bpm``, ``meter``,
``instrument``, and optionally ``seed`` and ``seconds`` (these two override the prompt text's) and
``chords``, ``form``, ``bars_per_section`` (as ``generate --chords --form --bars-per-section``; a row
of chords without a key is in the key they suggest).
Rows without a seed get :func:`audiodiff.seeds.derived_seed` ``(index, prompt)``: the first 8 bytes of
``sha256(f"batch|{index}|{prompt text without seed}")`` modulo 2**31, so a seed depends on the
row's 0-based position and content and never on the machine, the worker count or the run.

Layout of an output directory (:mod:`.directory`, :mod:`.row_files`, :mod:`.manifest`)::

    batch.json                 the settings (rows hash, sampler settings, checkpoint hashes);
                               --resume with other settings is refused
    audio/<id>.wav             24 kHz 16-bit mono
    midi/<id>.mid              the plan that was rendered (cropped to the bars that sound)
    annotations/<id>.json      notes [pitch, onset s, offset s, velocity] per track, chords, beats
    records/<id>.json          the row's manifest record, written last: the row is finished
    errors/<id>.json           a row that failed (input and a one-line message)
    manifest.jsonl, manifest.csv, errors.jsonl   gathered in input order at the end
    stems/<id>/                with --stems: every track alone, their mix, stems.json
                               (:func:`audiodiff.io.stems.write_stem_folder`)
    Track<nnnnn>/              with --stems --layout slakh, instead of audio/, midi/, annotations/ and
                               stems/: mix.flac, stems/Snn.flac, MIDI/Snn.mid, all_src.mid (the plan),
                               metadata.yaml, annotations.json (:func:`audiodiff.io.stems.write_slakh_track`)

Every file is written under a temporary name and renamed, so a killed run leaves no torn file;
a rerun with ``--resume`` skips rows that have a record and redoes the others (failed rows
included). A row's stems folder is filled under a temporary name and renamed whole before its record.

Scale-out (:mod:`.run`, :mod:`.workers`). Rows are cut into chunks of ``batch_size`` consecutive
rows (one forward pass each) and chunk k belongs to rank ``k % world``; with ``batch_size=1`` that
is row i -> rank ``i % world``. The chunks do not depend on the world size, so 1, 2 or N processes
write the same bytes when each runs with the same ``--threads`` (e.g. ``--threads 1``). ``--workers
N`` starts N processes here; under ``torchrun`` each process reads RANK / WORLD_SIZE / LOCAL_RANK
and does its own shard. No process group is used: every rank writes only its own rows' files, and
whoever gathers (the parent with ``--workers``; rank 0 under torchrun, which polls ``records/`` and
``errors/`` until every row is finished) writes the manifest. A rank that dies leaves its rows
unfinished; rerun with ``--resume``.
"""


class BatchError(Exception):
    """A problem with the whole batch (input file, arguments, output directory): exit code 2."""
