#!/usr/bin/env python3
# Hostile HTTP clients for web_limits.sh: idle and slow-header connections
# from many loopback addresses while a normal scrape is timed, a per-address
# flood, the header deadline, raw requests (bad Content-Length), slow
# request bodies, and wrong-password clients against basic auth.
import base64
import resource
import socket
import sys
import threading
import time


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, n))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def scrape(port, timeout=5.0, auth=None, src=None):
    """One GET /metrics on a new connection: (status, seconds, bytes)."""
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(src, 0) if src else None)
    hdr = b""
    if auth:
        hdr = b"Authorization: Basic " + base64.b64encode(auth.encode()) + b"\r\n"
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: a\r\n" + hdr +
              b"Connection: close\r\n\r\n")
    data = b""
    while True:
        c = s.recv(1 << 16)
        if not c:
            break
        data += c
    s.close()
    dt = time.monotonic() - t0
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
    return status, dt, len(data)


def connect_from(ip, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((ip, 0))
    s.setblocking(False)
    s.connect_ex(("127.0.0.1", port))
    return s


def is_open(s):
    """False once the server closed it (EOF or reset)."""
    try:
        d = s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        return d != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def server_held(port):
    """Established connections whose local end is the server's port (from
    /proc/net/tcp: a client's view also counts connections still queued in
    the kernel, which the server has not taken)."""
    n = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, st = fields[1], fields[3]
            if st == "01" and int(local.split(":")[1], 16) == port:
                n += 1
    return n


def flood(port, n_idle, n_slow, n_ips, bound_s):
    raise_nofile(n_idle + n_slow + 256)
    ips = ["127.0.%d.%d" % (1 + i // 250, 2 + i % 250) for i in range(n_ips)]
    idle, slow = [], []
    for i in range(n_idle):
        idle.append(connect_from(ips[i % n_ips], port))
    for i in range(n_slow):
        slow.append(connect_from(ips[(n_idle + i) % n_ips], port))
    time.sleep(0.3)  # connected
    for s in slow:
        try:
            s.send(b"GET /metrics HTTP/1.1\r\nHost: a\r\n")
        except OSError:
            pass
    held_start = server_held(port)
    lat, bad = [], 0
    t_end = time.monotonic() + 3.0
    while time.monotonic() < t_end:
        for s in slow:  # one more header byte: idle timers never fire
            try:
                s.send(b"X")
            except OSError:
                pass
        try:
            st, dt, _ = scrape(port)
        except OSError as e:
            st, dt = 0, 99.0
            print("scrape error: %s" % e)
        if st != 200:
            bad += 1
        lat.append(dt)
        time.sleep(0.1)
    held = server_held(port)
    for s in idle + slow:
        s.close()
    lat.sort()
    print("flood: %d idle + %d slow-header connections from %d addresses; the "
          "server held %d at the start and %d at the end"
          % (n_idle, n_slow, n_ips, held_start, held))
    print("scrape latency under flood: n=%d min=%.1f ms median=%.1f ms max=%.1f ms "
          "(issue target 100 ms), failed=%d"
          % (len(lat), lat[0] * 1e3, lat[len(lat) // 2] * 1e3, lat[-1] * 1e3, bad))
    if bad or lat[-1] > bound_s:
        print("FAIL: a scrape failed or took over %.1f s" % bound_s)
        return 1
    return 0


def per_ip(port, n, limit):
    raise_nofile(n + 64)
    conns = [connect_from("127.0.0.2", port) for _ in range(n)]
    # until the server has taken (and closed) what is over the limit; a
    # loaded machine may take a while
    t_end = time.monotonic() + 10
    while True:
        time.sleep(0.5)
        held = sum(1 for s in conns if is_open(s))
        if held <= limit or time.monotonic() > t_end:
            break
    for s in conns:
        s.close()
    print("per-address: %d connections from 127.0.0.2, %d held (limit %d)"
          % (n, held, limit))
    return 0 if held <= limit and held > 0 else 1


def deadline(port, expect_s):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: a\r\n")
    t0 = time.monotonic()
    s.settimeout(0.3)
    while time.monotonic() - t0 < expect_s * 4 + 5:
        try:
            s.send(b"X")
            if s.recv(1) == b"":
                break
        except socket.timeout:
            continue
        except OSError:
            break
    dt = time.monotonic() - t0
    print("slow-header connection closed after %.2f s (header_timeout %.1f s)"
          % (dt, expect_s))
    return 0 if expect_s * 0.8 <= dt <= expect_s * 4 + 2 else 1


def timed_scrapes(port, seconds, every, auth=None, tick=None):
    """Scrape for seconds; tick() runs before each. (latencies, failed)."""
    lat, bad = [], 0
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        if tick:
            tick()
        try:
            st, dt, _ = scrape(port, auth=auth)
        except OSError as e:
            st, dt = 0, 99.0
            print("scrape error: %s" % e)
        if st != 200:
            if bad < 3:
                print("scrape answered %d" % st)
            bad += 1
        lat.append(dt)
        time.sleep(every)
    lat.sort()
    return lat, bad


def slow_body(port, n, n_ips, bound_s):
    """n connections from n_ips addresses send a request with a 100 MB
    Content-Length, then trickle its body a byte at a time: they must hold
    nothing (refused at once), and scrapes go on answering."""
    raise_nofile(n + 256)
    ips = ["127.0.0.%d" % (2 + i) for i in range(n_ips)]
    conns = [connect_from(ips[i % n_ips], port) for i in range(n)]
    time.sleep(0.3)  # connected
    for s in conns:
        try:
            s.send(b"POST /x HTTP/1.1\r\nHost: a\r\n"
                   b"Content-Length: 100000000\r\n\r\nA")
        except OSError:
            pass
    last = [time.monotonic()]

    def trickle():  # one more body byte a second
        if time.monotonic() - last[0] >= 1.0:
            last[0] = time.monotonic()
            for s in conns:
                try:
                    s.send(b"A")
                except OSError:
                    pass
    lat, bad = timed_scrapes(port, 3.0, 0.1, tick=trickle)
    refused = 0
    for s in conns:
        try:
            refused += s.recv(64, socket.MSG_DONTWAIT).startswith(b"HTTP/1.1 405")
        except OSError:
            pass
    held = server_held(port)
    for s in conns:
        s.close()
    print("slow bodies: %d connections from %d addresses, %d answered 405, the "
          "server held %d at the end" % (n, n_ips, refused, held))
    print("scrape latency under slow bodies: n=%d min=%.1f ms median=%.1f ms "
          "max=%.1f ms, failed=%d"
          % (len(lat), lat[0] * 1e3, lat[len(lat) // 2] * 1e3, lat[-1] * 1e3, bad))
    if bad or lat[-1] > bound_s or held > 16:
        print("FAIL: a scrape failed or took over %.1f s, or the slow bodies "
              "were held" % bound_s)
        return 1
    return 0


def auth_flood(port, n, good, wrong, bound_s):
    """n clients (one address each) send wrong passwords as fast as they
    are answered while a client with the right ones scrapes."""
    stop = threading.Event()
    codes = {}
    lock = threading.Lock()

    def attacker(ip):
        while not stop.is_set():
            try:
                st, _, _ = scrape(port, auth=wrong, src=ip)
            except OSError:
                st = 0
            with lock:
                codes[st] = codes.get(st, 0) + 1
    # the scraper's credentials passed before (as a running Prometheus's
    # have): its checks are cached, the attack's stall is what is measured
    st, _, _ = scrape(port, auth=good)
    if st != 200:
        print("FAIL: the right password got %d" % st)
        return 1
    ts = [threading.Thread(target=attacker, args=("127.0.0.%d" % (2 + i),))
          for i in range(n)]
    for t in ts:
        t.start()
    time.sleep(0.5)  # the attack is on
    lat, bad = timed_scrapes(port, 3.0, 0.1, auth=good)
    stop.set()
    for t in ts:
        t.join()
    print("wrong passwords: %d clients, answers %s" %
          (n, " ".join("%d: %d" % kv for kv in sorted(codes.items()))))
    print("scrape latency with the right password meanwhile: n=%d min=%.1f ms "
          "median=%.1f ms max=%.1f ms, failed=%d"
          % (len(lat), lat[0] * 1e3, lat[len(lat) // 2] * 1e3, lat[-1] * 1e3, bad))
    # the median too: unlimited, every scrape waited (median 0.77 s), while
    # a slow build (sanitizers) may stretch the one bcrypt a scrape meets
    if bad or lat[-1] > bound_s or lat[len(lat) // 2] > 0.1 or not codes.get(429):
        print("FAIL: a scrape failed or took over %.1f s, the median over "
              "100 ms, or nothing was rate limited" % bound_s)
        return 1
    return 0


def raw(port, request):
    """Send request bytes as they are; print what comes back (repr)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(request.encode().decode("unicode_escape").encode("latin-1"))
    data = b""
    try:
        while True:
            c = s.recv(1 << 16)
            if not c:
                break
            data += c
    except OSError:
        pass
    sys.stdout.write(data.decode("latin-1"))
    return 0


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    a = sys.argv[3:]
    if mode == "flood":
        return flood(port, int(a[0]), int(a[1]), int(a[2]), float(a[3]))
    if mode == "perip":
        return per_ip(port, int(a[0]), int(a[1]))
    if mode == "deadline":
        return deadline(port, float(a[0]))
    if mode == "raw":
        return raw(port, a[0])
    if mode == "body":
        return slow_body(port, int(a[0]), int(a[1]), float(a[2]))
    if mode == "auth":
        return auth_flood(port, int(a[0]), a[1], a[2], float(a[3]))
    if mode == "scrape":
        st, dt, n = scrape(port, auth=a[0] if a else None)
        print("status %d, %.1f ms, %d bytes" % (st, dt * 1e3, n))
        return 0 if st == 200 else 1
    return 2


sys.exit(main())
