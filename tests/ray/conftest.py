"""A local Ray instance of 2 CPUs for the module, and a small trained pipeline saved to disk."""
import pytest
import spacy
from spacy.tokens import DocBin

from ..conftest import SMALL_CONFIG, make_corpus, train

TRAIN_CONFIG = """
[paths]
train = null
dev = null

[nlp]
lang = "en"
pipeline = ["textvae"]
batch_size = 64

[components]

[components.textvae]
factory = "textvae"
n_topics = 6
n_clusters = 3

[components.textvae.model]
@architectures = "spacy-textvae.TextVAE.v4"
hidden_width = 32
word_embedding_width = 16

[components.textvae.model.tok2vec]
@architectures = "spacy.HashEmbedCNN.v2"
pretrained_vectors = null
width = 32
depth = 1
embed_size = 500
window_size = 1
maxout_pieces = 2
subword_features = false

[corpora]

[corpora.train]
@readers = "spacy.Corpus.v1"
path = ${paths.train}

[corpora.dev]
@readers = "spacy.Corpus.v1"
path = ${paths.dev}

[training]
max_steps = 12
eval_frequency = 6
seed = 0
dropout = 0.0

[training.batcher]
@batchers = "spacy.batch_by_sequence.v1"
size = 16

[training.optimizer]
@optimizers = "Adam.v1"
learn_rate = 0.002
L2 = 0.0
use_averages = false

[training.score_weights]
textvae_npmi = 0.5
textvae_diversity = 0.5
"""


@pytest.fixture(scope="module")
def ray_local():
    """Ray on 2 CPUs, as CI has (shut down after the module)."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """(path, texts): a small textvae pipeline trained on the themed corpus, on disk."""
    texts, _ = make_corpus(n_per_theme=10)
    nlp = spacy.blank("en")
    nlp.add_pipe("textvae", config=SMALL_CONFIG)
    train(nlp, texts, epochs=3)
    path = tmp_path_factory.mktemp("ray_model") / "model"
    nlp.to_disk(path)
    return path, texts


@pytest.fixture(scope="module")
def train_corpus(tmp_path_factory):
    """The config and train/dev corpora of a short training run, on disk."""
    path = tmp_path_factory.mktemp("ray_train")
    texts, _ = make_corpus(n_per_theme=12)
    nlp = spacy.blank("en")
    for name, chunk in (("train", texts[:32]), ("dev", texts[32:])):
        DocBin(docs=[nlp.make_doc(t) for t in chunk]).to_disk(path / f"{name}.spacy")
    write_filled_config(path / "config.cfg")
    return path


def write_filled_config(path):
    """The training config with every default filled in, as `spacy init fill-config` writes it."""
    from spacy.cli.init_config import fill_config

    partial = path.with_name("partial.cfg")
    partial.write_text(TRAIN_CONFIG, encoding="utf8")
    fill_config(path, partial, silent=True)
    return path
