/** `shardline bench --help`. */
export const BENCH_USAGE = `Usage:
  shardline bench load --url ws://HOST:PORT/PATH --connections N
        [--rate R | --inflight K] [--duration S | --messages M] [--warmup S] [--size BYTES]
        [--connect-rate C] [--local-address A,B,...] [--threads T] [--processes P]
        [--threshold EXPR]... [--json] [--progress-json] [--report FILE.html|FILE.svg]
  shardline bench pubsub --url ws://HOST:PORT/PATH --subscribers S --publishers P --rate R
        [--topics T] [--duration S] [--tail S] [--subscribe-template JSON] [--publish-template JSON]
        [--connect-rate C] [--local-address A,B,...] [--threads T] [--processes P] [--threshold EXPR]... [--json]
  shardline bench drain --server 'CMD' --connections N [--inflight K] [--handler-ms MS]
        [--port N | --ready-regex RE] [--signal SIG] [--host H] [--path P] [--connect-rate C]
        [--threads T] [--processes P] [--exit-timeout S] [--threshold EXPR]... [--json]
  shardline bench capacity --url ws://HOST:PORT/PATH --rate-per-connection R --limit-p99 MS
        [--start N] [--step N] [--max N] [--step-duration S] [--warmup S] [--json]
  shardline bench http-drain --server 'CMD' --connections N [--path /slow] [--handler-ms MS] [--json]

load      N echo connections (opened at C per second, default 5000), then for S seconds (default 10),
          after a warm-up of --warmup S seconds whose replies are not recorded:
          --rate R   open model: R messages per second over all connections on a fixed schedule,
                     whatever the server does; latency runs from each message's intended send time,
                     so a server stall counts for every message due during it (wrk2's correction).
                     Sends more than 10 ms behind schedule are counted as late.
          --inflight K (without --rate; default 1) closed model: K messages in flight per connection,
                     the next sent on each reply. A saturation-throughput figure; its latency hides
                     stalls (coordinated omission).
          Messages are binary, BYTES long (default 32, at least 20): a sequence number and the send
          time in the first 20 bytes. Replies are matched by sequence number; any other frame the
          server sends is counted and ignored.
pubsub    S subscribers and P publishers on T topics (default 1), R publications per second in all for
          S seconds (default 10), deliveries awaited --tail seconds more (default 2). Reports
          publish->receive latency over every delivery, deliveries lost and duplicated, per-subscriber
          gaps. Speaks shardline's protocol v1: {"id":1,"subscribe":"{topic}"} (the reply is awaited
          before publishing) and {"publish":"{topic}","data":{data}}; other servers: give the
          templates ({data} is the JSON marker the subscribers look for anywhere in the frames they
          receive; the first frame after the subscribe command is taken as its acknowledgement).
drain     starts CMD with 'sh -c "exec CMD"' and waits until it is ready: a JSON line
          {"msg":"ready","port":N} on its stdout (the default; shardline prints it), a stdout or stderr
          line matching --ready-regex (its first group, if any, is the port), or --port N accepting
          connections. Opens N connections, keeps K requests in flight on each (default 0: idle),
          sends --signal (default SIGTERM) and measures the drain: signal -> close frames -> exit,
          replies lost, close codes, whether new connections are refused. --handler-ms is exported
          to CMD as SHARDLINE_BENCH_HANDLER_MS.
capacity  open-model load steps: --start connections (default 100), then + --step (default 100) up to
          --max (default 10000), each sending R messages/s per connection for --step-duration S
          (default 5); stops at the first step whose p99 exceeds --limit-p99 MS or that loses
          messages, and reports the largest step that held.
http-drain  autocannon against an HTTP route of CMD that takes MS, the signal after 1 s: counts failed
          in-flight requests.

Source addresses: the kernel gives each (source address, server) pair one ephemeral port range
(/proc/sys/net/ipv4/ip_local_port_range, about 28,000 ports here). --local-address A,B,... spreads the
connections over those addresses (they must be configured on this host). Without it, only for a
loopback target, connections above 15,000 go to child processes that each bind their own 127.0.0.x.
The plan (groups x addresses x connections, ports, descriptors per process) is printed on stderr
before connecting, and a plan the port range or ulimit -n cannot hold is refused (exit 2).
Above 15,000 connections the clients are child processes (one process holds at most ulimit -n
descriptors); --processes P forces P child processes at any N.

Thresholds (repeatable), e.g. --threshold 'p99<=50ms' --threshold 'lost==0' --threshold 'drain<=2s':
  load      p50 p75 p90 p95 p99 p99.9 p99.99 max mean (times: us, ms or s), rps sent received
            unanswered lost late errors connect-failed client-cpu
  pubsub    p50 .. max mean, delivered lost duplicates gaps errors connect-failed
  drain     drain (signal -> exit) first-close last-close (times), lost exit-code still-open connect-failed
  capacity  connections (the largest step that held)
Output: tables on stdout; --json one JSON object instead (with the merged latency histogram encoded
(hdr-histogram-js compressed base64, microseconds), the plan and the environment); --progress-json one
JSON line per second of the measured window on stdout (before the final object with --json);
load --report FILE writes the latency per second and the percentile spectrum as SVG (FILE.svg) or an
HTML page with the summary. The plan, warnings and the progress bar go to stderr.

Exit status: 0 done, 1 the run failed (no connection opened, an error), 2 bad arguments or an
impossible plan, 99 a threshold failed, 130/143 interrupted by SIGINT/SIGTERM: the first signal stops
sending, closes every connection with 1000 and prints the results so far marked partial; a second
signal exits at once.`;
