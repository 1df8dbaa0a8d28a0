-- SPDX-License-Identifier: MIT
-- wrk script for bench/bench.py: prints one machine-readable line at the end, next to
-- wrk's own --latency output:
--   BENCH requests=N duration_us=N rps=X p50_us=N p99_us=N connect=N read=N write=N
--         timeout=N non2xx=N statuses=200:N,502:N|n/a
-- Latencies are in microseconds and cover completed requests only: a request wrk gave
-- up on (--timeout) is in `timeout`, not in p99.
--
-- Replies by status: wrk itself counts replies >= 400 (summary.errors.status), which
-- is what non2xx reports by default. With BENCH_STATUSES=1 the `response` hook counts
-- every status (non2xx = outside 200-299, plus a per-status breakdown), but it makes
-- wrk parse every reply into Lua: measured here, the single wrk thread then loses
-- 15-18% of the nginx-only ceiling, so it is off unless asked for.
--
-- BENCH_PATHS="/api/a /api/b ..." sends those paths round robin instead of the URL's
-- (`bench.py soak` uses it for its mix of calls).

local by_status = os.getenv("BENCH_STATUSES") == "1"
local paths = os.getenv("BENCH_PATHS")
local threads = {}

-- A global: done() reads it out of each thread's Lua state with thread:get().
counts = {}

function setup(thread)
  table.insert(threads, thread)
end

if paths then
  local requests, i = {}, 0
  function init(args)
    for path in paths:gmatch("%S+") do table.insert(requests, wrk.format("GET", path)) end
  end
  function request()
    i = i % #requests + 1
    return requests[i]
  end
end

if by_status then
  function response(status, headers, body)
    counts[status] = (counts[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local non2xx, statuses = e.status, "n/a"
  if by_status then
    local merged, keys, parts = {}, {}, {}
    for _, thread in ipairs(threads) do
      for status, n in pairs(thread:get("counts") or {}) do
        merged[status] = (merged[status] or 0) + n
      end
    end
    for status in pairs(merged) do table.insert(keys, status) end
    table.sort(keys)
    non2xx = 0
    for _, status in ipairs(keys) do
      if status < 200 or status > 299 then non2xx = non2xx + merged[status] end
      table.insert(parts, string.format("%d:%d", status, merged[status]))
    end
    statuses = #parts > 0 and table.concat(parts, ",") or "none"
  end
  io.write(string.format(
    "BENCH requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d connect=%d read=%d write=%d timeout=%d non2xx=%d statuses=%s\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), e.connect, e.read, e.write, e.timeout, non2xx, statuses))
end
