-- wrk as a second process against `onshi central`: card confirmations, each request a
-- pre-signed assertion sent once (a nonce is single use). Method: docs/performance.md.
--
--   token=$(onshi bench --sign-for http://127.0.0.1:8080 --central-db <registry> \
--       --persons <N> --signed-requests 150000 --out data/bench/wrk-requests.txt)
--   ONSHI_TOKEN=$token wrk -t2 -c64 -d10s --latency -s scripts/wrk-confirm.lua \
--       http://127.0.0.1:8080 -- data/bench/wrk-requests.txt 2
--
-- Arguments after `--`: the file of signed requests and the number of wrk threads (-t).
-- Thread k sends lines k, k+T, k+2T, … once each; when its share is used up it says so and
-- sends GET /healthz, which `done` subtracts. Answers other than 200, and 200 answers that
-- carry an error (a refused confirmation), are counted apart.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

-- per-thread globals (done() reads them with thread:get)
bodies = {}
next_body = 1
used_up = 0
errors = 0
refused = 0

function init(args)
  local file, nthreads = args[1], tonumber(args[2] or "1")
  local n = 0
  for line in io.lines(file) do
    if n % nthreads == id then
      bodies[#bodies + 1] = line
    end
    n = n + 1
  end
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("ONSHI_TOKEN")
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local b = bodies[next_body]
  if b == nil then
    used_up = used_up + 1
    return wrk.format("GET", "/healthz", {}, nil)
  end
  next_body = next_body + 1
  return wrk.format("POST", "/v1/confirmations/card", nil, b)
end

function response(status, headers, body)
  if status ~= 200 then
    errors = errors + 1
  elseif string.find(body, '"error":{', 1, true) then
    refused = refused + 1
  end
end

function done(summary, latency, requests)
  local e, r, u, sent = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    e = e + t:get("errors")
    r = r + t:get("refused")
    u = u + t:get("used_up")
    sent = sent + t:get("next_body") - 1
  end
  local secs = summary.duration / 1e6
  local ok = sent - e - r
  io.write(string.format(
    "confirmations: %d sent, %d answered 200 without an error (%.0f/s), %d non-200, %d refused; " ..
    "p50 %.2f ms, p99 %.2f ms (wrk's latency covers every request sent)\n",
    sent, ok, ok / secs, e, r, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3))
  if u > 0 then
    io.write(string.format(
      "the signed requests ran out: %d /healthz requests sent instead (sign more)\n", u))
  end
end
