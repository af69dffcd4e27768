"""Classify the sentiment of a file of texts, one per line.

    python manage.py classify_sentiment --input texts.txt --output labels.tsv

Writes `label<TAB>confidence` (negative/neutral/positive, 4 decimals) for every input line, blank
ones included, so output line N answers input line N. `-` reads stdin or writes stdout. Texts are
read, classified and written a batch at a time, so a file of any length runs in bounded memory.
"""

from __future__ import annotations

import io
import sys
import time
from argparse import ArgumentParser
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from itertools import islice
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError

from listening.nlp.sentiment import ARTIFACT_PATH, SentimentModel

# Enough texts per batch for the embedder to sort by length and fill its own batches well.
DEFAULT_BATCH = 512


def _lines(stream: IO[str]) -> Iterator[str]:
    # Only the line break itself is removed: leading and trailing spaces are part of the text.
    for line in stream:
        yield line.rstrip("\r\n")


class Command(BaseCommand):
    help = "Classify sentiment, one text per input line -> one `label<TAB>confidence` per output line."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--input", required=True, help="UTF-8 text file, one text per line; - for stdin")
        parser.add_argument("--output", required=True, help="TSV file to write; - for stdout")
        parser.add_argument("--model", type=Path, default=ARTIFACT_PATH, help="sentiment artifact (.npz)")
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        model_path: Path = options["model"]
        if not model_path.is_file():
            raise CommandError(f"sentiment model not found: {model_path}")
        model = SentimentModel.load(model_path)
        started = time.monotonic()
        count = 0
        with ExitStack() as stack:
            source = self._open_input(options["input"], stack)
            write = self._open_output(options["output"], stack)
            lines = _lines(source)
            while batch := list(islice(lines, options["batch_size"])):
                write("".join(f"{label}\t{confidence:.4f}\n" for label, confidence in model.predict(batch)))
                count += len(batch)
        elapsed = time.monotonic() - started
        self.stderr.write(
            f"classified {count} texts in {elapsed:.1f} s with {model.version} (sha256 {model.sha256[:12]})"
        )

    def _open_input(self, name: str, stack: ExitStack) -> IO[str]:
        # utf-8-sig drops a byte-order mark; a stray invalid byte becomes U+FFFD rather than ending a
        # long run half-way. Lines end at "\n" only (as `wc -l` and `paste` count them; a CRLF's "\r"
        # is stripped): a lone "\r" inside a text must not shift every later answer by one.
        options: dict[str, Any] = {"encoding": "utf-8-sig", "errors": "replace", "newline": "\n"}
        if name == "-":
            wrapper = io.TextIOWrapper(sys.stdin.buffer, **options)
            stack.callback(wrapper.detach)  # leave the process's stdin open
            return wrapper
        try:
            return stack.enter_context(open(name, **options))
        except FileNotFoundError:
            raise CommandError(f"input file not found: {name}") from None
        except OSError as error:
            raise CommandError(f"cannot read {name}: {error.strerror}") from None

    def _open_output(self, name: str, stack: ExitStack) -> Callable[[str], object]:
        if name == "-":
            return lambda chunk: self.stdout.write(chunk, ending="")
        try:
            handle = stack.enter_context(open(name, "w", encoding="utf-8", newline="\n"))  # noqa: SIM115
        except OSError as error:
            raise CommandError(f"cannot write {name}: {error.strerror}") from None
        return handle.write
