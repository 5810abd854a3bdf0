"""Server time of the review queue and review pages on a big database.

    python bench/review_pages.py [--database-url postgres://postgres@127.0.0.1:5432/reviewq_bench]
                                 [--descriptions 100000] [--requests 200] [--clients 8]

Seeds the database up to --descriptions revisions (bench/seed.py --revisions: ~120 tokens
each, so 100k is ~12M tokens; a few minutes, once): earlier revisions archived, live copies,
drafts in review, most of them beside a live copy. Then starts gunicorn on it and requests
the queue (first page, band and catalog filters, a deep keyset page, a reason search), review
pages of random drafts in review (with their diff against the live copy where there is one)
and the History tab of products with earlier revisions, logged in as a reviewer: first one
client at a time, then --clients at once. Server time is gunicorn's own per-request time
(access log %(D)s, from reading the request to writing the response); beside it the worker's
CPU time per request (bench/timed_wsgi.py), which a busy shared box does not inflate, and the
client's round trip.
Goal: p95 <= 50 ms single client, <= 100 ms with 8 concurrent clients.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/reviewq_bench"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def setup(args) -> tuple[str, dict[str, list[str]]]:
    """Migrate, seed, make a reviewer session; returns the cookie and the urls of each page kind."""
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.auth.models import Group
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.db import connection
    from seed import seed_descriptions

    from reviewq.core.models import Catalog, Description, Product
    from reviewq.core.roles import REVIEWER, roles_ensure
    from reviewq.review.queue import QueueFilters, queue_page

    call_command("migrate", verbosity=0)
    roles_ensure()
    have = Description.objects.count()
    if have < args.descriptions:
        print(f"seeding {args.descriptions - have} descriptions (have {have}) ...", flush=True)
        result = seed_descriptions(
            descriptions=args.descriptions - have, review_share=0.8, revisions=True, progress=True
        )
        print(f"seeded {result.tokens} tokens in {result.seconds:.0f} s", flush=True)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
    user, _ = get_user_model().objects.get_or_create(username="bench-reviewer")
    user.groups.add(Group.objects.get(name=REVIEWER))
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    cookie = f"{settings.SESSION_COOKIE_NAME}={session.session_key}"

    in_review = list(Description.objects.filter(status="review").values_list("id", flat=True)[:200_000])
    rng = random.Random(7)
    review_urls = [f"/review/{pk}/" for pk in rng.sample(in_review, min(len(in_review), 2000))]
    with_history = list(
        Description.objects.filter(status="review", product__descriptions__status="archived")
        .values_list("id", flat=True)
        .distinct()[:200_000]
    )
    history_urls = [f"/review/{pk}/?tab=history" for pk in rng.sample(with_history, min(len(with_history), 2000))]
    catalog = Catalog.objects.order_by("id").values_list("id", flat=True).first()
    deep = {}
    for sort in ("risk", "age"):
        after = None
        for _ in range(20):  # a cursor 20 pages deep
            page = queue_page(user=user, filters=QueueFilters(sort=sort), after=after)
            after = page.next_cursor
        deep[sort] = f"&after={quote(str(after))}" if after else ""
    sku = Description.objects.filter(status="review").values_list("product__sku", flat=True).first() or "x"
    queue_urls = [
        "/queue/",
        "/queue/?band=flag",
        "/queue/?band=review",
        f"/queue/?catalog={catalog}",
        f"/queue/?sort=risk{deep['risk']}",
        "/queue/?sort=age",
        f"/queue/?sort=age{deep['age']}",
        "/queue/?sort=catalog",
        f"/queue/?q={quote(sku)}",
    ]
    # Filters that read every pending sentence (no column/index serves them yet): reported apart.
    slow_urls = ["/queue/?band=publish", "/queue/?reason=lowest", "/queue/?fragment=counts"]
    live = Description.objects.filter(status="published", product__descriptions__status="review").count()
    print(
        f"{Description.objects.count()} descriptions (revisions) of {Product.objects.count()} products: "
        f"{len(in_review)} drafts in review, {live} of them beside a live copy, {len(with_history)} with "
        f"earlier revisions; {Description.objects.filter(status='archived').count()} archived",
        flush=True,
    )
    if not with_history:
        raise SystemExit("no archived revisions: seeded before bench/seed.py had revisions; use a fresh database")
    return cookie, {"queue": queue_urls, "slow": slow_urls, "review": review_urls, "history": history_urls}


def start_server(args, log_path: str) -> subprocess.Popen:
    gunicorn = Path(sys.executable).parent / "gunicorn"
    command = [
        str(gunicorn),
        "bench.timed_wsgi:application",
        "--bind",
        f"127.0.0.1:{args.port}",
        "--workers",
        str(args.workers),
        "--access-logfile",
        log_path,
        "--access-logformat",
        "%(U)s %(s)s %(D)s %({x-bench-cpu-us}o)s",
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=os.environ.copy())
    for _ in range(100):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", args.port, timeout=1)
            connection.request("GET", "/login/")
            connection.getresponse().read()
            return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not start")


def fetch(port: int, url: str, cookie: str) -> float:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Cookie": cookie, "Host": "127.0.0.1"}
    if "fragment=" in url:
        headers["HX-Request"] = "true"
    connection.request("GET", url, headers=headers)
    response = connection.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise SystemExit(f"GET {url} -> {response.status}: {body[:300]!r}")
    connection.close()
    return elapsed


def run(port: int, urls: list[str], cookie: str, clients: int, requests: int) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()
    work = [urls[i % len(urls)] for i in range(requests)]

    def worker(share: list[str]):
        mine = [fetch(port, url, cookie) for url in share]
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(work[i::clients],)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def server_times(log_path: str, offset: int) -> tuple[list[float], list[float], int]:
    """Server wall and CPU milliseconds of the 200 responses logged after `offset`, and the new offset."""
    times: list[float] = []
    cpu: list[float] = []
    with open(log_path) as log:
        log.seek(offset)
        for line in log:
            _path, status, micros, cpu_micros = line.split()
            if status == "200":
                times.append(int(micros) / 1000)
                cpu.append(int(cpu_micros) / 1000)
        return times, cpu, log.tell()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--descriptions", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="per page kind and run")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = args.database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "reviewq.settings"
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("REVIEWQ_DATA_DIR", tempfile.mkdtemp(prefix="reviewq-bench-"))
    try:
        import psycopg

        psycopg.connect(args.database_url.replace("postgres://", "postgresql://"), connect_timeout=3).close()
    except Exception as exc:
        print(f"bench/review_pages.py needs Postgres at {args.database_url} ({exc.__class__.__name__}); skipped.")
        return 0

    cookie, urls = setup(args)
    review_urls = urls["review"]
    log_path = tempfile.mktemp(prefix="reviewq-bench-access-", suffix=".log")
    process = start_server(args, log_path)
    try:
        run(args.port, urls["queue"] + review_urls[-20:], cookie, 2, 60)  # warm up every worker
        time.sleep(0.5)
        _, _, offset = server_times(log_path, 0)
        load_before = os.getloadavg()[0]
        rows = []
        for clients in (1, args.clients):
            split = 1 if clients == 1 else 2  # each run its own descriptions, never a warm cache
            pages = (
                ("queue", urls["queue"]),
                ("review", review_urls[(split - 1) * 1000 : split * 1000]),
                ("review, History tab", urls["history"][(split - 1) * 1000 : split * 1000]),
                ("queue, slow filters", urls["slow"]),
            )
            for kind, kind_urls in pages:
                requests = args.requests if kind != "queue, slow filters" else max(args.clients * 3, args.requests // 4)
                client = run(args.port, kind_urls, cookie, clients, requests)
                time.sleep(0.5)  # let gunicorn flush its access log
                server, cpu, offset = server_times(log_path, offset)
                rows.append((kind, clients, server, cpu, client))
        print()
        print(
            f"{'page':<22}{'clients':>8}{'n':>6}{'server p50':>12}{'server p95':>12}{'cpu p50':>10}{'cpu p95':>10}"
            f"{'client p50':>12}{'client p95':>12}"
        )
        for kind, clients, server_ms, cpu_ms, client_ms in rows:
            print(
                f"{kind:<22}{clients:>8}{len(server_ms):>6}{statistics.median(server_ms):>10.1f}ms"
                f"{percentile(server_ms, 0.95):>10.1f}ms{statistics.median(cpu_ms):>8.1f}ms{percentile(cpu_ms, 0.95):>8.1f}ms"
                f"{statistics.median(client_ms):>10.1f}ms{percentile(client_ms, 0.95):>10.1f}ms"
            )
        cores = os.cpu_count() or 1
        print(
            f"\nload average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {cores} cores (above {cores},"
            "\nrequests also wait for a core); cpu: the worker's own CPU time per request (view, the"
            "\nclient side of its queries, template), without that wait and without Postgres's time."
        )
        print(
            "\nqueue: first page, band=flag, band=review, one catalog, a page 20 deep (keyset cursor);"
            "\nslow filters: band=publish, reason search, the band-counts fragment (cached 30 s per worker"
            "\nin production; the bench's requests hit the cache after each worker's first)."
        )
    finally:
        process.terminate()
        process.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
