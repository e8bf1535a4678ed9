"""`leanspeech study NAME`: a paper's study reproduced end to end; each study's options live beside it."""

from __future__ import annotations

import argparse

from leanspeech.studies.enhance_cli import add_enhance_parser
from leanspeech.studies.filterbank_cli import add_filterbank_parser
from leanspeech.studies.quality_cli import add_quality_parser
from leanspeech.studies.spoof_cli import add_spoof_parser
from leanspeech.studies.sqa_cli import add_sqa_parser
from leanspeech.studies.sqa_teacher_cli import add_sqa_teacher_parser
from leanspeech.studies.stack_cli import add_stack_parser

EXAMPLES = """examples:
  leanspeech study filterbank --out runs/filterbank            # width paper, case study 1 (~2 min)
  leanspeech study spoof --corpus data/spoof --out runs/spoof  # width paper, case study 3
  leanspeech study enhance --corpus data/corpus --out runs/enhance
  leanspeech study quality --corpus data/corpus --out runs/quality
  leanspeech study sqa --corpus data/sqa --out runs/sqa --quick
  leanspeech study sqa-teacher --wav2vec2 /models/xls-r-2b --manifest data/mos/manifest.csv --out runs/xlsr
  leanspeech study stack --recipe recipes/stack/vad-width-dgru-int8.yaml --corpus data/corpus --out runs/stack-vad
  leanspeech study NAME --help                                 # options and outputs of one study

The VAD study (width paper, case study 2) is `leanspeech demo`.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    study = subparsers.add_parser(
        "study", help="run a paper's study (filterbank, spoof, enhance, quality, sqa, sqa-teacher) or a stack of methods",
        description="Run one of the papers' studies end to end on CPU and write its tables and plots.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    names = study.add_subparsers(dest="study", metavar="STUDY")
    for add in (add_filterbank_parser, add_spoof_parser, add_enhance_parser, add_quality_parser, add_sqa_parser,
                add_sqa_teacher_parser, add_stack_parser):
        add(names)
    study.set_defaults(run=lambda args: study.print_help() or 2)
