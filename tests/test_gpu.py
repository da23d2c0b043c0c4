"""GPU: the torch module and every tensor stay on the device. Skipped without CUDA."""
import numpy
import pytest
import spacy

from .conftest import SMALL_CONFIG, make_corpus, train

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


@pytest.fixture
def gpu():
    spacy.require_gpu()
    yield
    spacy.require_cpu()


@pytest.mark.parametrize("mixed_precision", [False, True])
def test_train_and_predict_on_gpu(gpu, tmp_path, mixed_precision):
    import cupy

    texts, _ = make_corpus(n_per_theme=10)
    nlp = spacy.blank("en")
    nlp.add_pipe("textvae", config={**SMALL_CONFIG, "model": {"mixed_precision": mixed_precision}})
    history = train(nlp, texts, epochs=5)
    assert all(numpy.isfinite(history))
    pipe = nlp.get_pipe("textvae")
    module = pipe.torch_module
    assert all(p.device.type == "cuda" for p in module.parameters())
    assert all(b.device.type == "cuda" for b in module.buffers())
    output = pipe.model.predict([nlp.make_doc(t) for t in texts[:4]])
    # Outputs stay on the device (cupy) until set_annotations copies once per batch.
    assert isinstance(output.latent, cupy.ndarray) and isinstance(output.loss, cupy.ndarray)
    doc = nlp(texts[0])
    assert isinstance(doc._.latent, numpy.ndarray) and abs(float(doc._.topics.sum()) - 1) < 1e-5
    nlp.to_disk(tmp_path / "model")
    nlp2 = spacy.load(tmp_path / "model")
    numpy.testing.assert_allclose(nlp2(texts[0])._.latent, doc._.latent, atol=1e-4)
