"""reviewq's WSGI application with each request's own CPU time in a response header, which
bench/review_pages.py logs beside gunicorn's wall time: on a shared box the wall time also
counts the wait for a free core, the CPU time does not."""

import time

from reviewq.wsgi import application as reviewq_application

CPU_HEADER = "X-Bench-Cpu-Us"


def application(environ, start_response):
    started = time.thread_time()

    def timed_start_response(status, headers, exc_info=None):
        # Django calls this once the response is rendered: the view, queries and template.
        headers.append((CPU_HEADER, str(int((time.thread_time() - started) * 1_000_000))))
        return start_response(status, headers, exc_info)

    return reviewq_application(environ, timed_start_response)
