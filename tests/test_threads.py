"""Inference shared between threads: the same outputs as one thread, and no
model state changes, whatever mode the torch module is in."""
import threading

import numpy
import pytest

from .conftest import SMALL_CONFIG, train


def model_state(nlp):
    module = nlp.get_pipe("textvae").torch_module
    state = {f"torch.{k}": v.detach().clone().numpy() for k, v in module.state_dict().items()}
    for node in nlp.get_pipe("textvae").model.walk():
        for name in node.param_names:
            if node.has_param(name):
                state[f"{node.id}.{name}"] = numpy.array(node.get_param(name))
    state["buffer_count"] = numpy.asarray(module.buffer_count)
    return state


@pytest.fixture(scope="module")
def threaded_nlp(corpus):
    import spacy

    texts, _ = corpus
    nlp = spacy.blank("en")
    nlp.add_pipe("textvae", config=SMALL_CONFIG)
    train(nlp, texts, epochs=3)
    return nlp


@pytest.mark.parametrize("module_mode", ["eval", "train"])
def test_eight_threads_give_the_single_thread_outputs(threaded_nlp, corpus, module_mode):
    nlp = threaded_nlp
    texts, _ = corpus
    expected = [(d._.latent, d._.cluster_probs) for d in nlp.pipe(texts, batch_size=16)]
    before = model_state(nlp)
    # Whatever global mode the module was left in (thinc's shim flips it):
    # inference must not read it.
    getattr(nlp.get_pipe("textvae").torch_module, module_mode)()
    results, errors = {}, []
    start = threading.Barrier(8)

    def work(i):
        try:
            start.wait()
            for _ in range(3):
                out = [(d._.latent, d._.cluster_probs) for d in nlp.pipe(texts, batch_size=16)]
            results[i] = out
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 8
    for out in results.values():
        for (lat, probs), (lat0, probs0) in zip(out, expected):
            numpy.testing.assert_array_equal(lat, lat0)
            numpy.testing.assert_array_equal(probs, probs0)
    after = model_state(nlp)
    assert before.keys() == after.keys()
    for key in before:
        numpy.testing.assert_array_equal(before[key], after[key], err_msg=key)
    # Single-threaded outputs afterwards are exactly the ones before.
    again = [(d._.latent, d._.cluster_probs) for d in nlp.pipe(texts, batch_size=16)]
    for (lat, probs), (lat0, probs0) in zip(again, expected):
        numpy.testing.assert_array_equal(lat, lat0)
        numpy.testing.assert_array_equal(probs, probs0)


def test_inference_while_the_module_is_in_train_mode_changes_nothing(threaded_nlp, corpus):
    nlp = threaded_nlp
    texts, _ = corpus
    pipe = nlp.get_pipe("textvae")
    before = model_state(nlp)
    pipe.torch_module.train()
    try:
        docs = list(nlp.pipe(texts[:20]))
        assert pipe.topic_words(5)
    finally:
        pipe.torch_module.eval()
    after = model_state(nlp)
    for key in before:
        numpy.testing.assert_array_equal(before[key], after[key], err_msg=key)
    for doc in docs:
        numpy.testing.assert_allclose(doc._.topics.sum(), 1.0, atol=1e-5)
