"""Topics of single words: p(k | w, d), spans per run of words, displaCy."""
import numpy
from spacy import displacy
from spacy.tokens import DocBin

from spacy_textvae.token_topics import token_topic_probs, topic_runs

from .conftest import SMALL_CONFIG


def test_token_topic_probs_is_the_posterior_of_the_mixture():
    rng = numpy.random.default_rng(0)
    topics = rng.dirichlet(numpy.ones(3), size=2).astype("float32")
    word_probs = rng.dirichlet(numpy.ones(5), size=3)
    doc_ids, cols = numpy.asarray([0, 0, 1]), numpy.asarray([4, 1, 1])
    probs = token_topic_probs(topics, numpy.log(word_probs), doc_ids, cols)
    for row, d, w in zip(probs, doc_ids, cols):
        expected = topics[d] * word_probs[:, w]
        numpy.testing.assert_allclose(row, expected / expected.sum(), rtol=1e-5)
    assert token_topic_probs(topics, numpy.log(word_probs), doc_ids[:0], cols[:0]).shape == (0, 3)


def test_topic_runs_merge_adjacent_words_of_one_topic():
    doc_ids = numpy.asarray([0, 0, 0, 0, 1, 1])
    positions = numpy.asarray([0, 1, 3, 4, 0, 1])
    top = numpy.asarray([2, 2, 2, 1, 1, 1])
    docs, starts, ends, topics = topic_runs(doc_ids, positions, top)
    runs = list(zip(docs.tolist(), starts.tolist(), ends.tolist(), topics.tolist()))
    assert runs == [(0, 0, 2, 2), (0, 3, 4, 2), (0, 4, 5, 1), (1, 0, 2, 1)]


def test_every_topic_word_is_attributed(trained, corpus):
    nlp, _ = trained
    texts, _ = corpus
    pipe = nlp.get_pipe("textvae")
    vocab = set(pipe.topic_vocab.words)
    labels = {pipe.topic_label(k) for k in range(SMALL_CONFIG["n_topics"])}
    for doc in nlp.pipe(texts[:10]):
        in_vocab = [t for t in doc if t.lower_ in vocab]
        assert in_vocab
        for token in doc:
            probs = token._.topic_probs
            if token.lower_ in vocab:
                assert probs.shape == (SMALL_CONFIG["n_topics"],) and abs(float(probs.sum()) - 1.0) < 1e-2
            else:
                assert probs is None
        covered = {t.i for span in doc.spans["textvae"] for t in span}
        assert covered == {t.i for t in in_vocab}
        for span in doc.spans["textvae"]:
            assert span.label_ in labels
            tops = {int(numpy.argmax(t._.topic_probs)) for t in span}
            assert len(tops) == 1 and span.label_ == pipe.topic_label(tops.pop())
    # Words of a theme lean to that theme's topics: "rocket" and "chef" differ.
    doc = nlp("The rocket launch. The chef baked bread.")
    assert int(numpy.argmax(doc[1]._.topic_probs)) != int(numpy.argmax(doc[5]._.topic_probs))


def test_token_topics_travel_and_render(trained, corpus):
    nlp, _ = trained
    texts, _ = corpus
    docs = list(nlp.pipe(texts[:4]))
    data = DocBin(store_user_data=True, docs=docs).to_bytes()
    loaded = list(DocBin(store_user_data=True).from_bytes(data).get_docs(nlp.vocab))
    for a, b in zip(docs, loaded):
        assert [(s.start, s.end, s.label_) for s in a.spans["textvae"]] == [(s.start, s.end, s.label_) for s in b.spans["textvae"]]
        for ta, tb in zip(a, b):
            if ta._.topic_probs is None:
                assert tb._.topic_probs is None
            else:
                numpy.testing.assert_array_equal(ta._.topic_probs, tb._.topic_probs)
    multi = list(nlp.pipe(texts[:4], n_process=2, batch_size=2))
    assert [len(d.spans["textvae"]) for d in multi] == [len(d.spans["textvae"]) for d in docs]
    html = displacy.render(docs[0], style="span", options={"spans_key": "textvae"}, page=False)
    assert docs[0].spans["textvae"][0].label_ in html


def test_empty_doc_has_no_token_topics(trained):
    nlp, _ = trained
    doc = nlp("")
    assert len(doc.spans["textvae"]) == 0
