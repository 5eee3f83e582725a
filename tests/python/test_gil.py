"""The GIL is released while C++ runs: a Python thread goes on meanwhile; and two engines driven
from two threads at once each generate as alone."""

import threading
import time

import alisa
from conftest import DEMO_MODEL

PROMPTS = ["def fibonacci(n):", "class Stack:", "import numpy as np"]


def test_a_python_thread_runs_while_generate_does():
    engine = alisa.Engine(DEMO_MODEL, device="cpu", threads=1)
    stamps = []  # when the Python thread ran, at most one stamp a millisecond
    stop = threading.Event()

    def ticker():
        last = 0.0
        while not stop.is_set():
            now = time.perf_counter()
            if now - last > 0.001:
                stamps.append(now)
                last = now

    thread = threading.Thread(target=ticker)
    thread.start()
    try:
        time.sleep(0.05)  # the ticker is running
        start = time.perf_counter()
        engine.generate(PROMPTS, max_new_tokens=96, stop_at_eos=False)
        end = time.perf_counter()
    finally:
        stop.set()
        thread.join()
    # Holding the GIL, generate would leave the ticker no turn inside the call (it could run
    # just before and after); released, it ticks all through it.
    seconds = end - start
    assert seconds > 0.05
    middle = [t for t in stamps if start + 0.1 * seconds < t < end - 0.1 * seconds]
    # (Held, there would be none; on a loaded machine the ticker may get few cores' time.)
    assert len(middle) >= 5, f"{len(middle)} ticks in the middle {0.8 * seconds:.3f} s of generate"


def test_two_engines_generate_from_two_threads():
    engines = [alisa.Engine(DEMO_MODEL, device="cpu", threads=1) for _ in range(2)]
    alone = engines[0].generate(PROMPTS, max_new_tokens=24)
    results = [None, None]
    inside = threading.Barrier(2)

    def work(i):
        inside.wait()
        results[i] = engines[i].generate(PROMPTS, max_new_tokens=24)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Timestamps taken in Python cannot show the two calls overlapping: a thread that returns
    # from C++ may wait for the GIL while the other runs (the ticker above is the GIL's test).
    # This one checks that engines driven from two threads at once each compute as alone.
    assert results == [alone, alone]
