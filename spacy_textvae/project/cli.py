"""Command-line steps of the spaCy project (`project.yml`): turn raw text into
spaCy's binary corpora, evaluate a trained pipeline, print its topics, write
its HTML report, write the demo corpus, convert the 20 Newsgroups archive, and put a packaged
pipeline's wheel and the plugin's own wheel in one folder.

The commands are also spaCy CLI commands, `python -m spacy textvae ...`: the
`spacy_cli` entry point makes spaCy import this module when its CLI starts,
as spacy-huggingface-hub does. `python -m spacy textvae --help` lists them.
"""
from pathlib import Path
from typing import Optional

import srsly
import typer
from wasabi import msg

from ..errors import TextVAEError
from .corpus import DEFAULT_SHARD_SIZE, preprocess_corpus
from .html_report import DEFAULT_MAX_POINTS
from .newsgroups import convert_20newsgroups
from .reports import evaluate_pipeline, topic_report

app = typer.Typer(
    name="textvae",
    help="spacy-textvae: preprocess raw text, evaluate a pipeline (every textvae score), print its topics, "
    "write its HTML report, "
    "write the demo corpus, convert 20 Newsgroups, gather a packaged pipeline's wheels.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
Arg = typer.Argument
Opt = typer.Option


def _setup_gpu(gpu_id: int) -> None:
    if gpu_id >= 0:
        import spacy

        spacy.require_gpu(gpu_id)


def _save_json(path: Path, data: object, what: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(path, data)
    msg.good(f"Saved {what} to {path}")


def _fail(e: Exception) -> None:
    msg.fail(str(e), exits=1)


@app.command("preprocess")
def preprocess_cli(
    input_path: Path = Arg(..., help="JSONL or CSV/TSV file (optionally .gz), or a folder of .txt files (labelled by sub-folder)", exists=True),
    train_output: Path = Arg(..., help="Output .spacy file for training, e.g. corpus/train.spacy"),
    dev_output: Path = Arg(..., help="Output .spacy file for evaluation, e.g. corpus/dev.spacy"),
    dev_input: Optional[Path] = Opt(None, "--dev-input", help="Separate input for the dev docs (e.g. a test split). Default, or the same path as INPUT_PATH: hold out --dev-share of INPUT_PATH"),
    dev_share: float = Opt(0.2, "--dev-share", help="Share of INPUT_PATH held out for dev when there is no --dev-input"),
    seed: int = Opt(0, "--seed", help="Seed of the train/dev split"),
    text_field: str = Opt("text", "--text-field", help="JSON field or CSV column with the text"),
    label_field: str = Opt("label", "--label-field", help="JSON field or CSV column with a gold label (stored in doc.cats, used only for evaluation); '' for none"),
    input_format: str = Opt("auto", "--format", help="Input format: auto (from the file name), jsonl, csv or txt"),
    encoding: str = Opt("utf-8", "--encoding", help="Text encoding of the input files"),
    lang: str = Opt("en", "--lang", help="Language of the tokenizer"),
    limit: int = Opt(0, "--limit", help="Use at most this many docs per input (0: all)"),
    shard_size: int = Opt(DEFAULT_SHARD_SIZE, "--shard-size", help="Docs per .spacy file; a larger split becomes a folder of shards (0: one file)"),
    group_field: str = Opt("", "--group-field", help="JSON field or CSV column with a group (source, author), kept in doc.user_data['group'] for the report's topics per group; '' for none"),
    date_field: str = Opt("", "--date-field", help="JSON field or CSV column with an ISO date, kept in doc.user_data['date'] for the report's topics over time; '' for none"),
) -> None:
    """Turn raw text into spaCy's binary training and dev corpora."""
    try:
        summary = preprocess_corpus(
            input_path, train_output, dev_output, dev_input=dev_input, dev_share=dev_share,
            seed=seed, text_field=text_field, label_field=label_field, input_format=input_format,
            encoding=encoding, lang=lang, limit=limit, shard_size=shard_size,
            group_field=group_field or None, date_field=date_field or None,
        )
    except TextVAEError as e:
        _fail(e)
        return
    msg.good(f"Wrote {summary['train']} training docs to {train_output}")
    msg.good(f"Wrote {summary['dev']} dev docs to {dev_output}")
    if summary["labels"]:
        rows = [(lab, summary["train_labels"].get(lab, 0), summary["dev_labels"].get(lab, 0)) for lab in summary["labels"]]
        msg.table(rows, header=("gold label (doc.cats)", "train", "dev"), divider=True)
    else:
        msg.info("No gold labels found: clustering scores (NMI/ARI/purity) will not be reported.")
    if summary["skipped_lines"]:
        msg.warn(f"Skipped {sum(summary['skipped'].values())} record(s):", "\n".join(summary["skipped_lines"]))


@app.command("evaluate")
def evaluate_cli(
    model: str = Arg(..., help="Trained pipeline directory (e.g. training/model-best) or package name"),
    data_path: Path = Arg(..., help="Evaluation corpus (.spacy file or folder)", exists=True),
    output: Optional[Path] = Arg(None, help="JSON file for the scores, e.g. metrics/scores.json"),
    gpu_id: int = Opt(-1, "--gpu-id", "-g", help="GPU id, or -1 for CPU"),
    batch_size: int = Opt(64, "--batch-size", help="Docs per batch"),
) -> None:
    """Score a trained pipeline on a corpus and save every score its components
    report (textvae: NPMI, diversity, perplexity and, with gold labels, cluster
    NMI/ARI/purity)."""
    _setup_gpu(gpu_id)
    try:
        scores = evaluate_pipeline(model, data_path, batch_size=batch_size)
    except TextVAEError as e:
        _fail(e)
        return
    rows = [(k, f"{v:.4f}" if isinstance(v, float) else v) for k, v in scores.items() if isinstance(v, (int, float)) or v is None]
    msg.table(rows, header=("score", "value"), divider=True, title="Results")
    if output is not None:
        _save_json(output, scores, "scores")


@app.command("topics")
def topics_cli(
    model: str = Arg(..., help="Trained pipeline directory (e.g. training/model-best) or package name"),
    data_path: Path = Arg(..., help="Corpus to count topic sizes on (.spacy file or folder)", exists=True),
    output: Optional[Path] = Arg(None, help="JSON file for the topics, e.g. metrics/topics.json"),
    top_n: int = Opt(10, "--top-n", "-n", help="Words per topic"),
    component: Optional[str] = Opt(None, "--component", help="Name of the textvae component (default: the first)"),
    gpu_id: int = Opt(-1, "--gpu-id", "-g", help="GPU id, or -1 for CPU"),
    batch_size: int = Opt(64, "--batch-size", help="Docs per batch"),
) -> None:
    """Print (and save) each topic's top words and size: the number of docs whose
    largest topic it is."""
    _setup_gpu(gpu_id)
    try:
        report = topic_report(model, data_path, top_n=top_n, component=component, batch_size=batch_size)
    except TextVAEError as e:
        _fail(e)
        return
    rows = []
    for t in report["topics"]:
        labels = ", ".join(f"{k} {v}" for k, v in t["labels"].items())
        rows.append((t["id"], t["size"], " ".join(t["words"]), labels))
    msg.divider(f"Topics of '{report['component']}' on {report['n_docs']} docs ({data_path})")
    header = ("topic", "size", f"top {top_n} words", "gold labels of its docs")
    msg.table(rows, header=header, divider=True, aligns=("r", "r", "l", "l"), max_col=200)
    if output is not None:
        _save_json(output, report, "topics")


@app.command("report")
def report_cli(
    model: str = Arg(..., help="Trained pipeline directory (e.g. training/model-best) or package name"),
    data_path: Path = Arg(..., help="Corpus to report on (.spacy file or folder), e.g. corpus/dev.spacy", exists=True),
    output: Path = Arg(..., help="HTML file to write, e.g. metrics/report.html"),
    component: Optional[str] = Opt(None, "--component", help="Name of the textvae component (default: the first)"),
    top_n: int = Opt(10, "--top-n", "-n", help="Words per topic"),
    max_points: int = Opt(DEFAULT_MAX_POINTS, "--max-points", help="Most documents on the map; above it the map shows a seeded random sample (and says so)"),
    seed: int = Opt(0, "--seed", help="Seed of the map's sample"),
    gpu_id: int = Opt(-1, "--gpu-id", "-g", help="GPU id, or -1 for CPU"),
    batch_size: int = Opt(64, "--batch-size", help="Docs per batch"),
) -> None:
    """Write a self-contained HTML report (it opens offline and requests
    nothing): each topic's top words as bars, its size and its most
    representative docs; a map of the docs' latents coloured by cluster; the
    topic-similarity heatmap; clusters against gold labels; the scores; and a
    few docs with their topic words marked."""
    from .html_report import write_report

    _setup_gpu(gpu_id)
    try:
        report = write_report(
            model, data_path, output, component=component or None, top_n=top_n, max_points=max_points,
            seed=seed, batch_size=batch_size,
        )
    except TextVAEError as e:
        _fail(e)
        return
    shown = len(report["map"]["points"])
    sample = f" (a seeded sample of {shown} on the map)" if report["map"]["sampled"] else ""
    msg.good(f"Saved the report on {report['n_docs']} docs{sample} to {output}")


@app.command("demo-corpus")
def demo_corpus_cli(
    output: Path = Arg(..., help="JSONL file to write, e.g. assets/demo.jsonl"),
    n_docs: int = Opt(800, "--n-docs", help="Number of documents"),
    seed: int = Opt(0, "--seed", help="Seed of the generator"),
) -> None:
    """Write the demo corpus: short English documents over eight themes (space,
    cooking, football, finance, medicine, music, computers, gardening), each with
    its theme as "label"."""
    from .demo_corpus import write_demo_corpus

    try:
        n = write_demo_corpus(output, n_docs=n_docs, seed=seed)
    except TextVAEError as e:
        _fail(e)
        return
    msg.good(f"Wrote {n} demo documents to {output}")


@app.command("convert-20ng")
def convert_20ng_cli(
    archive: Path = Arg(..., help="The 20news-bydate.tar.gz archive"),
    output_dir: Path = Arg(..., help="Folder for train.jsonl.gz and test.jsonl.gz"),
) -> None:
    """Convert the 20 Newsgroups "bydate" archive into JSONL (id, label, raw,
    text), with text cleaned of headers, footers and quotes as scikit-learn does."""
    try:
        counts = convert_20newsgroups(archive, output_dir)
    except TextVAEError as e:
        _fail(e)
        return
    for split, n in counts.items():
        msg.good(f"Wrote {n} {split} posts to {output_dir / (split + '.jsonl.gz')}")


@app.command("wheels")
def wheels_cli(
    package_dir: Optional[Path] = Arg(None, help="Folder `spacy package` made for the pipeline, e.g. packages/en_textvae_demo-0.0.1 (omit it for the plugin's wheel only)"),
    wheel_dir: Path = Opt(Path("packages/wheels"), "--output", "-o", help="The one folder to install from"),
    source: Optional[Path] = Opt(None, "--source", help="spacy-textvae source folder to build the plugin's wheel from (default: that of the spacy_textvae in use)"),
) -> None:
    """Put the pipeline package's wheel and the plugin's own wheel in one folder,
    so that `pip install --no-index --find-links WHEEL_DIR en_<name>` installs
    the pipeline in a fresh environment, offline (spacy-textvae is not on PyPI)."""
    from .packaging import collect_wheels

    try:
        files = collect_wheels(package_dir, wheel_dir, source=source)
    except TextVAEError as e:
        _fail(e)
        return
    for path in files:
        msg.good(f"Saved {path.name} to {wheel_dir}")
    msg.info(f"Install offline with: pip install --no-index --find-links {wheel_dir} {' '.join(str(f) for f in files)}")


def _ray_init(address: Optional[str]) -> None:
    from ..ray._ray import require_ray

    ray = require_ray()
    if not ray.is_initialized():
        ray.init(address=address or None)


@app.command("ray-annotate")
def ray_annotate_cli(
    model: str = Arg(..., help="Trained pipeline directory (readable from every node) or package name"),
    input_path: Path = Arg(..., help="JSONL or Parquet file, or a folder of them", exists=True),
    output: Path = Arg(..., help="Folder for the Parquet files"),
    text_column: str = Opt("text", "--text-column", help="Column (JSON field) with the texts"),
    concurrency: Optional[int] = Opt(None, "--concurrency", help="Actors (default: one per --num-gpus of the cluster's GPUs, or one per --num-cpus of its CPUs less one)"),
    num_cpus: float = Opt(1.0, "--num-cpus", help="CPUs per actor"),
    num_gpus: Optional[float] = Opt(None, "--num-gpus", help="GPUs per actor (default: none)"),
    batch_size: int = Opt(256, "--batch-size", help="Rows per batch"),
    address: Optional[str] = Opt(None, "--address", help="Ray cluster to join, e.g. auto (default: RAY_ADDRESS, else a local Ray)"),
) -> None:
    """Annotate texts on a Ray cluster: every row gets the columns latent,
    topics, cluster and cluster_probs, written as Parquet (input columns kept)."""
    from ..ray import annotate, read_texts

    try:
        _ray_init(address)
        texts = read_texts(input_path)
        columns = texts.schema().names
        if text_column not in columns:
            raise TextVAEError(f"{input_path} has no column {text_column!r} (its columns: {sorted(columns)}). Pass --text-column.")
        dataset = annotate(
            texts, model, text_column, concurrency=concurrency,
            num_cpus=num_cpus, num_gpus=num_gpus, batch_size=batch_size,
        )
        dataset.write_parquet(str(output))
    except TextVAEError as e:
        _fail(e)
        return
    msg.good(f"Saved the annotated rows to {output}")


@app.command(
    "ray-train",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def ray_train_cli(
    ctx: typer.Context,
    config_path: Path = Arg(..., help="Training config, as for spacy train", exists=True, dir_okay=False),
    output: Path = Opt(..., "--output", "-o", help="Folder for model-best and model-last"),
    num_workers: int = Opt(2, "--num-workers", "-n", help="Ray Train workers (the config's batch size is per worker)"),
    cpus_per_worker: float = Opt(1.0, "--cpus-per-worker", help="CPUs per worker"),
    use_gpu: bool = Opt(False, "--gpu", help="One GPU per worker"),
    storage_path: Optional[Path] = Opt(None, "--storage-path", help="Where Ray Train keeps its run files (default: a temporary folder, removed)"),
    code_path: Optional[Path] = Opt(None, "--code", "-c", help="Python file with registered functions the config uses (imported in every worker)"),
    address: Optional[str] = Opt(None, "--address", help="Ray cluster to join, e.g. auto (default: RAY_ADDRESS, else a local Ray)"),
) -> None:
    """Train data-parallel on a Ray cluster: each worker trains on its own
    shard, gradients are averaged every step, model-best and model-last are
    saved as spacy train saves them. Config overrides as for spacy train,
    e.g. --paths.train corpus/train.spacy."""
    from spacy.cli._util import parse_config_overrides

    from ..ray import train

    try:
        overrides = parse_config_overrides(ctx.args)
        _ray_init(address)
        result = train(
            config_path, output, num_workers=num_workers, overrides=overrides,
            use_gpu=use_gpu, cpus_per_worker=cpus_per_worker, storage_path=storage_path, code_path=code_path,
        )
    except TextVAEError as e:
        _fail(e)
        return
    if result["scores"]:
        step, score = result["scores"][-1]
        msg.info(f"Last evaluation: step {step}, score {score:.4f}")
    msg.good(f"Saved the pipeline to {output}")


def _add_to_spacy_cli() -> None:
    """Add the commands to spaCy's own CLI as `spacy textvae ...` (once)."""
    from spacy.cli import app as spacy_app

    if not any(group.typer_instance is app for group in spacy_app.registered_groups):
        spacy_app.add_typer(app, name="textvae")


_add_to_spacy_cli()


if __name__ == "__main__":
    app()
