"""benchmarks/speed.py on a tiny corpus: every setup runs, the threads
comparison's processes report their thread counts, and the report has the ratios."""
import argparse
import json

from benchmarks import speed

from .conftest import make_corpus


def test_speed_report_on_a_tiny_corpus(tmp_path):
    texts, _ = make_corpus(n_per_theme=10, seed=1)
    setups = speed.inference_setups([speed.ROOT / "configs" / "cpu.cfg"], texts, texts[:20], steps=2, batch_size=8)
    assert list(setups) == ["tokenizer", "cpu.cfg", "upstream tok2vec", "upstream tok2vec + textvae (listener)"]
    inference = speed.alternate(setups, runs=1)
    demo = tmp_path / "demo.jsonl"
    demo.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf8")
    threads = speed.thread_runs(demo, updates=1, runs=1)
    assert threads["OMP_NUM_THREADS=1"]["threads"] == [1]
    assert all(len(rec["train"]) == 1 for rec in threads.values())
    memory = {256: {"peak_mib": 10.0, "dense_mib": 9.8, "n_vocab": 10000}}
    args = argparse.Namespace(n_docs=20, runs=1, batch_size=8, thread_updates=1)
    text = speed.report(args, inference, threads, memory)
    assert "| cpu.cfg |" in text and "textvae on a shared upstream tok2vec: time ×" in text
    assert "torch_threads = 0" in text and "| 256 | 10.0 | 9.8 |" in text
