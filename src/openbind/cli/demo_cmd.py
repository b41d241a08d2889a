"""`openbind demo`: index the sample collection, run cross-modal queries, write an HTML report.

    openbind demo                       # starter space, report in artifacts/demo/report.html
    openbind serve --index demo         # then browse the same library in the web page

Works offline on a fresh machine: the samples are generated (`openbind.data.samples`), the
library is built once under `$OPENBIND_HOME/libraries/demo` and updated incrementally after.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import time
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

from openbind.types import Modality

if TYPE_CHECKING:
    from rich.console import Console

    from openbind.data.samples import SampleSet
    from openbind.index import Library
    from openbind.space.protocol import Space

DEFAULT_REPORT = Path("artifacts/demo/report.html")
LABELS = ("cat", "dog", "cup of coffee", "rocket", "motorcycle", "astronaut", "bouncing ball")


@dataclass(frozen=True)
class Query:
    """One demo query: what it asks with, what it searches, and the file expected first.

    Attributes:
        title: shown above the results ("text → image").
        modality: modality of the query input.
        item: the query input (text, or a sample name for media; "flip:" + name mirrors it).
        only: modality of the results.
        expect: names of the samples that count as a right first result.
    """

    title: str
    modality: str
    item: str
    only: str
    expect: tuple[str, ...]


@dataclass(frozen=True)
class Row:
    """A result of a query or a label of a classification."""

    name: str
    modality: str
    score: float
    caption: str = ""
    path: str = ""


@dataclass
class Outcome:
    """What a query returned."""

    query: Query
    rows: list[Row] = field(default_factory=list)

    @property
    def hit(self) -> bool:
        return bool(self.rows) and self.rows[0].name in self.query.expect


QUERIES = (
    Query("text → image", "text", "a cat", "image", ("images/chelsea.png",)),
    Query("text → image", "text", "a rocket", "image", ("images/rocket.jpg",)),
    Query("text → image", "text", "a cup of coffee", "image", ("images/coffee.png",)),
    Query("text → image", "text", "a motorcycle", "image", ("images/motorcycle.png",)),
    Query("image → image", "image", "flip:images/chelsea.png", "image", ("images/chelsea.png",)),
    Query("text → video", "text", "a bouncing red ball", "video", ("videos/red_ball.mp4",)),
    Query("text → video", "text", "a cat", "video", ("videos/cat_pan.mp4",)),
    Query("image → video", "image", "images/rocket.jpg", "video", ("videos/rocket_zoom.mp4",)),
)

SPEECH_FILES = ("audio/speech_cat.wav", "audio/speech_coffee.wav", "audio/speech_rocket.wav")
AUDIO_QUERIES = (
    Query("text → audio", "text", "a person speaking", "audio", SPEECH_FILES),
    Query("text → audio", "text", "white noise, static", "audio", ("audio/white_noise.wav",)),
    Query(
        "text → audio", "text", "music", "audio", ("audio/c_major_chord.wav", "audio/metronome.wav")
    ),
)

CLASSIFY = ("images/coffee.png", "images/chelsea.png", "images/rocket.jpg", "videos/red_ball.mp4")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="index sample media and show cross-modal search and zero-shot labels",
        description="Build (or reuse) the sample collection and its library, run text → image, "
        "image → image, text → video (and audio, if the space has it) queries and a zero-shot "
        "classification, print them and write an HTML report with thumbnails.",
    )
    p.add_argument("--model", default="starter", help="space to use (default: %(default)s)")
    p.add_argument("--name", default="demo", help="library name (default: %(default)s)")
    p.add_argument(
        "--report",
        type=Path,
        default=DEFAULT_REPORT,
        help="HTML report path (default: %(default)s)",
    )
    p.add_argument("-k", type=int, default=3, help="results per query (default: %(default)s)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 even when a query misses (the report says which), 1 if none hits."""
    from rich.console import Console

    console = Console()
    outcomes, _ = demo(args.model, args.name, args.report, args.k, console)
    return 0 if any(o.hit for o in outcomes) else 1


