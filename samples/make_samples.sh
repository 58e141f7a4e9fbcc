#!/usr/bin/env bash
# Regenerate the samples in this folder from the shipped checkpoints (run from the repo root):
#   bash samples/make_samples.sh
# Each line is the exact command that made a sample: its WAV, plan MIDI, plot and JSON sidecar.
set -euo pipefail
cd "$(dirname "$0")"
gen() { audiodiff generate "$@" --threads 1 --force; }
gen "D minor, 96 bpm, 3/4, violin"    --seconds 20 --seed 7 -o d_minor_96_3-4_violin.wav     --plan-out d_minor_96_3-4_violin.mid     --plot d_minor_96_3-4_violin.png
gen "G major, 120 bpm, 4/4, piano"    --seconds 20 --seed 1 -o g_major_120_4-4_piano.wav     --plan-out g_major_120_4-4_piano.mid     --plot g_major_120_4-4_piano.png
gen "E minor, 72 bpm, 6/8, flute"     --seconds 20 --seed 3 -o e_minor_72_6-8_flute.wav      --plan-out e_minor_72_6-8_flute.mid      --plot e_minor_72_6-8_flute.png
gen "A major, 140 bpm, 2/4, accordion" --seconds 15 --seed 4 -o a_major_140_2-4_accordion.wav --plan-out a_major_140_2-4_accordion.mid --plot a_major_140_2-4_accordion.png
gen "C major, 100 bpm, 4/4, guitar"   --seconds 64 --seed 5 -o c_major_100_4-4_guitar_64s.wav --plan-out c_major_100_4-4_guitar_64s.mid --plot c_major_100_4-4_guitar_64s.png
gen "F# minor, 84 bpm, 4/4, clarinet" --seconds 20 --seed 6 -o f-sharp_minor_84_4-4_clarinet.wav --plan-out f-sharp_minor_84_4-4_clarinet.mid --plot f-sharp_minor_84_4-4_clarinet.png
gen "Bb major, 110 bpm, 3/4, oboe"    --seconds 20 --seed 8 -o b-flat_major_110_3-4_oboe.wav --plan-out b-flat_major_110_3-4_oboe.mid --plot b-flat_major_110_3-4_oboe.png
gen "C minor, 160 bpm, 2/4, trumpet"  --seconds 15 --seed 9 -o c_minor_160_2-4_trumpet.wav    --plan-out c_minor_160_2-4_trumpet.mid    --plot c_minor_160_2-4_trumpet.png
gen "Eb major, 66 bpm, 6/8, alto sax" --seconds 20 --seed 2 -o e-flat_major_66_6-8_alto_sax.wav --plan-out e-flat_major_66_6-8_alto_sax.mid --plot e-flat_major_66_6-8_alto_sax.png
# bring your own music: given chords, a given melody (ode_to_joy.mid, written by hand), AABA form
gen "D minor, 96 bpm, 3/4, violin" --chords "Dm | Gm A7 | Dm | A7 Dm" --seconds 20 --seed 21 -o chords_d_minor_96_3-4_violin.wav --plan-out chords_d_minor_96_3-4_violin.mid --plot chords_d_minor_96_3-4_violin.png
gen "flute" --melody ode_to_joy.mid --seed 22 -o melody_ode_to_joy_flute.wav --plan-out melody_ode_to_joy_flute.mid --plot melody_ode_to_joy_flute.png
gen "G major, 110 bpm, 4/4, piano" --form AABA --bars-per-section 4 --seed 23 -o form_aaba_g_major_110_4-4_piano.wav --plan-out form_aaba_g_major_110_4-4_piano.mid --plot form_aaba_g_major_110_4-4_piano.png
audiodiff evaluate . --json evaluation.json --force
