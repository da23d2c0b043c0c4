"""The topic tree: average linkage over the topics' own representations, cut
into groups, printed and serialised; after a merge it continues the tree."""
import json

import numpy
import pytest
import spacy
import torch

from spacy_textvae.errors import TextVAEError
from spacy_textvae.layers import topic_vectors
from spacy_textvae.nn import build_text_vae
from spacy_textvae.topic_tree import TopicTree, average_linkage, build_topic_tree, cosine_distances

from .conftest import SMALL_CONFIG


@pytest.fixture()
def pipe_copy(trained):
    nlp, _ = trained
    copy = spacy.blank("en")
    copy.add_pipe("textvae", config=SMALL_CONFIG)
    copy.from_bytes(nlp.to_bytes())
    return copy, copy.get_pipe("textvae")


def test_average_linkage_merges_the_closest_pairs_first():
    # Items 0, 2 close; 1, 3 close; the pairs far apart.
    d = numpy.array([[0, 9, 1, 8], [9, 0, 7, 2], [1, 7, 0, 9], [8, 2, 9, 0]], dtype=float)
    merges = average_linkage(d)
    assert merges[0] == (0, 2, 1.0)
    assert merges[1] == (1, 3, 2.0)
    # The average of the four cross distances 9, 8, 7, 9.
    assert merges[2][:2] == (4, 5) and merges[2][2] == pytest.approx(8.25)


def test_average_linkage_from_groups_uses_mean_member_distances():
    d = numpy.array([[0, 9, 1, 8], [9, 0, 7, 2], [1, 7, 0, 9], [8, 2, 9, 0]], dtype=float)
    merges = average_linkage(d, numpy.array([0, 1, 0, 2]))
    # Groups {0, 2}, {1}, {3}: {1}-{3} at 2, then mean of 9, 8, 7, 9.
    assert merges[0] == (1, 2, 2.0)
    assert merges[1][2] == pytest.approx(8.25)


def test_cosine_distances():
    d = cosine_distances(numpy.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]]))
    assert d == pytest.approx(numpy.array([[0, 1, 2], [1, 0, 1], [2, 1, 0]]))


def test_topic_representations_are_the_decoders_own():
    torch.manual_seed(0)
    kw = dict(n_inputs=4, n_vocab=7, n_topics=3, n_clusters=3, hidden_width=8, dropout=0.0, use_counts=True,
              word_dropout=0.0, decoder_temperature=0.5, ecr_weight=0.0, decoder_batchnorm=True,
              background=None, cluster_means="topics", pooled_weight=0.0)
    linear = build_text_vae(decoder="linear", word_embeddings=None, **kw)
    assert torch.equal(linear.topic_vectors(), linear.decoder.topic_words.beta.detach())
    emb = build_text_vae(decoder="embedding", word_embeddings=torch.randn(7, 5), **kw)
    assert torch.equal(emb.topic_vectors(), emb.decoder.topic_words.topic_embeddings.detach())


def test_tree_of_a_trained_pipeline(trained):
    nlp, _ = trained
    pipe = nlp.get_pipe("textvae")
    k = pipe.n_topics
    tree = pipe.topic_tree(top_n=4)
    assert tree.n_topics == k and len(tree.nodes) == 2 * k - 1
    assert sorted(tree.root.topics) == list(range(k))
    for node in tree.nodes[:k]:
        assert node.is_leaf and node.topics == [node.id] and node.distance == 0.0
    distances = [node.distance for node in tree.nodes[k:]]
    # Average linkage never inverts: each merge is at least as far as the last.
    assert distances == sorted(distances)
    for node in tree.nodes[k:]:
        a, b = node.children
        assert node.topics == sorted(tree.nodes[a].topics + tree.nodes[b].topics)
        assert len(node.words) == 4 and len(set(node.words)) == 4
    # The first merge is the closest pair of topic points.
    d = cosine_distances(topic_vectors(pipe.model))
    numpy.fill_diagonal(d, numpy.inf)
    first = tree.nodes[k]
    assert d[first.children[0], first.children[1]] == pytest.approx(d.min())
    assert first.distance == pytest.approx(d.min())


