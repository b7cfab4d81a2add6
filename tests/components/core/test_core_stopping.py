"""The stop request a component's signal handler sets: no lock, so no deadlock with a main
thread that is waiting on it when the signal lands."""

import os
import random
import signal
import threading
import time

from components.core.stopping import Stop


def test_a_signal_wakes_the_main_thread_waiting_on_it():
    stop = Stop()
    previous = signal.getsignal(signal.SIGUSR1)
    try:
        stop.on_signals(signal.SIGUSR1)
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGUSR1)).start()
        t0 = time.monotonic()
        assert stop.wait(30.0) is True  # the handler ran while this thread was in wait()
        assert time.monotonic() - t0 < 25.0 and stop.is_set()
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_every_waiter_wakes_and_later_waits_return_at_once():
    stop = Stop()
    woke: list[bool] = []
    threads = [threading.Thread(target=lambda: woke.append(stop.wait(30.0))) for _ in range(4)]
    for t in threads:
        t.start()
    stop.set()
    stop.set()  # setting twice is harmless
    for t in threads:
        t.join(30.0)
    assert woke == [True] * 4
    assert stop.wait(0) is True and stop.wait() is True


def test_an_unset_stop_waits_out_its_timeout():
    stop = Stop()
    assert stop.wait(0.05) is False and not stop.is_set()


def test_signals_landing_at_arbitrary_moments_of_a_wait_loop_always_stop_it():
    # The component pattern: wait in short steps until stopped. Each round's signal lands
    # somewhere in the loop, often inside wait(): with threading.Event one of these rounds
    # could deadlock in the handler.
    previous = signal.getsignal(signal.SIGUSR1)
    rng = random.Random(5)
    try:
        for _ in range(200):
            stop = Stop().on_signals(signal.SIGUSR1)
            timer = threading.Timer(rng.uniform(0.0, 0.003), os.kill, (os.getpid(), signal.SIGUSR1))
            timer.start()
            while not stop.is_set():
                stop.wait(0.0005)
            timer.join(30.0)
            assert stop.is_set() and stop.wait(0) is True
    finally:
        signal.signal(signal.SIGUSR1, previous)