def demo(
    model: str, name: str, report: Path, k: int, console: Console
) -> tuple[list[Outcome], dict[str, list[Row]]]:
    """The whole demo; returns the query outcomes and the zero-shot labels per sample."""
    import openbind
    from openbind.data.samples import build_samples

    started = time.perf_counter()
    with console.status("building the sample collection…"):
        samples = build_samples()
    _say_samples(console, samples)
    with console.status(f"loading {model}…"):
        space = openbind.load(model)
    console.print(
        f"[bold]weights[/]: {space.model_id} ({space.dim}-d; {', '.join(m.value for m in space.modalities)}){_about(space.model_id)}"
    )
    library = _library(space, samples, name, console)
    queries = list(QUERIES)
    if "audio" in {m.value for m in space.modalities}:
        queries += AUDIO_QUERIES
    else:
        n = len(samples.by_modality("audio"))
        console.print(
            f"[yellow]audio[/]: {space.model_id} has no audio tower, so the {n} audio samples are not indexed and audio queries are skipped."
        )
    outcomes = [_search(space, library, samples, q, k) for q in queries]
    for o in outcomes:
        _print_outcome(console, o)
    labels = _classify(space, samples)
    _print_labels(console, labels)
    hits = sum(o.hit for o in outcomes)
    console.print(f"\n[bold]{hits}/{len(outcomes)}[/] queries put the expected file first.")
    _write_report(report, space.model_id, samples, outcomes, labels)
    console.print(f"report: {report.resolve()}")
    console.print(
        f"web page: [bold]openbind serve --index {name}[/] then open http://127.0.0.1:8000/"
    )
    console.print(f"done in {time.perf_counter() - started:.0f} s")
    return outcomes, labels


# -- steps ------------------------------------------------------------------------------------------


def _about(model_id: str) -> str:
    """The registry's description and licence of `model_id`, or "" for an unregistered space."""
    from openbind.errors import UnknownModel
    from openbind.registry import get

    try:
        entry = get(model_id)
    except UnknownModel:
        return ""
    return f" — {entry.description}; licence: {entry.license}"


def _say_samples(console: Console, samples: SampleSet) -> None:
    counts = {m: len(samples.by_modality(m)) for m in ("image", "video", "audio", "text")}
    summary = ", ".join(f"{n} {m}" for m, n in counts.items())
    console.print(f"[bold]samples[/]: {summary} in {samples.root}")
    for file, reason in samples.missing.items():
        console.print(f"[yellow]  not made[/]: {file} ({reason})")


def _library(space: Space, samples: SampleSet, name: str, console: Console) -> Library:
    from openbind.index import library_path
    from openbind.pipeline import build_library

    folders = {"image": "images", "video": "videos", "audio": "audio", "text": "notes"}
    have = {m.value for m in space.modalities}
    inputs = [
        samples.root / folder
        for m, folder in folders.items()
        if m in have and (samples.root / folder).is_dir()
    ]
    with console.status(f"indexing {', '.join(p.name for p in inputs)}…"):
        library, summary = build_library(space, library_path(name), inputs, progress=False)
    console.print(
        f"[bold]library[/]: {library.path} — {summary.total} items "
        f"({summary.embedded} embedded, {summary.unchanged} unchanged, {len(summary.skipped)} skipped) in {summary.seconds:.1f} s"
    )
    for s in summary.skipped:
        console.print(f"[yellow]  skipped[/]: {s.path}: {s.reason}")
    return library