def test_leaf_words_are_the_topics_most_relevant_words(trained):
    nlp, _ = trained
    pipe = nlp.get_pipe("textvae")
    tree = pipe.topic_tree(top_n=3)
    log_probs = numpy.log(pipe.topic_word_matrix())
    scores = pipe.topic_word_scores(relevance=pipe.topic_word_relevance)
    for k in range(pipe.n_topics):
        expected = [pipe.topic_vocab.words[j] for j in numpy.argsort(-scores[k], kind="stable")[:3]]
        assert tree.nodes[k].words == expected
    # The root's words come from the mixture of all topics.
    mix = numpy.exp(log_probs).mean(axis=0)
    root_scores = numpy.log(mix) - (1 - pipe.topic_word_relevance) * pipe.topic_vocab.log_frequencies()
    assert tree.root.words == [pipe.topic_vocab.words[j] for j in numpy.argsort(-root_scores, kind="stable")[:3]]


def test_cut_text_and_json(trained):
    nlp, _ = trained
    tree = nlp.get_pipe("textvae").topic_tree()
    k = tree.n_topics
    assert tree.cut(k) == [[t] for t in range(k)]
    assert tree.cut(1) == [list(range(k))]
    groups = tree.cut(3)
    assert len(groups) == 3 and sorted(sum(groups, [])) == list(range(k))
    first = tree.nodes[k]
    assert sorted(first.topics) in tree.cut(k - 1)
    for bad in (0, k + 1, "2", True):
        with pytest.raises(TextVAEError, match="n must be an integer"):
            tree.cut(bad)
    lines = str(tree).splitlines()
    assert len(lines) == 2 * k - 1
    assert sum(line.lstrip().startswith("topic ") for line in lines) == k
    assert lines[0].startswith(f"[{tree.root.id}] d=")
    # Children are indented one level below their parent.
    assert all(line.startswith("  ") for line in lines[1:])
    data = json.loads(tree.to_json())
    assert data["root"] == 2 * k - 2 and len(data["nodes"]) == 2 * k - 1
    assert TopicTree.from_dict(data) == tree


def test_tree_after_a_merge_continues_the_tree(pipe_copy):
    _, pipe = pipe_copy
    k = pipe.n_topics
    before = pipe.topic_tree()
    first = before.nodes[k]
    pipe.merge_topics([first.topics])
    after = pipe.topic_tree()
    assert after.n_topics == k - 1 and pipe.n_doc_topics == k - 1
    assert [n.distance for n in after.nodes[k - 1:]] == pytest.approx([n.distance for n in before.nodes[k + 1:]])
    # Its root holds the same words: the mixture of the same VAE topics.
    assert after.root.words == before.root.words


def test_build_tree_of_one_topic():
    tree = build_topic_tree(numpy.eye(2), numpy.log(numpy.full((2, 3), 1 / 3)), numpy.zeros(3), ["a", "b", "c"],
                            merge_map=numpy.array([0, 0]), top_n=2)
    assert tree.n_topics == 1 and len(tree.nodes) == 1 and tree.cut(1) == [[0]]
    assert str(tree) == "topic 0: a b"


def test_uninitialized_component_raises_e109():
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("textvae", config=SMALL_CONFIG)
    for call in (pipe.topic_tree, lambda: pipe.merge_topics([[0, 1]]), lambda: pipe.reduce_topics(2),
                 lambda: pipe.sample_words(topics=[1, 0, 0, 0, 0, 0])):
        with pytest.raises(TextVAEError, match="E109"):
            call()


def readme_python_block(heading: str) -> str:
    """The first ```python block after `heading` in README.md."""
    from pathlib import Path

    lines = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf8").splitlines()
    start = lines.index(heading)
    opening = next(i for i in range(start, len(lines)) if lines[i].strip() == "```python")
    closing = next(i for i in range(opening + 1, len(lines)) if lines[i].strip() == "```")
    return "\n".join(lines[opening + 1 : closing])


def test_readme_example_runs_after_the_quickstart(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the quickstart saves a pipeline in the working directory
    namespace: dict = {}
    exec(readme_python_block("## Quickstart (Python)"), namespace)
    exec(readme_python_block("Topic tree, merging, generation and groups:"), namespace)
    pipe, nlp = namespace["textvae"], namespace["nlp"]
    assert pipe.n_doc_topics == 3 and nlp("The chef baked bread.")._.topics.shape == (3,)
    out = capsys.readouterr().out
    assert "topic 0:" in out and "2024-0" not in out
    assert len(namespace["z"]) == 3
