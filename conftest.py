"""Test-wide JAX settings. Lives at the repository root so it runs before anything imports jax.

    .venv/bin/python -m pytest -q jaxacts tests                           # CPU, 4 forced host devices
    JAX_PLATFORMS=cuda .venv/bin/python -m pytest -q jaxacts tests        # on a GPU (needs jax[cuda])
    XLA_FLAGS=--xla_force_host_platform_device_count=1 .venv/bin/python -m pytest -q tests   # one CPU device

Every setting below is a default that the environment overrides: ``JAX_PLATFORMS`` picks the backend
(cpu unless set), ``XLA_FLAGS`` the number of forced CPU devices (4 unless set; ignored by GPU/TPU
backends), ``JAX_DEFAULT_MATMUL_PRECISION`` the matmul precision (``highest`` unless set, so float32
matmuls are true float32 on GPUs and TPUs too, where the backend default rounds to TF32/bfloat16 and
tolerances written for float32 would fail). Tests that need several devices carry
``@pytest.mark.requires_devices(n)`` and are skipped, with the reason, where fewer are present.
"""

import atexit
import os
import shutil
import tempfile

import pytest

# One folder for the whole session, made by its first process (pytest, or pytest-xdist's controller); the
# workers inherit the variable.
if "JAXACTS_TEST_SESSION" not in os.environ:
    os.environ["JAXACTS_TEST_SESSION"] = tempfile.mkdtemp(prefix="jaxacts-test-session-")
    atexit.register(shutil.rmtree, os.environ["JAXACTS_TEST_SESSION"], ignore_errors=True)

# Four CPU devices so sharding is tested on a machine with one CPU; must precede importing jax.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_DEFAULT_MATMUL_PRECISION", "highest")
# Commands' caches (the depth study's --cache-dir default) go to a folder of this test session, not the user's.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="jaxacts-test-cache-")
atexit.register(shutil.rmtree, os.environ["XDG_CACHE_HOME"], ignore_errors=True)

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")


def pytest_configure(config):
    config.addinivalue_line("markers", "requires_devices(n): skipped unless jax.device_count() >= n")
    # Commands that tests start as subprocesses (python -m experiments.train, the claims, several processes
    # joined by jax.distributed) spend most of their time compiling at test sizes. They get two settings that
    # the test processes do not take (theirs compile the code as users do): XLA's backend optimizations off
    # (as the claims' --quick runs have them: the same HLO, compiled 1.6x as fast and run slower), and one
    # persistent compilation cache for the session, where a resumed or repeated run, or a second process, finds
    # every program compiled before (not only those over JAX's 1 s threshold; process 0 writes them). The depth
    # study keeps its own cache, in --cache-dir. What a test compares (a resumed run against an uninterrupted
    # one, 2 processes against 1) runs under the same settings on both sides.
    # Not in pytest-xdist's controller: it runs no test, its workers would inherit the settings, and starting
    # its backend would hold a GPU's memory.
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        return
    jax.devices()  # this process's backend starts with its own XLA_FLAGS; later changes reach subprocesses only
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(os.environ["JAXACTS_TEST_SESSION"], "xla"))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    if "xla_backend_optimization_level" not in os.environ["XLA_FLAGS"]:
        os.environ["XLA_FLAGS"] = f"{os.environ['XLA_FLAGS']} --xla_backend_optimization_level=0"


@pytest.fixture(autouse=True)
def _persistent_cache_threshold():
    # The depth study run in-process (its main) caches every program it compiles; later tests compile as before.
    least = jax.config.jax_persistent_cache_min_compile_time_secs
    yield
    jax.config.update("jax_persistent_cache_min_compile_time_secs", least)


def pytest_runtest_setup(item):
    for mark in item.iter_markers("requires_devices"):
        needed, present = mark.args[0], jax.device_count()
        if present < needed:
            pytest.skip(f"needs {needed} devices, {jax.default_backend()} has {present}; on CPU run with "
                        f"XLA_FLAGS=--xla_force_host_platform_device_count={max(needed, 4)}")
