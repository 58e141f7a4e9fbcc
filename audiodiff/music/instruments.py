"""General MIDI (level 1) instruments: names, aliases, families, and parsing text to programs.

Programs are 0-based (0..127) in code, as in MIDI files and mido. Text may also give a
program by its GM *number* 1..128, the numbering of the GM spec and of synth manuals:
"program 41", "gm 41" and "instrument 41" all mean program 40, the violin. A bare number
("41") is rejected because 0- and 1-based numbering would both be plausible.

Besides the 128 GM names, a few common words are accepted (see INSTRUMENT_ALIASES), e.g.
"piano" -> acoustic grand piano, "guitar" -> nylon acoustic guitar, "bass" -> acoustic bass,
"strings" -> string ensemble 1, "sax" -> alto sax, "organ" -> church organ. "fiddle" keeps
its GM meaning (program 110, in the ethnic family), not an alias of the violin (40).
"""
from __future__ import annotations

import difflib
import numbers
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType

GM_PROGRAM_NAMES: tuple[str, ...] = (
    # 0-7 piano
    "acoustic grand piano", "bright acoustic piano", "electric grand piano", "honky-tonk piano",
    "electric piano 1", "electric piano 2", "harpsichord", "clavinet",
    # 8-15 chromatic percussion
    "celesta", "glockenspiel", "music box", "vibraphone",
    "marimba", "xylophone", "tubular bells", "dulcimer",
    # 16-23 organ
    "drawbar organ", "percussive organ", "rock organ", "church organ",
    "reed organ", "accordion", "harmonica", "tango accordion",
    # 24-31 guitar
    "acoustic guitar (nylon)", "acoustic guitar (steel)", "electric guitar (jazz)",
    "electric guitar (clean)", "electric guitar (muted)", "overdriven guitar",
    "distortion guitar", "guitar harmonics",
    # 32-39 bass
    "acoustic bass", "electric bass (finger)", "electric bass (pick)", "fretless bass",
    "slap bass 1", "slap bass 2", "synth bass 1", "synth bass 2",
    # 40-47 strings
    "violin", "viola", "cello", "contrabass",
    "tremolo strings", "pizzicato strings", "orchestral harp", "timpani",
    # 48-55 ensemble
    "string ensemble 1", "string ensemble 2", "synth strings 1", "synth strings 2",
    "choir aahs", "voice oohs", "synth voice", "orchestra hit",
    # 56-63 brass
    "trumpet", "trombone", "tuba", "muted trumpet",
    "french horn", "brass section", "synth brass 1", "synth brass 2",
    # 64-71 reed
    "soprano sax", "alto sax", "tenor sax", "baritone sax",
    "oboe", "english horn", "bassoon", "clarinet",
    # 72-79 pipe
    "piccolo", "flute", "recorder", "pan flute",
    "blown bottle", "shakuhachi", "whistle", "ocarina",
    # 80-87 synth lead
    "lead 1 (square)", "lead 2 (sawtooth)", "lead 3 (calliope)", "lead 4 (chiff)",
    "lead 5 (charang)", "lead 6 (voice)", "lead 7 (fifths)", "lead 8 (bass + lead)",
    # 88-95 synth pad
    "pad 1 (new age)", "pad 2 (warm)", "pad 3 (polysynth)", "pad 4 (choir)",
    "pad 5 (bowed)", "pad 6 (metallic)", "pad 7 (halo)", "pad 8 (sweep)",
    # 96-103 synth effects
    "fx 1 (rain)", "fx 2 (soundtrack)", "fx 3 (crystal)", "fx 4 (atmosphere)",
    "fx 5 (brightness)", "fx 6 (goblins)", "fx 7 (echoes)", "fx 8 (sci-fi)",
    # 104-111 ethnic
    "sitar", "banjo", "shamisen", "koto", "kalimba", "bagpipe", "fiddle", "shanai",
    # 112-119 percussive
    "tinkle bell", "agogo", "steel drums", "woodblock",
    "taiko drum", "melodic tom", "synth drum", "reverse cymbal",
    # 120-127 sound effects
    "guitar fret noise", "breath noise", "seashore", "bird tweet",
    "telephone ring", "helicopter", "applause", "gunshot",
)

_FAMILY_NAMES = (
    "piano", "chromatic percussion", "organ", "guitar", "bass", "strings", "ensemble", "brass",
    "reed", "pipe", "synth lead", "synth pad", "synth effects", "ethnic", "percussive",
    "sound effects",
)
# The 16 GM families, in program order: family name -> its 8 programs.
INSTRUMENT_FAMILIES: Mapping[str, tuple[int, ...]] = MappingProxyType(
    {name: tuple(range(8 * i, 8 * i + 8)) for i, name in enumerate(_FAMILY_NAMES)})