def _query_input(samples: SampleSet, q: Query) -> Any:
    if q.modality == "text":
        return q.item
    if q.item.startswith("flip:"):  # a mirrored, cropped copy: not a file of the library
        from PIL import Image, ImageOps

        with Image.open(samples.path(q.item[5:])) as im:
            w, h = im.size
            return ImageOps.mirror(im.convert("RGB")).crop(
                (w // 10, h // 10, w - w // 10, h - h // 10)
            )
    return str(samples.path(q.item))


def _search(space: Space, library: Library, samples: SampleSet, q: Query, k: int) -> Outcome:
    vector = space.encode(q.modality, [_query_input(samples, q)]).numpy()
    rows = []
    for h in library.search(vector, k, modality=q.only):
        rows.append(
            Row(
                _name(samples, h.path),
                h.modality.value,
                h.score,
                samples.caption(h.path) or "",
                h.path,
            )
        )
    return Outcome(q, rows)


def _classify(space: Space, samples: SampleSet) -> dict[str, list[Row]]:
    from openbind.tasks import zero_shot

    out: dict[str, list[Row]] = {}
    for name in CLASSIFY:
        modality = samples.get(name).modality
        if modality not in space.modalities:
            continue
        result = zero_shot(space, [str(samples.path(name))], list(LABELS), modality)
        out[name] = [Row(label, modality.value, p) for label, p in result.top(3)[0]]
    return out


def _name(samples: SampleSet, path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(samples.root.resolve()))
    except ValueError:
        return path


# -- printing ---------------------------------------------------------------------------------------


def _print_outcome(console: Console, o: Outcome) -> None:
    from rich.table import Table

    q = o.query
    shown = q.item if q.modality == "text" else q.item.replace("flip:", "mirrored ")
    mark = "[green]✓[/]" if o.hit else f"[red]✗ expected {' or '.join(q.expect)}[/]"
    table = Table(title=f"{q.title}: {shown!r} {mark}", title_justify="left", expand=False)
    table.add_column("#", justify="right")
    table.add_column("file")
    table.add_column("score", justify="right")
    table.add_column("caption", style="dim")
    for i, r in enumerate(o.rows, 1):
        style = "bold" if r.name in q.expect else ""
        table.add_row(str(i), r.name, f"{r.score:.3f}", r.caption, style=style)
    console.print(table)


def _print_labels(console: Console, labels: dict[str, list[Row]]) -> None:
    from rich.table import Table

    table = Table(title="zero-shot labels", title_justify="left")
    table.add_column("file")
    table.add_column("top labels (probability)")
    for name, rows in labels.items():
        table.add_row(name, ", ".join(f"{r.name} {r.score:.0%}" for r in rows))
    console.print(table)


# -- report -----------------------------------------------------------------------------------------


def _write_report(
    path: Path,
    model: str,
    samples: SampleSet,
    outcomes: list[Outcome],
    labels: dict[str, list[Row]],
) -> None:
    """A self-contained HTML page: thumbnails are embedded, audio and video link to the files."""
    sections = []
    for o in outcomes:
        q = o.query
        query_cell = (
            html.escape(q.item)
            if q.modality == "text"
            else _media_html(
                samples, q.item.replace("flip:", ""), samples.path(q.item.replace("flip:", ""))
            )
        )
        cards = "".join(_card(samples, r, r.name in q.expect) for r in o.rows)
        verdict = "found first" if o.hit else f"expected {html.escape(' or '.join(q.expect))}"
        sections.append(
            f'<section><h2>{html.escape(q.title)} <span class="{"ok" if o.hit else "miss"}">{verdict}</span></h2>'
            f'<div class="query">query: {query_cell}</div><div class="grid">{cards}</div></section>'
        )
    label_rows = "".join(
        f"<tr><td>{_media_html(samples, n, samples.path(n))}</td><td>{html.escape(n)}</td><td>"
        + "<br>".join(f"{html.escape(r.name)}: {r.score:.1%}" for r in rows)
        + "</td></tr>"
        for n, rows in labels.items()
    )
    template = files("openbind.cli").joinpath("templates/demo_report.html").read_text("utf-8")
    page = Template(template).substitute(
        model=html.escape(model),
        root=html.escape(str(samples.root)),
        hits=sum(o.hit for o in outcomes),
        total=len(outcomes),
        sections="".join(sections),
        label_rows=label_rows,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")


def _card(samples: SampleSet, r: Row, expected: bool) -> str:
    return (
        f'<div class="card{" expected" if expected else ""}">{_media_html(samples, r.name, Path(r.path))}'
        f"<div><b>{r.score:.3f}</b> {html.escape(r.name)}<br>"
        f'<span class="muted">{html.escape(r.caption)}</span></div></div>'
    )


def _media_html(samples: SampleSet, name: str, path: Path) -> str:
    kind = samples.get(name).modality
    if kind is Modality.AUDIO:
        return (
            f'<audio controls preload="none" src="{html.escape(path.resolve().as_uri())}"></audio>'
        )
    if kind is Modality.TEXT:
        return f"<div><i>{html.escape(path.read_text(encoding='utf-8').strip())}</i></div>"
    thumb = _thumbnail(path, video=kind is Modality.VIDEO)
    return f'<img class="thumb" alt="{html.escape(name)}" src="data:image/jpeg;base64,{thumb}">'


def _thumbnail(path: Path, *, video: bool) -> str:
    """A small JPEG of an image, or of a video's middle frame, as base64."""
    from PIL import Image

    if video:
        import av

        with av.open(str(path)) as container:
            frames = [f.to_image() for f in container.decode(video=0)]
        im = frames[len(frames) // 2]
    else:
        with Image.open(path) as src:
            im = src.convert("RGB")
    im.thumbnail((320, 320))
    buf = io.BytesIO()
    im.convert("RGB").save(buf, format="JPEG", quality=80)
    return base64.b64encode(buf.getvalue()).decode("ascii")
