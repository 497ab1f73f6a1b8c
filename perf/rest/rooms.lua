-- wrk script for GET /api/rooms (perf/rest/bench_rooms.sh).
--
--   BENCH_TOKENS=FILE [BENCH_PATH=/api/rooms] wrk -s perf/rest/rooms.lua ... URL
--
-- FILE holds one access token per line. Every request carries
-- `Authorization: Bearer <token>`, cycling through all tokens so that the load spreads
-- over many users (no single hot cache key); thread k starts at a different offset.
-- The requests are formatted once in init(), so wrk's Lua costs little per request.
-- done() prints one JSON line prefixed with "WRK_JSON " (latencies in microseconds).

local threads = {}
local counter = 0

function setup(thread)
    counter = counter + 1
    thread:set("thread_no", counter)
    table.insert(threads, thread)
end

local reqs = {}
local n = 0
local i = 0

function init(args)
    local file = os.getenv("BENCH_TOKENS")
    local path = os.getenv("BENCH_PATH") or "/api/rooms"
    assert(file, "BENCH_TOKENS is not set")
    for tok in io.lines(file) do
        if #tok > 0 then
            n = n + 1
            reqs[n] = wrk.format("GET", path, { ["Authorization"] = "Bearer " .. tok })
        end
    end
    assert(n > 0, "no tokens in " .. file)
    -- thread_no is set by setup() before init() runs in the thread.
    i = ((thread_no or 1) - 1) * 7919 % n
end

function request()
    i = i % n + 1
    return reqs[i]
end

function done(summary, latency, requests)
    local e = summary.errors
    local secs = summary.duration / 1e6
    io.write(string.format(
        'WRK_JSON {"requests":%d,"duration_s":%.3f,"bytes":%d,"rps":%.1f,' ..
        '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
        '"latency_us":{"mean":%.1f,"stdev":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}}\n',
        summary.requests, secs, summary.bytes, summary.requests / secs,
        e.connect, e.read, e.write, e.status, e.timeout,
        latency.mean, latency.stdev, latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency:percentile(99.9), latency.max))
end
