"""The GIL is released while C++ runs: Python threads go on meanwhile, and two engines generate
at once (each as it would alone)."""

import threading
import time

import alisa
from conftest import DEMO_MODEL

PROMPTS = ["def fibonacci(n):", "class Stack:", "import numpy as np"]


def test_a_python_thread_runs_while_generate_does():
    engine = alisa.Engine(DEMO_MODEL, device="cpu", threads=1)
    count = 0
    stop = threading.Event()

    def counter():
        nonlocal count
        while not stop.is_set():
            count += 1

    thread = threading.Thread(target=counter)
    thread.start()
    try:
        time.sleep(0.05)  # the counter is running
        before = count
        start = time.perf_counter()
        engine.generate(PROMPTS, max_new_tokens=96, stop_at_eos=False)
        seconds = time.perf_counter() - start
        during = count - before
    finally:
        stop.set()
        thread.join()
    # Holding the GIL, generate would leave the counter at most a switch interval (5 ms) of
    # counting; released, it counts through the whole call.
    assert seconds > 0.05
    assert during > 1000, f"{during} counts in {seconds:.3f} s of generate"


def test_two_engines_generate_at_once():
    engines = [alisa.Engine(DEMO_MODEL, device="cpu", threads=1) for _ in range(2)]
    alone = engines[0].generate(PROMPTS, max_new_tokens=24)
    results = [None, None]
    spans = [None, None]
    inside = threading.Barrier(2)

    def work(i):
        inside.wait()
        start = time.perf_counter()
        results[i] = engines[i].generate(PROMPTS, max_new_tokens=24)
        spans[i] = (start, time.perf_counter())

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [alone, alone]
    # Both calls were in C++ together: each began before the other ended.
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1]
