import json

import numpy as np
import pytest

from leanspeech.audio.io import save_audio
from leanspeech.data.manifest import read_manifest
import leanspeech.data.readers  # noqa: F401  (registers every reader)
from leanspeech.errors import CorpusError
from leanspeech.registry import READERS

RATE = 16000


def tone(path, seconds, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    return save_audio(path, (0.1 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), rate)


def by_name(listing):
    return {e.path.rsplit("/", 1)[-1]: e for e in listing.entries}


def test_folder_reader_walks_subfolders_by_suffix(tmp_path):
    tone(tmp_path / "p225" / "p225_001.wav", 1.0)
    tone(tmp_path / "p226" / "deep" / "p226_002.flac", 0.5, rate=48000)
    tone(tmp_path / "top.WAV", 0.25)
    (tmp_path / "p225" / "notes.txt").write_text("not audio")
    (tmp_path / "p225" / "broken.wav").write_bytes(b"RIFF garbage")
    listing = READERS.build("folder", root=tmp_path, split="dev")
    entries = by_name(listing)
    assert sorted(entries) == ["p225_001.wav", "p226_002.flac", "top.WAV"]
    assert entries["p225_001.wav"].speaker == "p225" and entries["p226_002.flac"].speaker == "p226"
    assert entries["top.WAV"].speaker == "" and entries["p226_002.flac"].sample_rate == 48000
    assert entries["p226_002.flac"].duration == pytest.approx(0.5)
    assert entries["p225_001.wav"].path == "p225/p225_001.wav" and entries["top.WAV"].split == "dev"
    assert [p.rsplit("/", 1)[-1] for p, _ in listing.skipped] == ["broken.wav"]
    with pytest.raises(CorpusError, match="folder does not exist"):
        READERS.build("folder", root=tmp_path / "nope")


def test_csv_manifest_keeps_labels_and_resolves_paths_against_its_folder(tmp_path):
    tone(tmp_path / "clips" / "a.wav", 1.0)
    tone(tmp_path / "clips" / "b.wav", 2.0)
    (tmp_path / "mos.csv").write_text("filepath,mos,split\nclips/a.wav,3.5,test\nclips/b.wav,4.25,train\n"
                                      "clips/missing.wav,1.0,train\n")
    listing = READERS.build("table", path=tmp_path / "mos.csv", path_column="filepath")
    entries = by_name(listing)
    assert sorted(entries) == ["a.wav", "b.wav"]
    assert entries["a.wav"].extra == {"mos": "3.5"} and entries["a.wav"].split == "test"
    assert entries["b.wav"].duration == pytest.approx(2.0) and entries["b.wav"].split == "train"
    assert len(listing.skipped) == 1 and "missing.wav" in listing.skipped[0][0]

    # written elsewhere, paths become absolute and still resolve
    out = listing.write_manifest(tmp_path / "elsewhere" / "manifest.csv")
    rows = read_manifest(out)
    assert all(row.resolve(out.parent).is_file() for row in rows)
    inside = read_manifest(listing.write_manifest(tmp_path / "manifest.csv"))
    assert {row.path for row in inside} == {"clips/a.wav", "clips/b.wav"}


def test_malformed_table_rows_name_the_file_and_line(tmp_path):
    tone(tmp_path / "a.wav", 0.5)
    (tmp_path / "bad.csv").write_text("path,mos\na.wav,3.0\na.wav,3.0,extra\n")
    with pytest.raises(CorpusError, match=r"bad.csv, line 3: expected 2 fields"):
        READERS.build("table", path=tmp_path / "bad.csv")
    (tmp_path / "empty.csv").write_text("path,mos\n,3.0\n")
    with pytest.raises(CorpusError, match=r"empty.csv, line 2: no 'path' value"):
        READERS.build("table", path=tmp_path / "empty.csv")
    (tmp_path / "bad.jsonl").write_text(json.dumps({"path": "a.wav", "mos": 2.5}) + "\n\n{not json\n")
    with pytest.raises(CorpusError, match=r"bad.jsonl, line 3: not valid JSON"):
        READERS.build("table", path=tmp_path / "bad.jsonl")


def test_jsonl_manifest(tmp_path):
    tone(tmp_path / "a.wav", 0.5)
    (tmp_path / "list.jsonl").write_text(json.dumps({"path": "a.wav", "mos": 2.5, "speaker": "s1"}) + "\n")
    (entry,) = READERS.build("table", path=tmp_path / "list.jsonl").entries
    assert entry.extra == {"mos": "2.5"} and entry.speaker == "s1"


def write_asvspoof(root, protocol_lines, present):
    protocols = root / "ASVspoof2019_LA_cm_protocols"
    protocols.mkdir(parents=True)
    for part, suffix in (("train", "train.trn"), ("dev", "dev.trl"), ("eval", "eval.trl")):
        (protocols / f"ASVspoof2019.LA.cm.{suffix}.txt").write_text("\n".join(protocol_lines.get(part, [])) + "\n")
    for part, name in present:
        tone(root / f"ASVspoof2019_LA_{part}" / "flac" / f"{name}.flac", 0.3)


def test_asvspoof2019_la_layout(tmp_path):
    lines = {"train": ["LA_0079 LA_T_1138215 - - bonafide", "LA_0079 LA_T_1271820 - A01 spoof",
                       "LA_0080 LA_T_9999999 - A02 spoof"],
             "dev": ["LA_0069 LA_D_1047731 - - bonafide"],
             "eval": ["LA_0039 LA_E_2834763 - A11 spoof"]}
    write_asvspoof(tmp_path, lines, [("train", "LA_T_1138215"), ("train", "LA_T_1271820"),
                                     ("dev", "LA_D_1047731"), ("eval", "LA_E_2834763")])
    listing = READERS.build("asvspoof2019-la", root=tmp_path)
    entries = by_name(listing)
    assert len(entries) == 4
    assert entries["LA_T_1138215.flac"].extra == {"label": "bonafide", "attack": "-"}
    assert entries["LA_T_1271820.flac"].extra == {"label": "spoof", "attack": "A01"}
    assert entries["LA_T_1271820.flac"].speaker == "LA_0079"
    assert entries["LA_D_1047731.flac"].split == "dev" and entries["LA_E_2834763.flac"].split == "test"
    assert entries["LA_E_2834763.flac"].path == "ASVspoof2019_LA_eval/flac/LA_E_2834763.flac"
    assert len(listing.skipped) == 1 and "LA_T_9999999.flac" in listing.skipped[0][0]
    only_dev = READERS.build("asvspoof2019-la", root=tmp_path, parts=["dev"])
    assert [e.split for e in only_dev.entries] == ["dev"]


@pytest.mark.parametrize("bad", ["LA_0079 LA_T_1 - bonafide", "LA_0079 LA_T_1 - A01 bonafide",
                                 "LA_0079 LA_T_1 - - fake"])
def test_asvspoof_malformed_line_is_a_corpus_error_with_its_line(tmp_path, bad):
    write_asvspoof(tmp_path, {"train": ["LA_0079 LA_T_1138215 - - bonafide", "", bad]},
                   [("train", "LA_T_1138215")])
    with pytest.raises(CorpusError, match=r"ASVspoof2019.LA.cm.train.trn.txt, line 3"):
        READERS.build("asvspoof2019-la", root=tmp_path, parts=["train"])


def test_dns_challenge_layout_pairs_files_by_fileid(tmp_path):
    tone(tmp_path / "clean" / "clean_fileid_12.wav", 1.0)
    tone(tmp_path / "clean" / "clean_fileid_3.wav", 1.0)
    tone(tmp_path / "noise" / "noise_fileid_12.wav", 1.0)
    tone(tmp_path / "noisy" / "book_00012_chp_0010_reader_01326_8_door_Freesound_snr5_fileid_12.wav", 1.0)
    tone(tmp_path / "noisy" / "book_1_snr-5_tl-30_fileid_3.wav", 1.0)
    tone(tmp_path / "noisy" / "book_2_snr0_fileid_77.wav", 1.0)  # no clean partner
    tone(tmp_path / "noisy" / "stray.wav", 1.0)  # no fileid
    listing = READERS.build("dns-challenge", root=tmp_path)
    noisy = {e.extra["fileid"]: e for e in listing.entries if e.kind == "noisy"}
    assert sorted(noisy) == ["12", "3"]
    assert noisy["12"].extra == {"clean": "clean/clean_fileid_12.wav", "noise": "noise/noise_fileid_12.wav",
                                 "snr": "5", "fileid": "12"}
    assert noisy["3"].extra["snr"] == "-5" and "noise" not in noisy["3"].extra
    assert noisy["12"].speaker == "fileid_12" and noisy["12"].split == "test"
    assert sorted(e.path for e in listing.entries if e.kind == "speech") == [
        "clean/clean_fileid_12.wav", "clean/clean_fileid_3.wav"]
    assert [e.path for e in listing.entries if e.kind == "noise"] == ["noise/noise_fileid_12.wav"]
    skipped = sorted(p.rsplit("/", 1)[-1] for p, _ in listing.skipped)
    assert skipped == ["book_2_snr0_fileid_77.wav", "stray.wav"]
    with pytest.raises(CorpusError, match="no clean/ folder"):
        READERS.build("dns-challenge", root=tmp_path / "noisy")