# Common words for GM programs. The choices where a word could mean several programs:
# "guitar" is the nylon acoustic (24), "electric guitar" the clean one (27), "bass" the
# acoustic (upright) bass (32) but "double bass" the orchestral contrabass (43), "organ" the
# church (pipe) organ (19) and "hammond" the drawbar organ (16), "sax" the alto sax (65),
# "strings" string ensemble 1 (48), "synth lead"/"lead" the square lead (80), "pad" the warm pad (89).
INSTRUMENT_ALIASES: Mapping[str, int] = MappingProxyType({
    "piano": 0, "grand piano": 0, "acoustic piano": 0, "electric piano": 4, "rhodes": 4,
    "clavi": 7, "vibes": 11, "chimes": 14,
    "organ": 19, "pipe organ": 19, "hammond": 16, "hammond organ": 16, "electric organ": 16,
    "guitar": 24, "acoustic guitar": 24, "classical guitar": 24, "nylon guitar": 24,
    "steel guitar": 25, "folk guitar": 25, "electric guitar": 27, "jazz guitar": 26,
    "distorted guitar": 30,
    "bass": 32, "upright bass": 32, "electric bass": 33, "bass guitar": 33,
    "double bass": 43, "synth bass": 38,
    "violoncello": 42, "harp": 46,
    "strings": 48, "string ensemble": 48, "string section": 48, "synth strings": 50,
    "choir": 52, "voice": 53,
    "horn": 60, "brass": 61, "synth brass": 62,
    "sax": 65, "saxophone": 65, "soprano saxophone": 64, "alto saxophone": 65,
    "tenor saxophone": 66, "baritone saxophone": 67, "bari sax": 67, "cor anglais": 69,
    "pan pipes": 75, "panpipes": 75,
    "synth lead": 80, "lead": 80, "synth pad": 89, "pad": 89,
    "bagpipes": 109, "bag pipe": 109, "shehnai": 111,
    "steel drum": 114, "steel pan": 114, "taiko": 116,
})

_NUMBER_FORM = re.compile(r"(?:program|gm|instrument)\s*#?\s*(-?\d+)")


def _normalize(text: str) -> str:
    """Lowercase; parentheses, '=' and ':' become spaces; 'honky-tonk' == 'honky tonk'."""
    text = re.sub(r"[()=:]", " ", text.lower())
    text = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text)
    return " ".join(text.split())


_LOOKUP: dict[str, int] = {_normalize(n): p for p, n in enumerate(GM_PROGRAM_NAMES)}
_LOOKUP.update({_normalize(a): p for a, p in INSTRUMENT_ALIASES.items()})


def _check_program(program: int) -> None:
    if isinstance(program, bool) or not isinstance(program, numbers.Integral) or not 0 <= program <= 127:
        raise ValueError(f"GM program must be an int 0..127, got {program!r}")


def find_instrument(text: str) -> int | None:
    """Program 0..127 for a GM name, alias or 'program N' (N in 1..128); None if not one.

    Raises ValueError only for a program number outside 1..128.
    """
    norm = _normalize(text)
    m = _NUMBER_FORM.fullmatch(norm)
    if m:
        number = int(m.group(1))
        if not 1 <= number <= 128:
            raise ValueError(f"GM program numbers are 1..128 (program 1 = acoustic grand piano), "
                             f"got {number} in {text!r}")
        return number - 1
    return _LOOKUP.get(norm)


def parse_instrument(text: str) -> int:
    """'violin', 'Acoustic  Grand Piano', 'sax', 'program 41' -> GM program 0..127.

    Raises ValueError listing example names and explaining GM numbers when unknown.
    """
    program = find_instrument(text)
    if program is not None:
        return program
    close = difflib.get_close_matches(_normalize(text), list(_LOOKUP), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise ValueError(
        f"unknown instrument {text!r}{hint}; allowed: a General MIDI name such as piano, violin, "
        f"cello, flute, trumpet, alto sax, acoustic guitar (nylon), or a GM number "
        f"'program N' / 'gm N' / 'instrument N' with N in 1..128 (program 41 = violin)")


def program_name(program: int) -> str:
    """GM name of a 0-based program, e.g. 40 -> 'violin'."""
    _check_program(program)
    return GM_PROGRAM_NAMES[program]


def family_of(program: int) -> str:
    """GM family name of a program, e.g. 40 -> 'strings'."""
    _check_program(program)
    return _FAMILY_NAMES[program // 8]


def nearest_program(program: int, supported: Sequence[int]) -> int:
    """`program` if supported, else the closest supported program of its family, else the
    supported program with the closest index (ties go to the lower program)."""
    _check_program(program)
    pool = sorted(set(supported))
    if not pool:
        raise ValueError("no supported programs to choose from")
    for p in pool:
        _check_program(p)
    same_family = [p for p in pool if p // 8 == program // 8]
    return min(same_family or pool, key=lambda p: (abs(p - program), p))


def substitution_warnings(changes: Sequence[tuple[str, int, int]]) -> list[str]:
    """One line per program moved to another (``(track, old, new)`` per change, 0-based programs),
    naming the programs by their GM numbers (1-based, as prompts take them)."""
    seen: dict[int, tuple[int, list[str]]] = {}
    for track, old, new in changes:
        tracks = seen.setdefault(old, (new, []))[1]
        if track not in tracks:
            tracks.append(track)
    return [f"program {old + 1} ({program_name(old)}) is not among the instruments the acoustic model was trained "
            f"on; {', '.join(tracks)} rendered as program {new + 1} ({program_name(new)})"
            for old, (new, tracks) in seen.items()]
