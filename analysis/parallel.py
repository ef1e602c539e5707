"""Threads over independent work items: scipy's sparse kernels, the assignment solver, BLAS and numpy's array
kernels release the GIL, so threads use every core without copying tickets into other processes. While they
run, BLAS is held to one thread each, so that the cores are not oversubscribed."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import TypeVar

from threadpoolctl import ThreadpoolController

T = TypeVar("T")
R = TypeVar("R")


def available_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def thread_map(function: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """[function(item) for item in items], computed on one thread per available CPU."""
    with one_blas_thread(), ThreadPoolExecutor(available_cpus()) as pool:
        return list(pool.map(function, items))


@cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()  # finds the loaded BLAS libraries once (5–20 ms each time otherwise)


def one_blas_thread():
    """A context holding BLAS to one thread: for many small products, where more threads only contend."""
    return _controller().limit(limits=1, user_api="blas")
