"""Fixtures shared by several test modules."""
import pytest


@pytest.fixture
def one_blas_thread():
    """Small matrix products run far slower on two BLAS threads of a busy machine; use one."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
