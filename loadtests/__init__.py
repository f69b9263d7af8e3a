"""Load tests: client strategies side by side under real overload.

Locust is imported only by the locustfiles in this package (``loadtests/locust_*.py``), which run
in Locust's own subprocesses. Everything else here (load shapes, strategies, the runner, the
report arithmetic and the charts) is plain Python that the pytest process may import.
"""
